"""Patterns: TA-Lib candlesticks (see :mod:`.candles`) and our chart patterns.

Chart patterns (parameters in :class:`~jonbu_core.enrich.params.Params`), each with
a strength in [0, 1]:

* ``range_breakout`` (bullish) — the close crosses above the highest high of the
  previous ``range_bars`` bars (the previous close was not above its range) on a
  relative volume ≥ ``breakout_rvol``. Strength ½·min(1, excess/ATR) + ½·min(1, (rvol−1)/2).
  ``range_breakdown`` (bearish) mirrors it below the lowest low.
* ``gap_up`` (bullish) — the low is above the previous high; ``gap_down`` (bearish)
  the high below the previous low. Strength min(1, gap/ATR).
* ``double_top``/``double_bottom``, ``higher_highs``/``lower_lows`` — from swing
  pivots, see :mod:`jonbu_core.enrich.swings`.

False positives: on random walks every pattern fires at most on the share of bars
given by :data:`RANDOM_WALK_MAX_RATE` (measured, checked by the tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jonbu_core.enrich.candles import (
    CANDLES,
    CandleInfo,
    candle_direction,
    candle_sign,
    candle_strength,
)
from jonbu_core.enrich.graph import Graph
from jonbu_core.enrich.models import Pattern
from jonbu_core.enrich.params import P
from jonbu_core.models import fast_model

FArray = np.ndarray[Any, np.dtype[np.float64]]

#: Chart patterns: name -> (direction, description).
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
#: Chart patterns computed per bar by the graph (the others come from swing pivots).
GRAPH_CHART: tuple[str, ...] = ("range_breakout", "range_breakdown", "gap_up", "gap_down")

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


def declare_chart(g: Graph, atr: str, rvol: str) -> dict[str, str]:
    """Declare the per-bar chart patterns (breakouts, gaps); returns name -> series."""
    hh = g.ta1("MAX", ("high",), (P.range_bars,))
    ll = g.ta1("MIN", ("low",), (P.range_bars,))
    c1 = g.lag("close")
    return {
        "range_breakout": g.op("breakout", ("close", g.lag(hh), c1, g.lag(hh, 2), rvol, atr), (P.breakout_rvol,)),
        "range_breakdown": g.op("breakdown", ("close", g.lag(ll), c1, g.lag(ll, 2), rvol, atr),
                                (P.breakout_rvol,)),
        "gap_up": g.op("gap", ("low", g.lag("high"), atr)),
        "gap_down": g.op("gap", (g.lag("low"), "high", atr)),
    }


def declare_candles(g: Graph) -> list[str]:
    """Declare every TA-Lib candlestick function; series in :data:`CANDLES` order."""
    return [g.ta1(c.func, ("open", "high", "low", "close")) for c in CANDLES]


#: TA-Lib's candlestick values, 0 excluded (what :func:`_strength_luts` tabulates).
_LUT_VALUES = (-200, -100, 100, 200)


def _strength_luts(info: CandleInfo) -> tuple[FArray, FArray]:
    """(bullish, bearish) strength of TA-Lib value ``v`` at index ``v // 100 + 2``."""
    bull = np.zeros(5)
    bear = np.zeros(5)
    for value in _LUT_VALUES:
        sign = candle_sign(info, value)
        if sign:
            (bull if sign > 0 else bear)[value // 100 + 2] = candle_strength(info, value)
    return bull, bear


_LUTS = [_strength_luts(info) for info in CANDLES]


def aggregate_candles(cdl: list[np.ndarray[Any, Any]], n: int, part: slice = slice(None)
                      ) -> tuple[FArray, FArray]:
    """Per bar, the strongest bullish and bearish candlestick strengths (0: none).

    ``cdl`` holds every pattern in :data:`CANDLES` order; ``part`` restricts the
    aggregation to some of them (the element-wise maximum of the parts is the whole).
    """
    if len(cdl) != len(CANDLES):
        raise ValueError(f"expected {len(CANDLES)} candlestick series, got {len(cdl)}")
    bull = np.zeros(n)
    bear = np.zeros(n)
    for info, arr, (lut_bull, lut_bear) in zip(CANDLES[part], cdl[part], _LUTS[part], strict=True):
        idx = np.flatnonzero(arr != 0)  # on a bool array: NumPy's fast path (4-8x)
        if len(idx) == 0:
            continue
        vals = arr[idx]
        if np.all((vals % 100 == 0) & (np.abs(vals) <= 200)):  # the usual case: table lookup
            code = vals // 100 + 2
            bull[idx] = np.maximum(bull[idx], lut_bull[code])
            bear[idx] = np.maximum(bear[idx], lut_bear[code])
            continue
        for value in np.unique(vals).tolist():
            sign = candle_sign(info, int(value))
            if sign == 0:
                continue
            pos = idx[arr[idx] == value]
            target = bull if sign > 0 else bear
            target[pos] = np.maximum(target[pos], candle_strength(info, int(value)))
    return bull, bear


_PATTERN_CACHE: dict[tuple[str, int], Pattern] = {}


def candle_pattern(info: CandleInfo, value: int) -> Pattern:
    """The (cached, immutable) :class:`Pattern` of TA-Lib value ``value`` of ``info``."""
    key = (info.func, value)
    pat = _PATTERN_CACHE.get(key)
    if pat is None:
        pat = Pattern(name=info.name, kind="candlestick", direction=candle_direction(info, value),  # type: ignore[arg-type]
                      strength=candle_strength(info, value), description=info.description)
        _PATTERN_CACHE[key] = pat
    return pat


def chart_pattern(name: str, strength: float) -> Pattern:
    """A chart :class:`Pattern` with ``strength``."""
    direction, description = CHART_PATTERNS[name]
    return fast_model(Pattern, {"name": name, "kind": "chart", "direction": direction,
                                "strength": strength, "description": description})
