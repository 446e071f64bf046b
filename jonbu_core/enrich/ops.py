"""Element-wise operations of the enrichment graph, vectorised and scalar.

Each operation has

* ``vector`` — a NumPy implementation over whole arrays (batch path);
* ``expr`` — a Python expression template over scalars (``{0}``, ``{1}``… are the
  inputs, ``{c0}``, ``{c1}``… the constants) built from the same IEEE operations in
  the same order, so its results are bit-identical to ``vector``. The incremental
  path compiles these templates into one straight-line function.

The one exception is ``chop``: NumPy's and the C library's ``log10`` may differ in
the last bit, so batch and incremental choppiness agree to ~1e-16 relative, not
bit for bit.

With ``propagate=True`` a NaN input (warm-up) gives a NaN output; the scalar
function compiled by :func:`scalar_fn` checks that, the compiled fast path runs
only after every input's warm-up. Operations with ``propagate=False`` define their
own NaN handling (comparisons with NaN are false in both NumPy and Python).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

FArray = np.ndarray[Any, np.dtype[np.float64]]

#: Names the expression templates may use.
EXPR_GLOBALS: dict[str, Any] = {"_log10": math.log10, "_isfinite": math.isfinite, "_nan": math.nan}


@dataclass(frozen=True)
class OpImpl:
    """One element-wise operation."""

    vector: Callable[..., FArray]
    expr: str
    arity: int | None
    propagate: bool = True




def _nan_where_any(out: FArray, *xs: FArray) -> FArray:
    bad = np.zeros(len(out), dtype=bool)
    for x in xs:
        bad |= np.isnan(x)
    out[bad] = np.nan
    return out


def _pctb(c: FArray, lo: FArray, up: FArray) -> FArray:
    width = up - lo
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out: FArray = (c - lo) / width
    flat = np.flatnonzero(width <= 0)  # NaN widths (warm-up) compare false and stay NaN
    if len(flat):
        out[flat[~np.isnan(c[flat])]] = 0.5
    return out


def _bbwidth(lo: FArray, mid: FArray, up: FArray) -> FArray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out: FArray = (up - lo) / mid
    zero = np.flatnonzero(mid == 0)
    if len(zero):
        out[zero[~(np.isnan(lo[zero]) | np.isnan(up[zero]))]] = 0.0
    return out


def _ratio(a: FArray, b: FArray) -> FArray:
    out = np.full_like(a, np.nan)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _chop(s: FArray, hh: FArray, ll: FArray, n: float) -> FArray:
    rng = hh - ll
    ok = (rng > 0) & (s > 0)
    ratio = np.divide(s, rng, out=np.ones_like(s), where=ok)
    out = np.full_like(s, 100.0)
    np.multiply(100.0, np.log10(ratio), out=out, where=ok)
    np.divide(out, math.log10(n), out=out, where=ok)
    return _nan_where_any(out, s, hh, ll)


def _sub(a: FArray, b: FArray) -> FArray:
    return a - b


def _div_or(a: FArray, b: FArray, default: float, scale: float) -> FArray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out: FArray = a / b
    if scale != 1.0:
        out *= scale
    low = b <= 0
    if low.any():
        out[low & ~np.isnan(a)] = default
    return out


def _r2(slope: FArray, var: FArray, n: float, sxx: float) -> FArray:
    out = np.zeros_like(slope)
    ok = var > 0
    np.divide(slope * slope * sxx, n * var, out=out, where=ok)
    np.clip(out, 0.0, 1.0, out=out)
    return _nan_where_any(out, slope, var)


def _lin01(x: FArray, lo: float, span: float) -> FArray:
    out: FArray = x - lo if lo != 0.0 else x.copy()
    out /= span
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _mm01(x: FArray, mn: FArray, mx: FArray) -> FArray:
    rng = mx - mn
    out: FArray = x - mn
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.divide(out, rng, out=out)
    np.copyto(out, 0.5, where=rng == 0)  # NaN ranges (warm-up) compare false and stay NaN
    return out


def _balance(a: FArray, b: FArray) -> FArray:
    s = a + b
    out = np.zeros_like(a)
    np.divide(a - b, s, out=out, where=s > 0)
    return _nan_where_any(out, a, b)


def _signmul(s: FArray, r: FArray) -> FArray:
    out = np.where(s > 0, r, np.where(s < 0, -r, 0.0))
    return _nan_where_any(out, s, r)


def _clipk(x: FArray, a: float, b: float) -> FArray:
    out: FArray = x - a
    out *= b
    np.clip(out, -1.0, 1.0, out=out)
    return out


def _nansum0(*xs: FArray) -> FArray:
    acc = np.zeros_like(xs[0])
    for x in xs:
        acc = acc + np.where(np.isnan(x), 0.0, x)
    return acc


def _tstrength(r2: FArray, adx: FArray) -> FArray:
    return 0.5 * r2 + 0.5 * np.minimum(1.0, adx / 50.0)


def _breakout(c: FArray, hh1: FArray, c1: FArray, hh2: FArray, rvol: FArray, atr: FArray,
              min_rvol: float) -> FArray:
    hit = (c > hh1) & (c1 <= hh2) & (rvol >= min_rvol)
    price = np.ones_like(c)
    np.divide(c - hh1, atr, out=price, where=atr > 0)
    s = 0.5 * np.minimum(1.0, price) + 0.5 * np.minimum(1.0, (rvol - 1.0) / 2.0)
    return np.where(hit, s, 0.0)


def _breakdown(c: FArray, ll1: FArray, c1: FArray, ll2: FArray, rvol: FArray, atr: FArray,
               min_rvol: float) -> FArray:
    hit = (c < ll1) & (c1 >= ll2) & (rvol >= min_rvol)
    price = np.ones_like(c)
    np.divide(ll1 - c, atr, out=price, where=atr > 0)
    s = 0.5 * np.minimum(1.0, price) + 0.5 * np.minimum(1.0, (rvol - 1.0) / 2.0)
    return np.where(hit, s, 0.0)


def _gap(a: FArray, b: FArray, atr: FArray) -> FArray:
    """Strength of a gap ``a > b`` (``a`` = low, ``b`` = previous high for a gap up)."""
    size = np.ones_like(a)
    np.divide(a - b, atr, out=size, where=atr > 0)
    return np.where(a > b, np.minimum(1.0, size), 0.0)


def _regime(adx: FArray, pdi: FArray, mdi: FArray, chop: FArray, volpct: FArray,
            adx_min: float, chop_max: float, vol_min: float) -> FArray:
    unknown = np.isnan(adx) | np.isnan(pdi) | np.isnan(mdi) | np.isnan(chop) | np.isnan(volpct)
    trending = (adx >= adx_min) & (chop < chop_max)
    out = np.where(volpct >= vol_min, 4.0, np.where(trending, np.where(pdi >= mdi, 1.0, 2.0), 3.0))
    out[unknown] = 0.0
    return out


def _tdir(slope: FArray, r2: FArray, r2_min: float) -> FArray:
    out = np.where((slope > 0) & (r2 >= r2_min), 1.0, np.where((slope < 0) & (r2 >= r2_min), 2.0, 3.0))
    out[np.isnan(slope) | np.isnan(r2)] = 0.0
    return out


def _eq(code: FArray, k: float) -> FArray:
    out: FArray = np.equal(code, k).astype(np.float64)
    return out


OPS: dict[str, OpImpl] = {
    "pctb": OpImpl(_pctb, "(({0} - {1}) / ({2} - {1}) if ({2} - {1}) > 0 else 0.5)", 3),
    "bbwidth": OpImpl(_bbwidth, "(({2} - {0}) / {1} if {1} != 0 else 0.0)", 3),
    "ratio": OpImpl(_ratio, "({0} / {1} if {1} > 0 else _nan)", 2, propagate=False),
    "chop": OpImpl(
        _chop,
        "(100.0 * _log10({0} / ({1} - {2})) / _log10({c0}) if ({1} - {2}) > 0 and {0} > 0 else 100.0)", 3),
    "sub": OpImpl(_sub, "({0} - {1})", 2),
    "div_or": OpImpl(_div_or, "({0} / {1} * {c1} if {1} > 0 else {c0})", 2),
    "r2": OpImpl(_r2, "((0.0 if (_t := {0} * {0} * {c1} / ({c0} * {1})) < 0.0 else (1.0 if _t > 1.0 else _t))"
                      " if {1} > 0 else 0.0)", 2),
    "lin01": OpImpl(_lin01, "(0.0 if (_t := ({0} - {c0}) / {c1}) < 0.0 else (1.0 if _t > 1.0 else _t))", 1),
    "mm01": OpImpl(_mm01, "(({0} - {1}) / ({2} - {1}) if {2} > {1} else 0.5)", 3),
    "balance": OpImpl(_balance, "(({0} - {1}) / ({0} + {1}) if ({0} + {1}) > 0 else 0.0)", 2),
    "signmul": OpImpl(_signmul, "({1} if {0} > 0 else (-{1} if {0} < 0 else 0.0))", 2),
    "clipk": OpImpl(_clipk, "(-1.0 if (_t := ({0} - {c0}) * {c1}) < -1.0 else (1.0 if _t > 1.0 else _t))", 1),
    "nansum0": OpImpl(_nansum0, "", None, propagate=False),
    "tstrength": OpImpl(_tstrength, "(0.5 * {0} + 0.5 * (1.0 if (_t := {1} / 50.0) > 1.0 else _t))", 2),
    "breakout": OpImpl(
        _breakout,
        "((0.5 * (1.0 if (_t := ((({0} - {1}) / {5}) if {5} > 0 else 1.0)) > 1.0 else _t)"
        " + 0.5 * (1.0 if (_u := ({4} - 1.0) / 2.0) > 1.0 else _u))"
        " if ({0} > {1} and {2} <= {3} and {4} >= {c0}) else 0.0)", 6, propagate=False),
    "breakdown": OpImpl(
        _breakdown,
        "((0.5 * (1.0 if (_t := ((({1} - {0}) / {5}) if {5} > 0 else 1.0)) > 1.0 else _t)"
        " + 0.5 * (1.0 if (_u := ({4} - 1.0) / 2.0) > 1.0 else _u))"
        " if ({0} < {1} and {2} >= {3} and {4} >= {c0}) else 0.0)", 6, propagate=False),
    "gap": OpImpl(_gap, "((1.0 if (_t := ((({0} - {1}) / {2}) if {2} > 0 else 1.0)) > 1.0 else _t)"
                        " if {0} > {1} else 0.0)", 3, propagate=False),
    "regime": OpImpl(
        _regime,
        "(0.0 if ({0} != {0} or {1} != {1} or {2} != {2} or {3} != {3} or {4} != {4}) else "
        "(4.0 if {4} >= {c2} else ((1.0 if {1} >= {2} else 2.0) if ({0} >= {c0} and {3} < {c1}) else 3.0)))",
        5, propagate=False),
    "tdir": OpImpl(
        _tdir,
        "(0.0 if ({0} != {0} or {1} != {1}) else (1.0 if ({0} > 0 and {1} >= {c0}) else "
        "(2.0 if ({0} < 0 and {1} >= {c0}) else 3.0)))", 2, propagate=False),
    "eq": OpImpl(_eq, "(1.0 if {0} == {c0} else 0.0)", 1, propagate=False),
}


def render(op: str, args: list[str], const: tuple[float, ...]) -> str:
    """The scalar expression of ``op`` applied to argument expressions ``args``."""
    if op == "nansum0":
        terms = " + ".join(f"({a} if {a} == {a} else 0.0)" for a in args)
        return f"(0.0 + {terms})"
    consts = {f"c{i}": repr(float(c)) for i, c in enumerate(const)}
    return OPS[op].expr.format(*args, **consts)


def scalar_fn(op: str, n_in: int, const: tuple[float, ...]) -> Callable[..., float]:
    """A NaN-aware scalar function of ``op`` (same results as the vector version)."""
    args = [f"a{i}" for i in range(n_in)]
    body = render(op, args, const)
    if OPS[op].propagate:
        nan_check = " or ".join(f"{a} != {a}" for a in args)
        body = f"(_nan if ({nan_check}) else {body})"
    fn: Callable[..., float] = eval(f"lambda {', '.join(args)}: {body}", dict(EXPR_GLOBALS))
    return fn
