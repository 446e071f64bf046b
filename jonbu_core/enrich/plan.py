"""The enrichment plan: one graph for the requested indicators and everything else.

Context (:mod:`.context`), chart patterns and candlesticks (:mod:`.patterns`),
confidence votes (:mod:`.confidence`) and features (:mod:`.features`) use fixed
internal parameters (:mod:`.params`), independent of the ``indicators=`` request.
Shared computations (``ATR(14)`` requested and used internally) are declared once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jonbu_core.enrich.confidence import declare_votes
from jonbu_core.enrich.context import declare_context
from jonbu_core.enrich.features import declare_features
from jonbu_core.enrich.graph import Graph
from jonbu_core.enrich.params import P
from jonbu_core.enrich.patterns import declare_candles, declare_chart
from jonbu_core.enrich.registry import IndicatorSpec, unstable_bars


@dataclass
class Plan:
    """The graph plus the series names every stage reads."""

    specs: list[IndicatorSpec]
    graph: Graph = field(default_factory=Graph)
    indicators: dict[str, str] = field(default_factory=dict)
    """Output key -> series name (or an ``anchored:`` marker)."""
    s: dict[str, str] = field(default_factory=dict)
    """Internal series by role (``atr``, ``adx``, ``regime``, ``vote_sum``…)."""
    features: dict[str, str] = field(default_factory=dict)
    """Graph-computed feature -> series name."""
    votes: list[str] = field(default_factory=list)
    candles: list[str] = field(default_factory=list)
    """CDL series, in :data:`~jonbu_core.enrich.candles.CANDLES` order."""
    chart: dict[str, str] = field(default_factory=dict)
    """Graph-computed chart pattern -> series name."""

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
    s = plan.s
    s.update(declare_context(g))
    hlc = ("high", "low", "close")
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
    plan.chart = declare_chart(g, s["atr"], s["relative_volume"])
    plan.candles = declare_candles(g)
    plan.votes = declare_votes(g, s)
    s["vote_sum"] = g.op("nansum0", tuple(plan.votes))
    plan.features = declare_features(g, s, plan.chart)
    return plan
