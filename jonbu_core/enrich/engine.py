"""The batch engine: every enrichment stage over whole arrays.

:func:`compute` turns a bar table into a :class:`BatchResult` (NumPy arrays);
:mod:`jonbu_core.enrich.batch` turns that into an Arrow table or
:class:`~jonbu_core.enrich.models.EnrichedCandle` objects, and
:mod:`jonbu_core.enrich.incremental` seeds its state from it.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import talib

from jonbu_core.enrich import swings
from jonbu_core.enrich.anchors import anchor_ids, anchor_kind, anchored
from jonbu_core.enrich.confidence import combine_vector
from jonbu_core.enrich.features import bias01_vector, dist01_vector
from jonbu_core.enrich.graph import PARALLEL_MIN_BARS, base_series, evaluate, thread_pool
from jonbu_core.enrich.params import P
from jonbu_core.enrich.patterns import CHART_PATTERNS, GRAPH_CHART, aggregate_candles
from jonbu_core.enrich.plan import Plan, build_plan
from jonbu_core.enrich.registry import ANCHORED_OBV, ANCHORED_VWAP, IndicatorSpec
from jonbu_core.errors import InvalidInputError

logger = logging.getLogger(__name__)

FArray = np.ndarray[Any, np.dtype[np.float64]]
IArray = np.ndarray[Any, np.dtype[np.int64]]

ENGINE_VERSION = "1"


@lru_cache(maxsize=64)
def cached_plan(specs: tuple[IndicatorSpec, ...]) -> Plan:
    """The plan for a spec list (plans are immutable once built)."""
    return build_plan(list(specs))


@dataclass
class BatchResult:
    """Every stage's output for a table of bars."""

    plan: Plan
    table: pa.Table
    """The input columns ``ts … vwap`` (``trade_count``/``vwap`` null when absent)."""
    ts_us: IArray
    series: dict[str, np.ndarray[Any, Any]]
    indicators: dict[str, FArray]
    chart: dict[str, FArray]
    cdl: list[np.ndarray[Any, Any]]
    agg: dict[str, FArray]
    """``cdl_bull cdl_bear chart_bull chart_bear bias confidence``."""
    levels: swings.Levels
    nearest: dict[str, FArray]
    features: dict[str, FArray]
    """Feature arrays; rows before ``plan.feature_lookback`` are not part of the vector."""
    anchor: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of bars."""
        return len(self.ts_us)


def _column(table: pa.Table, name: str, required: bool) -> FArray:
    if name not in table.column_names:
        if required:
            raise InvalidInputError(f"bars are missing the column {name!r}")
        return np.full(table.num_rows, np.nan)
    col = table.column(name)
    try:
        arr = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(f"column {name!r}: {exc}") from exc
    return np.ascontiguousarray(arr, dtype=np.float64)


def prepare(bars: pa.Table) -> tuple[pa.Table, IArray, dict[str, FArray]]:
    """Check and convert a bar table: (candle table, ts in µs, float columns)."""
    if hasattr(bars, "to_arrow") and not isinstance(bars, pa.Table):
        bars = bars.to_arrow()
    if "ts" not in bars.column_names:
        raise InvalidInputError("bars are missing the column 'ts'")
    ts = bars.column("ts")
    if not pa.types.is_timestamp(ts.type):
        raise InvalidInputError("column 'ts' must be a timestamp")
    ts = ts.cast(pa.timestamp("us", tz="UTC")) if ts.type.tz else ts.cast(pa.timestamp("us")).cast(
        pa.timestamp("us", tz="UTC"))
    if ts.null_count:
        raise InvalidInputError("column 'ts' has nulls")
    ts_us = ts.cast(pa.int64()).to_numpy().astype(np.int64)
    if len(ts_us) > 1 and not np.all(ts_us[1:] > ts_us[:-1]):
        raise InvalidInputError("bars must be strictly ascending by ts (no duplicates)")
    cols = {name: _column(bars, name, True) for name in ("open", "high", "low", "close", "volume")}
    for name, arr in cols.items():
        # a finite sum proves every value finite (one pass, no temporary); a sum that
        # overflowed is not proof of a bad value, so then look element by element
        with np.errstate(invalid="ignore", over="ignore"):
            finite_sum = bool(np.isfinite(np.sum(arr)))
        if not finite_sum and not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"column {name!r} has null, NaN or infinite values")
    if np.any(cols["volume"] < 0):
        raise InvalidInputError("column 'volume' has negative values")
    cols["vwap"] = _column(bars, "vwap", False)
    tc = bars.column("trade_count").cast(pa.int64()) if "trade_count" in bars.column_names else pa.nulls(
        bars.num_rows, pa.int64())
    vw = bars.column("vwap").cast(pa.float64()) if "vwap" in bars.column_names else pa.nulls(
        bars.num_rows, pa.float64())
    table = pa.table({
        "ts": ts, **{k: pa.array(cols[k]) for k in ("open", "high", "low", "close", "volume")},
        "trade_count": tc, "vwap": vw,
    })
    return table, ts_us, cols


def compute(bars: pa.Table, specs: list[IndicatorSpec], timeframe: str | None = None,
            parallel: bool | None = None) -> BatchResult:
    """Run every stage over ``bars`` (ascending, unique ``ts``; validated OHLCV).

    ``parallel``: run the TA-Lib calls and the swing stage on the shared thread pool
    (TA-Lib releases the GIL); default: tables of
    :data:`~jonbu_core.enrich.graph.PARALLEL_MIN_BARS` bars or more on a multi-core
    machine. The results are the same either way.

    Raises
    ------
    InvalidInputError
        For missing columns, nulls/NaN, unsorted or duplicate timestamps.
    """
    table, ts_us, cols = prepare(bars)
    plan = cached_plan(tuple(specs))
    n = len(ts_us)
    base = base_series(cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"], cols["vwap"])
    high, low, close = cols["high"], cols["low"], cols["close"]
    if parallel is None:
        parallel = n >= PARALLEL_MIN_BARS and (os.cpu_count() or 1) > 1
    parallel = parallel and n > 0
    swing_job: Future[_Swings] | None = None
    if parallel:  # the swing stage only needs ATR: run it beside the graph's TA-Lib calls
        atr0 = talib.ATR(high, low, close, P.atr) if n else np.zeros(0)
        swing_job = thread_pool().submit(_swing_stage, high, low, close, atr0)
    kind = anchor_kind(timeframe, ts_us)
    anchor_out: list[tuple[FArray, FArray]] = []

    def anchored_stage() -> None:  # on this thread while the pool runs TA-Lib
        anchor_out.append(anchored(base["price"], base["pv"], base["volume"], base["sv"],
                                   anchor_ids(ts_us, kind)))

    series = evaluate(plan.graph, base, parallel, meanwhile=anchored_stage)
    a_vwap, a_obv = anchor_out[0]
    indicators: dict[str, FArray] = {}
    for key, name in plan.indicators.items():
        indicators[key] = a_vwap if name == ANCHORED_VWAP else (a_obv if name == ANCHORED_OBV else series[name])
    atr = series[plan.s["atr"]]
    sw = swing_job.result() if swing_job is not None else _swing_stage(high, low, close, atr)
    ph, pl, hh, ll, top, bottom, lv, nearest = sw
    chart = {name: series[plan.chart[name]] for name in GRAPH_CHART}
    chart.update(double_top=top, double_bottom=bottom, higher_highs=hh, lower_lows=ll)
    cdl = [series[name] for name in plan.candles]
    if parallel:  # half of the patterns on the pool, half here; max of the halves is exact
        half = slice(0, len(cdl) // 2)
        first = thread_pool().submit(aggregate_candles, cdl, n, half)
        cdl_bull, cdl_bear = aggregate_candles(cdl, n, slice(half.stop, None))
        bull0, bear0 = first.result()
        np.maximum(cdl_bull, bull0, out=cdl_bull)
        np.maximum(cdl_bear, bear0, out=cdl_bear)
    else:
        cdl_bull, cdl_bear = aggregate_candles(cdl, n)
    chart_bull = np.zeros(n)
    chart_bear = np.zeros(n)
    for name, (direction, _) in CHART_PATTERNS.items():
        target = chart_bull if direction == "bullish" else chart_bear
        np.maximum(target, chart[name], out=target)
    bias, confidence = combine_vector(series[plan.s["vote_sum"]], float(len(plan.votes)), cdl_bull, cdl_bear,
                                      chart_bull, chart_bear)
    agg = {"cdl_bull": cdl_bull, "cdl_bear": cdl_bear, "chart_bull": chart_bull, "chart_bear": chart_bear,
           "bias": bias, "confidence": confidence}
    features = _features(plan, series, agg, nearest)
    return BatchResult(plan, table, ts_us, series, indicators, chart, cdl, agg, lv, nearest, features, kind,
                       extra={"pivots": (ph, pl)})


_Swings = tuple[IArray, IArray, FArray, FArray, FArray, FArray, swings.Levels, dict[str, FArray]]


def _swing_stage(high: FArray, low: FArray, close: FArray, atr: FArray) -> _Swings:
    """Pivots, structure, double tops/bottoms, levels and the nearest levels."""
    ph, pl = swings.find_pivots(high, low)
    hh, ll = swings.structure(ph, pl, high, low, atr, len(close))
    top, bottom = swings.double_patterns(ph, pl, high, low, close, atr)
    lv = swings.levels(ph, pl, high, low, atr)
    return ph, pl, hh, ll, top, bottom, lv, swings.nearest_levels(lv, close, atr)


def _features(plan: Plan, series: dict[str, np.ndarray[Any, Any]], agg: dict[str, FArray],
              nearest: dict[str, FArray]) -> dict[str, FArray]:
    out: dict[str, FArray] = {name: series[s] for name, s in plan.features.items()}
    for name in ("cdl_bull", "cdl_bear", "chart_bull", "chart_bear"):
        out[name] = agg[name]
    out["dist_support_atr"] = dist01_vector(nearest["support_dist_atr"])
    out["dist_resistance_atr"] = dist01_vector(nearest["resistance_dist_atr"])
    out["signal_bias"] = bias01_vector(agg["bias"])
    return out
