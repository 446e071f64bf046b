"""The batch engine: every enrichment stage over whole arrays.

:func:`compute` turns a bar table into a :class:`BatchResult` (NumPy arrays);
:mod:`jonbu_core.enrich.batch` turns that into an Arrow table or
:class:`~jonbu_core.enrich.models.EnrichedCandle` objects, and
:mod:`jonbu_core.enrich.incremental` seeds its state from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

from jonbu_core.enrich import swings
from jonbu_core.enrich.anchors import anchor_ids, anchor_kind, anchored
from jonbu_core.enrich.candles import CANDLES, candle_sign, candle_strength
from jonbu_core.enrich.graph import base_series, evaluate
from jonbu_core.enrich.plan import P, Plan, build_plan
from jonbu_core.enrich.registry import ANCHORED_OBV, ANCHORED_VWAP, IndicatorSpec
from jonbu_core.errors import InvalidInputError

logger = logging.getLogger(__name__)

FArray = np.ndarray[Any, np.dtype[np.float64]]
IArray = np.ndarray[Any, np.dtype[np.int64]]

ENGINE_VERSION = "1"

#: Chart patterns: name -> (direction, description template).
CHART_PATTERNS: dict[str, tuple[str, str]] = {
    "range_breakout": ("bullish", f"Close broke above the prior {P.range_bars}-bar high on high volume"),
    "range_breakdown": ("bearish", f"Close broke below the prior {P.range_bars}-bar low on high volume"),
    "gap_up": ("bullish", "Gap up: the low is above the previous bar's high"),
    "gap_down": ("bearish", "Gap down: the high is below the previous bar's low"),
    "double_top": ("bearish", "Double top: two similar peaks, close below the trough between them"),
    "double_bottom": ("bullish", "Double bottom: two similar troughs, close above the peak between them"),
    "higher_highs": ("bullish", "Higher highs and higher lows: a new swing high above the last one"),
    "lower_lows": ("bearish", "Lower lows and lower highs: a new swing low below the last one"),
}
CHART_NAMES: tuple[str, ...] = tuple(CHART_PATTERNS)

#: Documented false-positive rates: the share of bars on which a pattern fires on a
#: random walk (GBM, σ = 0.2 %/bar, intrabar noise; 30,000 bars; max over 6 seeds,
#: rounded up by ~25 %). Candlestick definitions describe shapes, not significance,
#: so shape patterns (short line, spinning top, doji…) fire often on noise;
#: ``tests/core/enrich/test_patterns.py`` checks these bounds.
RANDOM_WALK_MAX_RATE: dict[str, float] = {
    "range_breakout": 0.011, "range_breakdown": 0.011, "gap_up": 0.011, "gap_down": 0.011,
    "double_top": 0.016, "double_bottom": 0.016, "higher_highs": 0.04, "lower_lows": 0.04,
    "short_line": 0.24, "spinning_top": 0.22, "long_line": 0.19, "doji": 0.16, "hikkake": 0.16,
    "engulfing": 0.16, "long_legged_doji": 0.16, "belt_hold": 0.14, "closing_marubozu": 0.14,
    "high_wave": 0.12, "rickshaw_man": 0.11, "harami": 0.095, "three_outside": 0.08, "marubozu": 0.035,
    "hammer": 0.033, "gravestone_doji": 0.032, "harami_cross": 0.031, "takuri": 0.031, "doji_star": 0.031,
    "dragonfly_doji": 0.031, "matching_low": 0.021, "three_inside": 0.02, "hanging_man": 0.019,
    "inverted_hammer": 0.019, "shooting_star": 0.018, "xside_gap_three_methods": 0.014,
    "advance_block": 0.013, "homing_pigeon": 0.012, "thrusting": 0.01, "evening_star": 0.009,
    "morning_star": 0.009, "piercing": 0.007,
    "*candlestick": 0.0065,  # every other candlestick pattern
}


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
        if not np.all(np.isfinite(arr)):
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


def _aggregate_candles(cdl: list[np.ndarray[Any, Any]], n: int) -> tuple[FArray, FArray]:
    bull = np.zeros(n)
    bear = np.zeros(n)
    for info, arr in zip(CANDLES, cdl, strict=True):
        idx = np.flatnonzero(arr != 0)
        if len(idx) == 0:
            continue
        for value in np.unique(arr[idx]).tolist():
            sign = candle_sign(info, int(value))
            if sign == 0:
                continue
            pos = idx[arr[idx] == value]
            target = bull if sign > 0 else bear
            target[pos] = np.maximum(target[pos], candle_strength(info, int(value)))
    return bull, bear


def compute(bars: pa.Table, specs: list[IndicatorSpec], timeframe: str | None = None) -> BatchResult:
    """Run every stage over ``bars`` (ascending, unique ``ts``; validated OHLCV).

    Raises
    ------
    InvalidInputError
        For missing columns, nulls/NaN, unsorted or duplicate timestamps.
    """
    table, ts_us, cols = prepare(bars)
    plan = cached_plan(tuple(specs))
    n = len(ts_us)
    base = base_series(cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"], cols["vwap"])
    series = evaluate(plan.graph, base)
    kind = anchor_kind(timeframe, ts_us)
    a_vwap, a_obv = anchored(base["price"], base["pv"], base["volume"], base["sv"], anchor_ids(ts_us, kind))
    indicators: dict[str, FArray] = {}
    for key, name in plan.indicators.items():
        indicators[key] = a_vwap if name == ANCHORED_VWAP else (a_obv if name == ANCHORED_OBV else series[name])
    high, low, close = cols["high"], cols["low"], cols["close"]
    atr = series[plan.s["atr"]]
    ph, pl = swings.find_pivots(high, low)
    hh, ll = swings.structure(ph, pl, high, low, atr, n)
    top, bottom = swings.double_patterns(ph, pl, high, low, close, atr)
    chart = {name: series[plan.chart[name]] for name in ("range_breakout", "range_breakdown", "gap_up", "gap_down")}
    chart.update(double_top=top, double_bottom=bottom, higher_highs=hh, lower_lows=ll)
    cdl = [series[name] for name in plan.candles]
    cdl_bull, cdl_bear = _aggregate_candles(cdl, n)
    chart_bull = np.zeros(n)
    chart_bear = np.zeros(n)
    for name, (direction, _) in CHART_PATTERNS.items():
        target = chart_bull if direction == "bullish" else chart_bear
        np.maximum(target, chart[name], out=target)
    present = (cdl_bull > 0) | (cdl_bear > 0) | (chart_bull > 0) | (chart_bear > 0)
    pvote = np.minimum(1.0, np.maximum(-1.0, cdl_bull - cdl_bear + chart_bull - chart_bear))
    votes = series[plan.s["vote_sum"]]
    n_votes = float(len(plan.votes))
    bias = np.where(present, (votes + pvote) / (n_votes + 1.0), votes / n_votes)
    confidence = np.minimum(1.0, np.abs(bias))
    lv = swings.levels(ph, pl, high, low, atr)
    nearest = swings.nearest_levels(lv, close, atr)
    features = _features(plan, series, n, cdl_bull, cdl_bear, chart_bull, chart_bear, nearest, bias)
    agg = {"cdl_bull": cdl_bull, "cdl_bear": cdl_bear, "chart_bull": chart_bull, "chart_bear": chart_bear,
           "bias": bias, "confidence": confidence}
    return BatchResult(plan, table, ts_us, series, indicators, chart, cdl, agg, lv, nearest, features, kind,
                       extra={"pivots": (ph, pl)})


def _dist01(d: FArray) -> FArray:
    out = d / 10.0
    np.clip(out, 0.0, 1.0, out=out)
    out[np.isnan(d)] = 1.0
    return out


def _features(plan: Plan, series: dict[str, np.ndarray[Any, Any]], n: int, cdl_bull: FArray,
              cdl_bear: FArray, chart_bull: FArray, chart_bear: FArray, nearest: dict[str, FArray],
              bias: FArray) -> dict[str, FArray]:
    out: dict[str, FArray] = {name: series[s] for name, s in plan.features.items()}
    out["cdl_bull"], out["cdl_bear"] = cdl_bull, cdl_bear
    out["chart_bull"], out["chart_bear"] = chart_bull, chart_bear
    out["dist_support_atr"] = _dist01(nearest["support_dist_atr"])
    out["dist_resistance_atr"] = _dist01(nearest["resistance_dist_atr"])
    sb = (bias - -1.0) / 2.0
    out["signal_bias"] = np.clip(sb, 0.0, 1.0, out=sb)
    return out
