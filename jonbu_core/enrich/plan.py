"""The enrichment plan: one graph for the requested indicators and everything else.

Context, features, chart-pattern flags and confidence votes use fixed internal
parameters (:class:`Params`), independent of the ``indicators=`` request, so the
feature vector and the confidence mean the same thing in every response. Shared
computations (``ATR(14)`` requested and used internally) are evaluated once.

The feature vector (:data:`FEATURES`, every value in [0, 1]) — normalisation rules:

* ``fixed`` — bounded quantities mapped linearly from a fixed range and clipped:
  RSI, %K, %D, StochRSI %K, MFI, ADX, choppiness: 0…100; Williams %R: −100…0;
  DI balance (+DI−−DI)/(+DI+−DI): −1…1; Bollinger %B: −0.5…1.5; distance of the close
  to EMA 20/50 in ATRs: −5…5; trend R² and the volatility percentile are already
  in [0, 1]; distances to the nearest support/resistance in ATRs: 0…10 (1 when there
  is no level); pattern strengths and the regime one-hot are in [0, 1]; the signal
  bias −1…1.
* ``minmax`` — unbounded quantities scaled by their rolling minimum and maximum over
  the last :attr:`Params.norm_window` bars *including the current one* (so only past
  data is used, and the value is 0.5 when the window is flat): 1-, 5- and 20-bar
  returns, MACD histogram in ATRs, Bollinger bandwidth, NATR, relative volume, trend
  slope (%/bar) and CCI.

Features are present from the first bar where every input is past its warm-up
(:attr:`Plan.feature_lookback`); before that the vector is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jonbu_core.enrich.candles import CANDLES
from jonbu_core.enrich.graph import Graph
from jonbu_core.enrich.registry import IndicatorSpec, unstable_bars


@dataclass(frozen=True)
class Params:
    """Fixed parameters of context, chart patterns, features and confidence."""

    atr: int = 14
    adx: int = 14
    chop: int = 14
    rsi: int = 14
    trend: int = 20
    """Bars of the trend regression."""
    range_bars: int = 20
    """Bars of the range whose breakout/breakdown is reported."""
    volume: int = 20
    """Bars of the volume average (relative volume)."""
    breakout_rvol: float = 1.5
    """Relative volume a breakout needs."""
    percentile: int = 100
    """Bars over which the volatility percentile ranks NATR."""
    norm_window: int = 100
    """Bars of the rolling min-max normalisation of unbounded features."""
    adx_trend: float = 25.0
    chop_trend: float = 50.0
    volatile_pct: float = 90.0
    """PERCENTRANK of NATR (0–100) at or above which the regime is ``volatile``."""
    r2_trend: float = 0.25
    swing: int = 3
    """Bars on each side of a swing pivot (a pivot is known ``swing`` bars later)."""
    pivot_memory: int = 250
    """Pivots older than this many bars are forgotten."""
    level_pivots: int = 12
    """How many of the latest pivots are clustered into levels."""
    level_tol_atr: float = 0.5
    """Pivots closer than this many ATRs join one level."""
    levels_shown: int = 3
    dt_tol_atr: float = 0.5
    """Double top/bottom: the two peaks differ by at most this many ATRs."""
    dt_depth_atr: float = 1.0
    """Double top/bottom: the trough between the peaks is at least this many ATRs deep."""
    dt_min_sep: int = 5
    dt_max_sep: int = 100
    dt_expiry: int = 50
    """Bars after the second peak within which the neckline must break."""


P = Params()

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
    # filled by the pattern/level stage, not by the graph:
    ("cdl_bull", "fixed"), ("cdl_bear", "fixed"), ("chart_bull", "fixed"), ("chart_bear", "fixed"),
    ("dist_support_atr", "fixed"), ("dist_resistance_atr", "fixed"), ("signal_bias", "fixed"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
#: Features computed after the graph (patterns, levels, confidence).
LATE_FEATURES: tuple[str, ...] = (
    "cdl_bull", "cdl_bear", "chart_bull", "chart_bear", "dist_support_atr", "dist_resistance_atr",
    "signal_bias",
)
#: Chart patterns computed by the graph (the rest come from swing pivots).
GRAPH_CHART = ("range_breakout", "range_breakdown", "gap_up", "gap_down")


@dataclass
class Plan:
    """The graph plus the series names every stage reads."""

    specs: list[IndicatorSpec]
    graph: Graph = field(default_factory=Graph)
    indicators: dict[str, str] = field(default_factory=dict)
    """Output key -> series name (or an ``anchored:`` marker)."""
    s: dict[str, str] = field(default_factory=dict)
    """Internal series by role (``atr``, ``adx``, ``regime``…)."""
    features: dict[str, str] = field(default_factory=dict)
    """Graph-computed feature -> series name."""
    votes: list[str] = field(default_factory=list)
    candles: list[str] = field(default_factory=list)
    """CDL series, in :data:`~jonbu_core.enrich.candles.CANDLES` order."""
    chart: dict[str, str] = field(default_factory=dict)

    @property
    def feature_lookback(self) -> int:
        """First bar index with a complete feature vector."""
        return max(self.graph.lookback[s] for s in self.features.values())

    @property
    def internal_warmup(self) -> int:
        """Bars of history the internal stages need so results do not depend on the start."""
        recursive = max(unstable_bars(1.0 / P.adx) * 2, unstable_bars(2.0 / 51.0))
        return max(self.graph.max_lookback, self.feature_lookback) + recursive + P.pivot_memory + P.swing


def build_plan(specs: list[IndicatorSpec]) -> Plan:
    """Declare the requested indicators and the internal series in one graph."""
    plan = Plan(specs=list(specs))
    g = plan.graph
    for spec in specs:
        plan.indicators.update(spec.declare(g))
    hlc = ("high", "low", "close")
    s = plan.s
    s["atr"] = g.ta1("ATR", hlc, (P.atr,))
    s["natr"] = g.ta1("NATR", hlc, (P.atr,))
    s["adx"] = g.ta1("ADX", hlc, (P.adx,))
    s["pdi"] = g.ta1("PLUS_DI", hlc, (P.adx,))
    s["mdi"] = g.ta1("MINUS_DI", hlc, (P.adx,))
    tr = g.ta1("TRANGE", hlc)
    s["chop"] = g.op("chop", (g.ta1("SUM", (tr,), (P.chop,)), g.ta1("MAX", ("high",), (P.chop,)),
                              g.ta1("MIN", ("low",), (P.chop,))), (float(P.chop),))
    s["rsi"] = g.ta1("RSI", ("close",), (P.rsi,))
    _, _, s["macd_hist"] = g.ta("MACD", ("close",), (12, 26, 9))
    s["stoch_k"], s["stoch_d"] = g.ta("STOCH", hlc, (14, 3, 0, 3, 0))
    s["stochrsi_k"] = g.ta("STOCHRSI", ("close",), (14, 14, 3, 0))[0]
    s["willr"] = g.ta1("WILLR", hlc, (14,))
    s["mfi"] = g.ta1("MFI", ("high", "low", "close", "volume"), (14,))
    s["cci"] = g.ta1("CCI", hlc, (20,))
    s["ema20"] = g.ta1("EMA", ("close",), (20,))
    s["ema50"] = g.ta1("EMA", ("close",), (50,))
    up, mid, lo = g.ta("BBANDS", ("close",), (20, 2.0, 2.0, 0))
    s["bb_pctb"] = g.op("pctb", ("close", lo, up))
    s["bb_width"] = g.op("bbwidth", (lo, mid, up))
    n = float(P.trend)
    slope = g.ta1("LINEARREG_SLOPE", ("close",), (P.trend,))
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
    # chart patterns expressible per bar
    hh = g.ta1("MAX", ("high",), (P.range_bars,))
    ll = g.ta1("MIN", ("low",), (P.range_bars,))
    c1 = g.lag("close")
    ch = plan.chart
    rvol, atr = s["relative_volume"], s["atr"]
    ch["range_breakout"] = g.op("breakout", ("close", g.lag(hh), c1, g.lag(hh, 2), rvol, atr),
                                (P.breakout_rvol,))
    ch["range_breakdown"] = g.op("breakdown", ("close", g.lag(ll), c1, g.lag(ll, 2), rvol, atr),
                                 (P.breakout_rvol,))
    ch["gap_up"] = g.op("gap", ("low", g.lag("high"), atr))
    ch["gap_down"] = g.op("gap", (g.lag("low"), "high", atr))
    # candlesticks
    plan.candles = [g.ta1(c.func, ("open", "high", "low", "close")) for c in CANDLES]
    # confidence votes (each in [-1, 1])
    plan.votes = [
        g.op("signmul", (slope, s["trend_r2"])),
        g.op("clipk", (g.op("div_or", (g.op("sub", ("close", s["ema50"])), atr), (0.0, 1.0)),),
             (0.0, 0.5)),
        g.op("clipk", (g.op("div_or", (s["macd_hist"], atr), (0.0, 1.0)),), (0.0, 2.0)),
        g.op("clipk", (s["rsi"],), (50.0, 1.0 / 20.0)),
        g.op("clipk", (g.op("sub", (s["pdi"], s["mdi"])),), (0.0, 1.0 / 25.0)),
        g.op("clipk", (s["stoch_k"],), (50.0, 1.0 / 40.0)),
    ]
    s["vote_sum"] = g.op("nansum0", tuple(plan.votes))
    _declare_features(plan, slope)
    return plan


def _declare_features(plan: Plan, slope: str) -> None:
    g, s, f = plan.graph, plan.s, plan.features

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
    for name in ("range_breakout", "range_breakdown", "gap_up", "gap_down"):
        key = {"range_breakout": "breakout", "range_breakdown": "breakdown"}.get(name, name)
        f[key] = plan.chart[name]
    for code, name in ((1.0, "trending_up"), (2.0, "trending_down"), (3.0, "ranging"), (4.0, "volatile")):
        f[f"regime_{name}"] = g.op("eq", (s["regime"],), (code,))
    del slope
