"""A small dataflow graph of TA-Lib calls and element-wise operations.

Indicators, context and features are all declared as nodes of one graph over
named series. The batch path evaluates the graph with TA-Lib's Function API on
whole NumPy arrays (:func:`evaluate`); the incremental path evaluates the same
graph one bar at a time with TA-Lib's streaming handles
(:mod:`jonbu_core.enrich.stream_graph`), which TA-Lib guarantees to be
bit-identical to its Function API. Element-wise operations (:data:`OPS`) have a
vectorised and a scalar implementation written with the same IEEE operations, so
both paths give the same numbers.

Series names are canonical strings (``"EMA(close;20)"``, ``"MACD(close;12,26,9)#1"``),
so declaring the same computation twice yields one node.

Base series (computed from the bars by :func:`base_series`):
``open high low close volume`` and

* ``price`` — the bar's own ``vwap`` when present, else the typical price (H+L+C)/3;
* ``pv`` — ``price × volume``;
* ``sv`` — signed volume: +volume when the close rose, −volume when it fell, 0 when
  unchanged; undefined (NaN) on the first bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import talib
from talib import abstract

from jonbu_core.errors import InvalidInputError

BASE_SERIES: tuple[str, ...] = ("open", "high", "low", "close", "volume", "price", "pv", "sv")
#: Warm-up (leading undefined bars) of each base series.
BASE_LOOKBACK: dict[str, int] = {name: (1 if name == "sv" else 0) for name in BASE_SERIES}

FArray = np.ndarray[Any, np.dtype[np.float64]]
Num = int | float


def _fmt(value: Num) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TaCall:
    """One TA-Lib function applied to named input series."""

    func: str
    inputs: tuple[str, ...]
    params: tuple[Num, ...]
    n_out: int

    @property
    def name(self) -> str:
        """Canonical name of the call."""
        return f"{self.func}({','.join(self.inputs)};{','.join(_fmt(p) for p in self.params)})"

    @property
    def outputs(self) -> tuple[str, ...]:
        """Names of the output series (``name`` alone for one output, ``name#k`` otherwise)."""
        if self.n_out == 1:
            return (self.name,)
        return tuple(f"{self.name}#{k}" for k in range(self.n_out))


@dataclass(frozen=True)
class Op:
    """An element-wise operation (see :data:`OPS`) over named series."""

    op: str
    inputs: tuple[str, ...]
    const: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        """Canonical name of the result series."""
        return f"{self.op}[{','.join(self.inputs)};{','.join(_fmt(c) for c in self.const)}]"

    @property
    def outputs(self) -> tuple[str, ...]:
        """The single output series."""
        return (self.name,)


Node = TaCall | Op


@dataclass(frozen=True)
class OpImpl:
    """Vectorised and scalar implementations of one element-wise operation."""

    vector: Callable[..., FArray]
    scalar: Callable[..., float]


def _pctb_v(c: FArray, lower: FArray, upper: FArray) -> FArray:
    width = upper - lower
    out = np.full_like(c, 0.5)
    np.divide(c - lower, width, out=out, where=width > 0)
    out[np.isnan(width)] = np.nan
    return out


def _pctb_s(c: float, lower: float, upper: float) -> float:
    width = upper - lower
    if width != width:
        return math.nan
    return (c - lower) / width if width > 0 else 0.5


def _width_v(lower: FArray, middle: FArray, upper: FArray) -> FArray:
    out = np.zeros_like(middle)
    np.divide(upper - lower, middle, out=out, where=middle != 0)
    out[np.isnan(middle)] = np.nan
    return out


def _width_s(lower: float, middle: float, upper: float) -> float:
    if middle != middle:
        return math.nan
    return (upper - lower) / middle if middle != 0 else 0.0


def _ratio_v(a: FArray, b: FArray) -> FArray:
    """``a / b`` where ``b > 0``, NaN elsewhere (a volume-weighted mean over no volume)."""
    out = np.full_like(a, np.nan)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _ratio_s(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _chop_v(sum_tr: FArray, hh: FArray, ll: FArray, n: float) -> FArray:
    rng = hh - ll
    ok = (rng > 0) & (sum_tr > 0)
    out = np.full_like(sum_tr, 100.0)
    ratio = np.divide(sum_tr, rng, out=np.ones_like(sum_tr), where=ok)
    np.multiply(100.0, np.log10(ratio), out=out, where=ok)
    np.divide(out, math.log10(n), out=out, where=ok)
    out[np.isnan(sum_tr) | np.isnan(rng)] = np.nan
    return out


def _chop_s(sum_tr: float, hh: float, ll: float, n: float) -> float:
    rng = hh - ll
    if sum_tr != sum_tr or rng != rng:
        return math.nan
    if rng > 0 and sum_tr > 0:
        return 100.0 * math.log10(sum_tr / rng) / math.log10(n)
    return 100.0


#: Element-wise operations available to :class:`Op` nodes.
OPS: dict[str, OpImpl] = {
    "pctb": OpImpl(_pctb_v, _pctb_s),
    "bbwidth": OpImpl(_width_v, _width_s),
    "ratio": OpImpl(_ratio_v, _ratio_s),
    "chop": OpImpl(_chop_v, _chop_s),
}


@lru_cache(maxsize=512)
def ta_lookback(func: str, params: tuple[Num, ...]) -> int:
    """TA-Lib's lookback (bars of warm-up) of ``func`` with positional ``params``."""
    f = abstract.Function(func)
    names = list(f.parameters)
    f.parameters = dict(zip(names, params, strict=False))
    return int(f.lookback)


@lru_cache(maxsize=512)
def ta_n_outputs(func: str) -> int:
    """How many output arrays TA-Lib's ``func`` returns."""
    return len(abstract.Function(func).output_names)


@dataclass
class Graph:
    """An ordered, de-duplicated list of nodes and the warm-up of every series."""

    nodes: list[Node] = field(default_factory=list)
    lookback: dict[str, int] = field(default_factory=lambda: dict(BASE_LOOKBACK))
    _seen: set[str] = field(default_factory=set)

    def ta(self, func: str, inputs: tuple[str, ...], params: tuple[Num, ...] = ()) -> tuple[str, ...]:
        """Declare a TA-Lib call; returns its output series names."""
        node = TaCall(func, inputs, params, ta_n_outputs(func))
        self._add(node, max(self.lookback[s] for s in inputs) + ta_lookback(func, params))
        return node.outputs

    def ta1(self, func: str, inputs: tuple[str, ...], params: tuple[Num, ...] = ()) -> str:
        """Declare a single-output TA-Lib call; returns its series name."""
        return self.ta(func, inputs, params)[0]

    def op(self, op: str, inputs: tuple[str, ...], const: tuple[float, ...] = ()) -> str:
        """Declare an element-wise operation; returns its series name."""
        if op not in OPS:
            raise KeyError(op)
        node = Op(op, inputs, const)
        self._add(node, max(self.lookback[s] for s in inputs))
        return node.name

    def _add(self, node: Node, lookback: int) -> None:
        if node.name in self._seen:
            return
        for s in node.inputs:
            if s not in self.lookback:
                raise KeyError(f"series {s!r} is not declared before {node.name}")
        self._seen.add(node.name)
        self.nodes.append(node)
        for out in node.outputs:
            self.lookback[out] = lookback


def base_series(
    open_: FArray, high: FArray, low: FArray, close: FArray, volume: FArray, vwap: FArray
) -> dict[str, FArray]:
    """The base series of :data:`BASE_SERIES` from bar columns (``vwap`` may hold NaN)."""
    typical = (high + low + close) / 3.0
    price = np.where(np.isnan(vwap), typical, vwap)
    sv = np.empty_like(close)
    if len(close):
        sv[0] = np.nan
        diff = close[1:] - close[:-1]
        sv[1:] = np.where(diff > 0, volume[1:], np.where(diff < 0, -volume[1:], 0.0))
    return {
        "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "price": price, "pv": price * volume, "sv": sv,
    }


def base_scalars(
    o: float, h: float, lo: float, c: float, v: float, vwap: float | None, prev_close: float | None
) -> tuple[float, ...]:
    """Scalar version of :func:`base_series` for one bar, in :data:`BASE_SERIES` order."""
    price = (h + lo + c) / 3.0 if vwap is None or vwap != vwap else vwap
    if prev_close is None:
        sv = math.nan
    else:
        sv = v if c > prev_close else (-v if c < prev_close else 0.0)
    return (o, h, lo, c, v, price, price * v, sv)


def evaluate(graph: Graph, series: dict[str, FArray]) -> dict[str, np.ndarray[Any, Any]]:
    """Evaluate every node of ``graph`` on whole arrays (TA-Lib Function API).

    ``series`` must hold the base series; the result holds them plus every node's outputs.
    """
    out: dict[str, np.ndarray[Any, Any]] = dict(series)
    n = len(series["close"])
    for node in graph.nodes:
        if isinstance(node, TaCall):
            args = [out[s] for s in node.inputs]
            if n == 0:
                res: Any = tuple(np.empty(0) for _ in range(node.n_out))
            else:
                try:
                    res = getattr(talib, node.func)(*args, *node.params)
                except Exception as exc:  # TA-Lib refuses bad parameters
                    raise InvalidInputError(f"{node.name}: {exc}") from exc
            if node.n_out == 1:
                res = (res,)
            for name, arr in zip(node.outputs, res, strict=True):
                out[name] = arr
        else:
            impl = OPS[node.op]
            out[node.name] = impl.vector(*(out[s] for s in node.inputs), *node.const)
    return out
