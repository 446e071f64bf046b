"""A small dataflow graph of TA-Lib calls, lags and element-wise operations.

Indicators, context numbers, features and confidence votes are all declared as
nodes of one graph over named series. The batch path evaluates it with TA-Lib's
Function API on whole NumPy arrays (:func:`evaluate`); the incremental path
evaluates the same graph one bar at a time with TA-Lib's streaming handles, which
TA-Lib guarantees to be bit-identical to its Function API
(:mod:`jonbu_core.enrich.stepper`). Element-wise operations (:mod:`.ops`) have a
vectorised implementation and a scalar expression built from the same IEEE
operations in the same order, so both paths give the same numbers.

Series names are canonical strings (``"EMA(close;20)"``, ``"MACD(close;12,26,9)#1"``),
so declaring the same computation twice yields one node.

Base series (:func:`base_series`): ``open high low close volume`` and

* ``price`` — the bar's own ``vwap`` when present, else the typical price (H+L+C)/3;
* ``pv`` — ``price × volume``;
* ``sv`` — signed volume: +volume when the close rose, −volume when it fell, 0 when
  unchanged; undefined (NaN) on the first bar.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import talib
from talib import abstract

from jonbu_core.enrich.ops import OPS
from jonbu_core.errors import InvalidInputError

BASE_SERIES: tuple[str, ...] = ("open", "high", "low", "close", "volume", "price", "pv", "sv")
#: Warm-up (leading undefined bars) of each base series.
BASE_LOOKBACK: dict[str, int] = {name: (1 if name == "sv" else 0) for name in BASE_SERIES}

FArray = np.ndarray[Any, np.dtype[np.float64]]
Num = int | float


def fmt_num(value: Num) -> str:
    """``20`` -> ``"20"``, ``2.0`` -> ``"2"``, ``2.5`` -> ``"2.5"``."""
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
        return f"{self.func}({','.join(self.inputs)};{','.join(fmt_num(p) for p in self.params)})"

    @property
    def outputs(self) -> tuple[str, ...]:
        """Names of the output series (``name`` alone for one output, ``name#k`` otherwise)."""
        if self.n_out == 1:
            return (self.name,)
        return tuple(f"{self.name}#{k}" for k in range(self.n_out))


@dataclass(frozen=True)
class Op:
    """An element-wise operation (see :mod:`jonbu_core.enrich.ops`) over named series."""

    op: str
    inputs: tuple[str, ...]
    const: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        """Canonical name of the result series."""
        return f"{self.op}[{','.join(self.inputs)};{','.join(fmt_num(c) for c in self.const)}]"

    @property
    def outputs(self) -> tuple[str, ...]:
        """The single output series."""
        return (self.name,)


@dataclass(frozen=True)
class Lag:
    """A series shifted ``k`` bars into the past (NaN for the first ``k`` bars)."""

    source: str
    k: int

    @property
    def inputs(self) -> tuple[str, ...]:
        """The lagged series."""
        return (self.source,)

    @property
    def name(self) -> str:
        """Canonical name of the result series."""
        return f"lag{self.k}({self.source})"

    @property
    def outputs(self) -> tuple[str, ...]:
        """The single output series."""
        return (self.name,)


Node = TaCall | Op | Lag


@lru_cache(maxsize=512)
def ta_lookback(func: str, params: tuple[Num, ...]) -> int:
    """TA-Lib's lookback (bars of warm-up) of ``func`` with positional ``params``."""
    f = abstract.Function(func)  # type: ignore[attr-defined]
    names = list(f.parameters)
    f.parameters = dict(zip(names, params, strict=False))
    return int(f.lookback)


@lru_cache(maxsize=512)
def ta_n_outputs(func: str) -> int:
    """How many output arrays TA-Lib's ``func`` returns."""
    return len(abstract.Function(func).output_names)  # type: ignore[attr-defined]


@dataclass
class Graph:
    """An ordered, de-duplicated list of nodes and the warm-up of every series."""

    nodes: list[Node] = field(default_factory=list)
    lookback: dict[str, int] = field(default_factory=lambda: dict(BASE_LOOKBACK))
    _seen: set[str] = field(default_factory=set)

    def ta(self, func: str, inputs: tuple[str, ...], params: tuple[Num, ...] = ()) -> tuple[str, ...]:
        """Declare a TA-Lib call; returns its output series names."""
        node = TaCall(func, inputs, params, ta_n_outputs(func))
        self._add(node, self._in_lookback(node) + ta_lookback(func, params))
        return node.outputs

    def ta1(self, func: str, inputs: tuple[str, ...], params: tuple[Num, ...] = ()) -> str:
        """Declare a single-output TA-Lib call; returns its series name."""
        return self.ta(func, inputs, params)[0]

    def op(self, op: str, inputs: tuple[str, ...], const: tuple[float, ...] = ()) -> str:
        """Declare an element-wise operation; returns its series name."""
        impl = OPS[op]
        if impl.arity is not None and impl.arity != len(inputs):
            raise ValueError(f"op {op} takes {impl.arity} inputs, got {len(inputs)}")
        node = Op(op, inputs, tuple(float(c) for c in const))
        self._add(node, self._in_lookback(node))
        return node.name

    def lag(self, source: str, k: int = 1) -> str:
        """Declare ``source`` shifted ``k`` bars back; returns its series name."""
        node = Lag(source, k)
        self._add(node, self._in_lookback(node) + k)
        return node.name

    def _in_lookback(self, node: Node) -> int:
        for s in node.inputs:
            if s not in self.lookback:
                raise KeyError(f"series {s!r} is not declared before {node.name}")
        return max(self.lookback[s] for s in node.inputs)

    def _add(self, node: Node, lookback: int) -> None:
        if node.name in self._seen:
            return
        self._seen.add(node.name)
        self.nodes.append(node)
        for out in node.outputs:
            self.lookback[out] = lookback

    @property
    def max_lookback(self) -> int:
        """The longest warm-up of any series."""
        return max(self.lookback.values())


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


def _lagged(x: np.ndarray[Any, Any], k: int) -> FArray:
    out = np.empty(len(x))
    out[:k] = np.nan
    if len(x) > k:
        out[k:] = x[:-k]
    return out


#: Tables at least this long run their TA-Lib calls on a thread pool (TA-Lib releases
#: the GIL); shorter ones (typical API requests) stay on the calling thread.
PARALLEL_MIN_BARS = 50_000
_POOL: ThreadPoolExecutor | None = None


def thread_pool() -> ThreadPoolExecutor:
    """The shared pool of the batch path (one worker per core, at most 4)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                   thread_name_prefix="jonbu-talib")
    return _POOL


def _all_nan(a: np.ndarray[Any, Any]) -> bool:
    """Whether a float series is NaN throughout (a finite last value answers in O(1))."""
    if a.dtype.kind != "f":
        return False
    return bool(np.isnan(a[-1])) and bool(np.isnan(a).all())


def _call(node: TaCall, args: list[np.ndarray[Any, Any]], n: int) -> tuple[np.ndarray[Any, Any], ...]:
    res: Any
    if n == 0 or any(_all_nan(a) for a in args):
        return tuple(np.full(n, np.nan) for _ in range(node.n_out))
    try:
        res = getattr(talib, node.func)(*args, *node.params)
    except Exception as exc:  # TA-Lib refuses bad parameters
        raise InvalidInputError(f"{node.name}: {exc}") from exc
    return (res,) if node.n_out == 1 else tuple(res)


def evaluate(graph: Graph, series: dict[str, FArray], parallel: bool | None = None,
             meanwhile: Callable[[], object] | None = None) -> dict[str, np.ndarray[Any, Any]]:
    """Evaluate every node of ``graph`` on whole arrays (TA-Lib Function API).

    ``series`` must hold the base series; the result holds them plus every node's
    outputs. With ``parallel`` (default: tables of :data:`PARALLEL_MIN_BARS` bars or
    more on a multi-core machine) the TA-Lib calls on base series run on a thread pool.
    ``meanwhile`` (independent work of the caller) runs on the calling thread once
    those calls are submitted, before the graph waits for them (serially: first).
    """
    out: dict[str, np.ndarray[Any, Any]] = dict(series)
    n = len(series["close"])
    if parallel is None:
        parallel = n >= PARALLEL_MIN_BARS and (os.cpu_count() or 1) > 1
    pending: dict[str, Future[tuple[np.ndarray[Any, Any], ...]]] = {}
    if parallel:
        pool = thread_pool()
        for node in graph.nodes:
            if isinstance(node, TaCall) and all(s in series for s in node.inputs):
                pending[node.name] = pool.submit(_call, node, [series[s] for s in node.inputs], n)
    if meanwhile is not None:
        meanwhile()
    for node in graph.nodes:
        if isinstance(node, TaCall):
            fut = pending.pop(node.name, None)
            res = fut.result() if fut is not None else _call(node, [out[s] for s in node.inputs], n)
            for name, arr in zip(node.outputs, res, strict=True):
                out[name] = arr
        elif isinstance(node, Lag):
            out[node.name] = _lagged(out[node.source], node.k)
        else:
            impl = OPS[node.op]
            out[node.name] = impl.vector(*(out[s] for s in node.inputs), *node.const)
    return out
