"""Market context: regime, trend, volatility, relative volume, support/resistance.

Definitions (parameters in :class:`~jonbu_core.enrich.params.Params`):

* ``trend_slope_pct`` — slope of the least-squares line through the last ``trend``
  closes (TA-Lib ``LINEARREG_SLOPE``), in % of the current close per bar;
  ``trend_r2`` — its R² = slope²·Σ(x−x̄)² / (n·VAR(close)), clipped to [0, 1];
  ``trend_direction`` — ``up``/``down`` when R² ≥ ``r2_trend`` and the slope is
  positive/negative, else ``flat``; ``trend_strength`` = ½·R² + ½·min(1, ADX/50).
* ``volatility_percentile`` — the share of the previous ``percentile`` NATR values
  below the current one (TA-Lib ``PERCENTRANK``/100).
* ``relative_volume`` — volume / mean volume of the previous ``volume`` bars (1 when
  that mean is 0).
* ``regime`` — ``volatile`` when the volatility percentile is ≥ 0.9; else
  ``trending_up``/``trending_down`` when ADX ≥ 25 and the choppiness index < 50
  (up when +DI ≥ −DI); else ``ranging``; ``unknown`` inside the warm-up.
* ``support``/``resistance`` — clustered swing pivots
  (:mod:`jonbu_core.enrich.swings`), nearest first, at most ``levels_shown`` each,
  with their distance from the close in ATRs.
"""

from __future__ import annotations

from bisect import bisect_right

from jonbu_core.enrich.graph import Graph
from jonbu_core.enrich.models import Level
from jonbu_core.enrich.params import P
from jonbu_core.models import fast_model

#: Numeric context fields, in :class:`~jonbu_core.enrich.models.MarketContext` order.
CONTEXT_NUMBERS = ("trend_strength", "trend_slope_pct", "trend_r2", "volatility_percentile",
                   "relative_volume")


def declare_context(g: Graph) -> dict[str, str]:
    """Declare the context series; returns role -> series name."""
    hlc = ("high", "low", "close")
    s: dict[str, str] = {}
    s["atr"] = g.ta1("ATR", hlc, (P.atr,))
    s["natr"] = g.ta1("NATR", hlc, (P.atr,))
    s["adx"] = g.ta1("ADX", hlc, (P.adx,))
    s["pdi"] = g.ta1("PLUS_DI", hlc, (P.adx,))
    s["mdi"] = g.ta1("MINUS_DI", hlc, (P.adx,))
    tr = g.ta1("TRANGE", hlc)
    s["chop"] = g.op("chop", (g.ta1("SUM", (tr,), (P.chop,)), g.ta1("MAX", ("high",), (P.chop,)),
                              g.ta1("MIN", ("low",), (P.chop,))), (float(P.chop),))
    n = float(P.trend)
    s["slope"] = slope = g.ta1("LINEARREG_SLOPE", ("close",), (P.trend,))
    var = g.ta1("VAR", ("close",), (P.trend, 1.0))
    s["trend_slope_pct"] = g.op("div_or", (slope, "close"), (0.0, 100.0))
    s["trend_r2"] = g.op("r2", (slope, var), (n, n * (n * n - 1.0) / 12.0))
    s["trend_strength"] = g.op("tstrength", (s["trend_r2"], s["adx"]))
    pct = g.ta1("PERCENTRANK", (s["natr"],), (P.percentile,))
    s["volatility_percentile"] = g.op("lin01", (pct,), (0.0, 100.0))
    s["relative_volume"] = g.op("div_or", ("volume", g.lag(g.ta1("SMA", ("volume",), (P.volume,)))),
                                (1.0, 1.0))
    s["regime"] = g.op("regime", (s["adx"], s["pdi"], s["mdi"], s["chop"], pct),
                       (P.adx_trend, P.chop_trend, P.volatile_pct))
    s["trend_direction"] = g.op("tdir", (slope, s["trend_r2"]), (P.r2_trend,))
    return s


def split_levels(prices: list[float], touches: list[int], close: float, atr: float
                 ) -> tuple[list[Level], list[Level]]:
    """Support (at or below the close, nearest first) and resistance from ascending levels."""
    cut = bisect_right(prices, close)
    shown = P.levels_shown
    lo = max(0, cut - shown)
    hi = min(len(prices), cut + shown)
    pos_atr = atr > 0
    support: list[Level] = []  # plain loops: this runs on every incremental update
    for i in range(cut - 1, lo - 1, -1):
        support.append(fast_model(Level, {"price": prices[i], "touches": touches[i], "distance_atr": (
            (close - prices[i]) / atr if pos_atr else 0.0)}))
    resistance: list[Level] = []
    for i in range(cut, hi):
        resistance.append(fast_model(Level, {"price": prices[i], "touches": touches[i], "distance_atr": (
            (prices[i] - close) / atr if pos_atr else 0.0)}))
    return support, resistance
