"""The vectorised and scalar versions of every graph operation agree bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jonbu_core.enrich.ops import OPS, scalar_fn

CONSTS: dict[str, tuple[float, ...]] = {
    "chop": (14.0,), "div_or": (0.0, 100.0), "r2": (20.0, 665.0), "lin01": (-0.5, 2.0),
    "clipk": (50.0, 0.05), "breakout": (1.5,), "breakdown": (1.5,), "regime": (25.0, 50.0, 90.0),
    "tdir": (0.25,), "eq": (2.0,),
}


def _inputs(op: str, k: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    def arr() -> np.ndarray:
        a = rng.normal(0, 2, n)
        a[rng.random(n) < 0.1] = 0.0
        a[rng.random(n) < 0.05] = np.nan
        a[rng.random(n) < 0.05] = -1.0
        return a

    ins = [np.abs(arr()) if op in ("chop", "r2", "ratio") else arr() for _ in range(k)]
    if op == "mm01":
        ins[1], ins[2] = np.minimum(ins[0], ins[1]), np.maximum(ins[0], ins[2])
        ins[2][::7] = ins[1][::7]
    if op == "regime":
        ins[0], ins[3], ins[4] = rng.uniform(0, 60, n), rng.uniform(20, 80, n), rng.uniform(0, 100, n)
    if op == "tdir":
        ins[1] = rng.uniform(0, 1, n)
    if op == "eq":
        ins[0] = rng.integers(0, 5, n).astype(float)
    if op in ("breakout", "breakdown"):
        ins[4] = np.abs(ins[4]) + 1
    return ins


@pytest.mark.parametrize("op", sorted(OPS))
def test_vector_and_scalar_agree(op: str) -> None:
    rng = np.random.default_rng(abs(hash(op)) % 2**32)
    k = OPS[op].arity or 4
    ins = _inputs(op, k, 4000, rng)
    const = CONSTS.get(op, ())
    vec = OPS[op].vector(*ins, *const)
    fn = scalar_fn(op, k, const)
    for i in range(len(vec)):
        s = fn(*(float(x[i]) for x in ins))
        if op == "chop":  # NumPy's and libm's log10 may differ in the last bit
            assert (math.isnan(s) and math.isnan(vec[i])) or s == pytest.approx(vec[i], rel=1e-15)
        else:
            assert (math.isnan(s) and math.isnan(vec[i])) or s == vec[i], (op, i, s, vec[i])
