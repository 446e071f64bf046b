"""The C program of the incremental path (``_tastep.c`` via :mod:`jonbu_core.enrich.native`).

Each element-wise operation must give exactly what its Python expression
(:func:`jonbu_core.enrich.ops.render`) gives, and each native TA-Lib handle exactly
what ``talib.stream``'s handle over the same history gives.
"""

from __future__ import annotations

import ctypes
import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from talib import stream

from jonbu_core.enrich import native
from jonbu_core.enrich.incremental import IncrementalEnricher
from jonbu_core.enrich.ops import EXPR_GLOBALS, OPS, render

from ._data import gbm

pytestmark = pytest.mark.skipif(not native.available(), reason="the C helper _tastep is not built")

ARITY = {"nansum0": 6}
CONSTS = {
    "chop": [(14.0,)], "div_or": [(0.0, 1.0), (1.0, 100.0)], "r2": [(20.0, 665.0)],
    "lin01": [(0.0, 100.0), (-100.0, 100.0), (-0.5, 2.0)], "clipk": [(50.0, 0.025), (0.0, 2.0)],
    "breakout": [(1.5,)], "breakdown": [(1.5,)], "regime": [(25.0, 50.0, 90.0)], "tdir": [(0.25,)],
    "eq": [(1.0,), (4.0,)],
}
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.0, 50.0, 100.0, 1e-300, math.nan, math.inf, -math.inf]


class _OneOp:
    """A one-instruction program: ``op(args) -> float``."""

    def __init__(self, name: str, k: int, const: tuple[float, ...]) -> None:
        self.k = k
        self.buf = (ctypes.c_double * (k + 1))()
        self.prog = native.Program([native.Instr(tuple(range(k)), (k,), op=name, const=const)], self.buf,
                                   (ctypes.c_double * 1)(), True)

    def __call__(self, args: list[float]) -> float:
        self.buf[0:self.k] = args
        self.prog()
        return float(self.buf[self.k])


def _python(name: str, k: int, const: tuple[float, ...]) -> Callable[[list[float]], float | None]:
    """The operation's Python expression as a function (None where Python raises)."""
    names = [f"a{i}" for i in range(k)]
    fn = eval(f"lambda {', '.join(names)}: {render(name, names, const)}", dict(EXPR_GLOBALS))

    def call(args: list[float]) -> float | None:
        try:
            return float(fn(*args))
        except (ZeroDivisionError, ValueError, OverflowError):  # where C gives inf/NaN instead
            return None
    return call


def test_every_operation_has_a_native_implementation() -> None:
    assert set(native.OP_NAMES) == set(OPS)


@pytest.mark.parametrize("name", native.OP_NAMES)
def test_operation_equals_its_python_expression_bit_for_bit(name: str) -> None:
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    arity = ARITY.get(name) or OPS[name].arity
    assert arity is not None
    cases: list[list[float]] = [list(c) for c in itertools.islice(
        itertools.product(SPECIAL, repeat=arity), 4000)]
    cases += [rng.choice(SPECIAL, arity).tolist() for _ in range(2000)]
    cases += [rng.normal(0, 50, arity).tolist() for _ in range(3000)]
    cases += [rng.uniform(0, 3, arity).tolist() for _ in range(3000)]
    checked = 0
    for const in CONSTS.get(name, [()]):
        run, python = _OneOp(name, arity, const), _python(name, arity, const)
        for args in cases:
            want = python(args)
            if want is None:
                continue
            got = run(args)
            assert (got == want and math.copysign(1, got) == math.copysign(1, want)) or (
                math.isnan(got) and math.isnan(want)), (name, args, const, got, want)
            checked += 1
    assert checked > 5000


def _history(n: int = 600) -> dict[str, np.ndarray]:
    t = gbm(n, seed=11)
    return {k: t.column(k).to_numpy() for k in ("open", "high", "low", "close", "volume")}


@pytest.mark.parametrize(("func", "inputs", "params", "n_out"), [
    ("SMA", ("close",), (20,), 1),
    ("MACD", ("close",), (12, 26, 9), 3),
    ("BBANDS", ("close",), (20, 2.0, 2.0, 0), 3),
    ("STOCH", ("high", "low", "close"), (14, 3, 0, 3, 0), 2),
    ("MFI", ("high", "low", "close", "volume"), (14,), 1),
    ("ADX", ("high", "low", "close"), (), 1),  # default parameter
    ("CDLENGULFING", ("open", "high", "low", "close"), (), 1),
])
def test_native_handle_equals_talib_stream_handle(func: str, inputs: tuple[str, ...], params: tuple,
                                                  n_out: int) -> None:
    h = _history()
    seed = [h[k][:400] for k in inputs]
    mine = native.NativeHandle.open(func, seed, params, n_out)
    ref = getattr(stream, func)(*seed, *params)
    assert mine is not None
    assert mine.value == ref.value
    for i in range(400, 600):
        row = [float(h[k][i]) for k in inputs]
        assert mine.peek(*row) == ref.peek(*row)
        assert mine.update(*row) == ref.update(*row)


def test_short_history_opens_nothing_and_leading_nans_are_skipped() -> None:
    close = _history()["close"]
    assert native.NativeHandle.open("SMA", [close[:5]], (20,), 1) is None
    assert native.NativeHandle.open("SMA", [np.full(30, np.nan)], (20,), 1) is None
    padded = np.r_[np.full(10, np.nan), close[:100]]
    a = native.NativeHandle.open("SMA", [padded], (20,), 1)
    b = stream.SMA(padded, 20)
    assert a is not None and a.value == b.value
    assert a.update(1.5) == b.update(1.5)


def test_candlestick_hits_report_the_non_zero_values() -> None:
    h = _history(3000)
    cols = ("open", "high", "low", "close")
    funcs = ["CDLDOJI", "CDLENGULFING", "CDLHAMMER", "CDLSPINNINGTOP"]
    handles = [native.NativeHandle.open(f, [h[k][:500] for k in cols], (), 1) for f in funcs]
    refs = [getattr(stream, f)(*(h[k][:500] for k in cols)) for f in funcs]
    buf = (ctypes.c_double * 5)()
    prog = native.Program([native.Instr((0, 1, 2, 3), (4,), handle=hd, tag=t)
                           for t, hd in enumerate(handles)], buf, (ctypes.c_double * 1)(), True)
    fired = 0
    for i in range(500, 3000):
        buf[0:4] = [float(h[k][i]) for k in cols]
        prog()
        want = [v for t, r in enumerate(refs) if (x := r.update(*buf[0:4])) for v in (t, x)]
        assert prog.hits == want
        fired += bool(want)
    assert fired > 100


def test_the_enricher_runs_on_the_native_program_once_warm() -> None:
    bars = gbm(1500, seed=12)
    enr = IncrementalEnricher(timeframe="1m")
    enr.seed(bars.slice(0, 1200))
    assert enr.stepper._fast is not None
    assert enr.stepper._fast.__code__.co_filename == "<jonbu-enrich-native-commit>"


def test_instructions_the_loop_cannot_run_are_refused() -> None:
    buf = (ctypes.c_double * 4)()
    lag = (ctypes.c_double * 1)()
    with pytest.raises(ValueError, match="no native implementation"):
        native.Program([native.Instr((0,), (1,), op="nope")], buf, lag, True)
    sma = native.NativeHandle.open("SMA", [np.arange(50.0)], (5,), 1)
    with pytest.raises(ValueError, match="integer outputs"):
        native.Program([native.Instr((0,), (1,), handle=sma, tag=0)], buf, lag, True)
    with pytest.raises(ValueError, match="state"):
        native.Program([native.Instr((0,), (1,), lag=3)], buf, lag, True)


def test_anchored_instruction_equals_anchored_state() -> None:
    from jonbu_core.enrich.anchors import AnchoredState

    rng = np.random.default_rng(13)
    buf = (ctypes.c_double * 7)()
    state = (ctypes.c_double * native.ANCHOR_STATE)(math.nan, 0.0, 0.0, 0.0)
    ins = native.Instr((0, 1, 2, 3, 4), (5, 6), anchor=True)
    update = native.Program([ins], buf, state, True)
    peek = native.Program([ins], buf, state, False)
    ref = AnchoredState()
    for i in range(3000):
        ident = i // 390
        price, vol = float(rng.uniform(90, 110)), float(rng.choice([0.0, rng.uniform(1, 1e4)]))
        sv = math.nan if i % 97 == 0 else float(rng.choice([-vol, 0.0, vol]))
        buf[0:5] = [float(ident), price, price * vol, vol, sv]
        peek()
        assert (buf[5], buf[6]) == ref.step(ident, price, price * vol, vol, sv, commit=False)
        update()
        assert (buf[5], buf[6]) == ref.step(ident, price, price * vol, vol, sv)
