"""The ML feature vector: flat, numeric, every value in [0, 1], no look-ahead.

Normalisation rules, per feature (:data:`FEATURES`):

* ``fixed`` — bounded quantities mapped linearly from a fixed range and clipped:
  RSI, %K, %D, StochRSI %K, MFI, ADX, choppiness: 0…100; Williams %R: −100…0;
  DI balance (+DI−−DI)/(+DI+−DI): −1…1; Bollinger %B: −0.5…1.5; distance of the
  close to EMA 20/50 in ATRs: −5…5; trend R² and the volatility percentile are
  already in [0, 1]; distance to the nearest support/resistance in ATRs: 0…10 (1
  when there is no level); breakout/gap/pattern strengths and the regime one-hot
  are in [0, 1]; the signal bias: −1…1.
* ``minmax`` — unbounded quantities scaled by their rolling minimum and maximum
  over the last ``norm_window`` bars *including the current one* (only past data;
  0.5 when the window is flat): 1-, 5- and 20-bar returns, MACD histogram in ATRs,
  Bollinger bandwidth, NATR, relative volume, trend slope (%/bar) and CCI.

The vector is present from the first bar where every input is past its warm-up
(:attr:`~jonbu_core.enrich.plan.Plan.feature_lookback`); before that it is empty.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jonbu_core.enrich.graph import Graph
from jonbu_core.enrich.params import P

FArray = np.ndarray[Any, np.dtype[np.float64]]

#: (feature name, rule) in vector order.
FEATURES: tuple[tuple[str, str], ...] = (
    ("rsi", "fixed"), ("stoch_k", "fixed"), ("stoch_d", "fixed"), ("stochrsi_k", "fixed"),
    ("willr", "fixed"), ("mfi", "fixed"), ("adx", "fixed"), ("di_balance", "fixed"),
    ("chop", "fixed"), ("bb_pctb", "fixed"), ("dist_ema20_atr", "fixed"), ("dist_ema50_atr", "fixed"),
    ("trend_r2", "fixed"), ("volatility_pct", "fixed"),
    ("ret_1", "minmax"), ("ret_5", "minmax"), ("ret_20", "minmax"), ("macd_hist_atr", "minmax"),
    ("bb_width", "minmax"), ("natr", "minmax"), ("rel_volume", "minmax"), ("trend_slope", "minmax"),
    ("cci", "minmax"),
    ("breakout", "fixed"), ("breakdown", "fixed"), ("gap_up", "fixed"), ("gap_down", "fixed"),
    ("regime_trending_up", "fixed"), ("regime_trending_down", "fixed"), ("regime_ranging", "fixed"),
    ("regime_volatile", "fixed"),
    # computed after the graph, from patterns, levels and confidence:
    ("cdl_bull", "fixed"), ("cdl_bear", "fixed"), ("chart_bull", "fixed"), ("chart_bear", "fixed"),
    ("dist_support_atr", "fixed"), ("dist_resistance_atr", "fixed"), ("signal_bias", "fixed"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
#: Features computed after the graph (patterns, levels, confidence), last in the vector.
LATE_FEATURES: tuple[str, ...] = (
    "cdl_bull", "cdl_bear", "chart_bull", "chart_bear", "dist_support_atr", "dist_resistance_atr",
    "signal_bias",
)
#: Features computed by the graph, in vector order.
GRAPH_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n not in LATE_FEATURES)


def declare_features(g: Graph, s: dict[str, str], chart: dict[str, str]) -> dict[str, str]:
    """Declare the graph-computed features; returns feature -> series name."""
    f: dict[str, str] = {}

    def fixed(x: str, lo: float, hi: float) -> str:
        return g.op("lin01", (x,), (lo, hi - lo))

    def minmax(x: str) -> str:
        mn, mx = g.ta("MINMAX", (x,), (P.norm_window,))
        return g.op("mm01", (x, mn, mx))

    f["rsi"] = fixed(s["rsi"], 0.0, 100.0)
    f["stoch_k"] = fixed(s["stoch_k"], 0.0, 100.0)
    f["stoch_d"] = fixed(s["stoch_d"], 0.0, 100.0)
    f["stochrsi_k"] = fixed(s["stochrsi_k"], 0.0, 100.0)
    f["willr"] = fixed(s["willr"], -100.0, 0.0)
    f["mfi"] = fixed(s["mfi"], 0.0, 100.0)
    f["adx"] = fixed(s["adx"], 0.0, 100.0)
    f["di_balance"] = fixed(g.op("balance", (s["pdi"], s["mdi"])), -1.0, 1.0)
    f["chop"] = fixed(s["chop"], 0.0, 100.0)
    f["bb_pctb"] = fixed(s["bb_pctb"], -0.5, 1.5)
    for name, ema in (("dist_ema20_atr", s["ema20"]), ("dist_ema50_atr", s["ema50"])):
        f[name] = fixed(g.op("div_or", (g.op("sub", ("close", ema)), s["atr"]), (0.0, 1.0)), -5.0, 5.0)
    f["trend_r2"] = s["trend_r2"]
    f["volatility_pct"] = s["volatility_percentile"]
    for k in (1, 5, 20):
        f[f"ret_{k}"] = minmax(g.ta1("ROCP", ("close",), (k,)))
    f["macd_hist_atr"] = minmax(g.op("div_or", (s["macd_hist"], s["atr"]), (0.0, 1.0)))
    f["bb_width"] = minmax(s["bb_width"])
    f["natr"] = minmax(s["natr"])
    f["rel_volume"] = minmax(s["relative_volume"])
    f["trend_slope"] = minmax(s["trend_slope_pct"])
    f["cci"] = minmax(s["cci"])
    f["breakout"], f["breakdown"] = chart["range_breakout"], chart["range_breakdown"]
    f["gap_up"], f["gap_down"] = chart["gap_up"], chart["gap_down"]
    for code, name in ((1.0, "trending_up"), (2.0, "trending_down"), (3.0, "ranging"), (4.0, "volatile")):
        f[f"regime_{name}"] = g.op("eq", (s["regime"],), (code,))
    return f


def dist01(d: float) -> float:
    """A level distance in ATRs mapped from 0…10 (no level: 1, see :func:`dist01_vector`)."""
    return min(1.0, max(0.0, d / 10.0))


def dist01_vector(d: FArray) -> FArray:
    """Vectorised :func:`dist01` (NaN: no level)."""
    out = d / 10.0
    np.clip(out, 0.0, 1.0, out=out)
    out[np.isnan(d)] = 1.0
    return out


def bias01(bias: float) -> float:
    """The signal bias mapped from −1…1."""
    return min(1.0, max(0.0, (bias + 1.0) / 2.0))


def bias01_vector(bias: FArray) -> FArray:
    """Vectorised :func:`bias01`."""
    out = (bias + 1.0) / 2.0
    np.clip(out, 0.0, 1.0, out=out)
    return out
