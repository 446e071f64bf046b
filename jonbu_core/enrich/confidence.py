"""Confidence: how strongly the signals agree, 0–1.

Each signal casts a vote in [−1, +1] (+ bullish, − bearish):

====================  =======================================================
trend                 sign(regression slope) × R²
price vs EMA 50       clip((close − EMA50) / (2·ATR))
MACD histogram        clip(hist / (0.5·ATR))
RSI                   clip((RSI − 50) / 20)
directional movement  clip((+DI − −DI) / 25)
stochastic            clip((%K − 50) / 40)
patterns              clip(bull − bear), bull/bear = the strongest bullish/bearish
                      candlestick plus the strongest bullish/bearish chart
                      pattern (only counted when a pattern is present)
====================  =======================================================

A vote still inside its warm-up counts as 0. ``signal_bias`` is the mean vote
(−1 … +1) and ``confidence = |signal_bias|``: 1 when every signal is at full
strength in the same direction, 0 when they cancel out or say nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jonbu_core.enrich.graph import Graph

FArray = np.ndarray[Any, np.dtype[np.float64]]


def declare_votes(g: Graph, s: dict[str, str]) -> list[str]:
    """Declare the per-bar votes (all but the pattern vote); returns their series."""
    atr = s["atr"]
    return [
        g.op("signmul", (s["slope"], s["trend_r2"])),
        g.op("clipk", (g.op("div_or", (g.op("sub", ("close", s["ema50"])), atr), (0.0, 1.0)),), (0.0, 0.5)),
        g.op("clipk", (g.op("div_or", (s["macd_hist"], atr), (0.0, 1.0)),), (0.0, 2.0)),
        g.op("clipk", (s["rsi"],), (50.0, 1.0 / 20.0)),
        g.op("clipk", (g.op("sub", (s["pdi"], s["mdi"])),), (0.0, 1.0 / 25.0)),
        g.op("clipk", (s["stoch_k"],), (50.0, 1.0 / 40.0)),
    ]


def combine_vector(vote_sum: FArray, n_votes: float, cdl_bull: FArray, cdl_bear: FArray,
                   chart_bull: FArray, chart_bear: FArray) -> tuple[FArray, FArray]:
    """(signal_bias, confidence) arrays; same arithmetic as :func:`combine`."""
    present = (cdl_bull > 0) | (cdl_bear > 0) | (chart_bull > 0) | (chart_bear > 0)
    pvote = np.clip(cdl_bull - cdl_bear + chart_bull - chart_bear, -1.0, 1.0)
    bias = np.where(present, (vote_sum + pvote) / (n_votes + 1.0), vote_sum / n_votes)
    return bias, np.minimum(1.0, np.abs(bias))


def combine(vote_sum: float, n_votes: float, cdl_bull: float, cdl_bear: float, chart_bull: float,
            chart_bear: float) -> tuple[float, float]:
    """(signal_bias, confidence) of one bar."""
    if cdl_bull > 0 or cdl_bear > 0 or chart_bull > 0 or chart_bear > 0:
        pvote = min(1.0, max(-1.0, cdl_bull - cdl_bear + chart_bull - chart_bear))
        bias = (vote_sum + pvote) / (n_votes + 1.0)
    else:
        bias = vote_sum / n_votes
    return bias, min(1.0, abs(bias))
