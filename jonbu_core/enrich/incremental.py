"""Incremental enrichment: one new candle on top of cached state.

::

    enr = IncrementalEnricher("rsi:14,ema:50", timeframe="1m")
    enr.seed(history_table)          # bars before the live ones (see required_warmup)
    ec = enr.update(closed_candle)   # -> EnrichedCandle, state advanced by one bar
    ec = enr.peek(forming_candle)    # same answer update would give; nothing committed

State per indicator is O(1) or O(lookback): TA-Lib streaming handles for every
TA-Lib computation (bit-identical to the Function API the batch path uses), small
ring buffers for lags, running sums for anchored VWAP/OBV, and
:class:`~jonbu_core.enrich.swing_state.SwingState` for pivots and levels. After
``seed(bars[:k])`` and ``update`` of ``bars[k:]`` one by one, every candle equals
what :func:`~jonbu_core.enrich.enrich_candles` gives for the whole table (the tests
check this to 1e-9 on every field).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from jonbu_core.enrich.anchors import AnchorClock, AnchoredState, anchor_kind
from jonbu_core.enrich.batch import (
    CONTEXT_NUMBERS,
    _timeframe,
    _ts,
    candle_pattern,
    chart_pattern,
    make_metadata,
    split_levels,
)
from jonbu_core.enrich.candles import CANDLES, candle_sign, candle_strength
from jonbu_core.enrich.engine import CHART_PATTERNS, cached_plan, compute
from jonbu_core.enrich.graph import base_scalars
from jonbu_core.enrich.models import (
    REGIMES,
    TREND_DIRECTIONS,
    EnrichedCandle,
    MarketContext,
    Pattern,
    fast_model,
)
from jonbu_core.enrich.plan import FEATURE_NAMES, LATE_FEATURES
from jonbu_core.enrich.registry import ANCHORED_OBV, ANCHORED_VWAP, IndicatorSpec, resolve_specs
from jonbu_core.enrich.stepper import Stepper
from jonbu_core.enrich.swing_state import SwingState
from jonbu_core.errors import InvalidInputError
from jonbu_core.models import CANDLE_COLUMNS, Candle

_GRAPH_CHART = ("range_breakout", "range_breakdown", "gap_up", "gap_down")
_CANDLE_INFO = [(c, {v: (candle_sign(c, v), candle_strength(c, v)) for v in (-200, -100, -80, 80, 100, 200)})
                for c in CANDLES]


class IncrementalEnricher:
    """Enrich a stream of candles of one symbol and timeframe, one at a time.

    Parameters
    ----------
    specs : str or list of IndicatorSpec, optional
        Indicators (``"rsi:14,ema:50"``); ``None`` for the default set.
    timeframe : str, optional
        The candles' timeframe (anchor of ``vwap``/``obv``); inferred from the seed
        bars when omitted.
    metadata : dict, optional
        Shared ``metadata`` of every candle produced (default: engine and indicators).
    """

    def __init__(self, specs: str | list[IndicatorSpec] | None = None, *, timeframe: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self.specs = resolve_specs(specs)
        self.plan = plan = cached_plan(tuple(self.specs))
        self.timeframe = timeframe
        self.metadata = metadata if metadata is not None else make_metadata(self.specs)
        s = plan.s
        self._ind_keys = list(plan.indicators)
        graph_keys = [k for k, v in plan.indicators.items() if v not in (ANCHORED_VWAP, ANCHORED_OBV)]
        graph_feats = [f for f in FEATURE_NAMES if f not in LATE_FEATURES]
        slots: list[str] = [plan.indicators[k] for k in graph_keys]
        self._n_ind = len(slots)
        ctx = ["regime", "trend_direction", *CONTEXT_NUMBERS, "atr", "vote_sum"]
        slots += [s[k] for k in ctx]
        slots += [plan.chart[k] for k in _GRAPH_CHART]
        slots += list(plan.candles)
        slots += [plan.features[f] for f in graph_feats]
        self._graph_feats = graph_feats
        self.stepper = Stepper(plan.graph, slots)
        self._anch_pos = {k: i for i, k in enumerate(self._ind_keys)
                          if plan.indicators[k] in (ANCHORED_VWAP, ANCHORED_OBV)}
        # index of each indicator key's value in the combined list built per bar
        src: list[int] = []
        gi = 0
        for k in self._ind_keys:
            name = plan.indicators[k]
            if name == ANCHORED_VWAP:
                src.append(-1)
            elif name == ANCHORED_OBV:
                src.append(-2)
            else:
                src.append(gi)
                gi += 1
        self._src = src
        self._has_anchored = bool(self._anch_pos)
        self._nan_keys = [k for k, v in plan.indicators.items() if v.startswith("ratio[")]
        self._n_votes = float(len(plan.votes))
        self._fstart = plan.feature_lookback
        self.swing = SwingState()
        self.anchored = AnchoredState()
        self.clock = AnchorClock(anchor_kind(timeframe))
        self.prev_close: float | None = None
        self.last_ts: datetime | None = None
        self.count = 0

    # --- seeding ---------------------------------------------------------------------

    def seed(self, bars: pa.Table) -> None:
        """Load history (ascending bars); the state then stands after its last bar.

        Call once, before any :meth:`update`. Seeding with at least
        :func:`~jonbu_core.enrich.service.required_warmup` bars makes every later
        candle independent of where the history starts.
        """
        if self.count:
            raise InvalidInputError("seed() must come before the first update()")
        tf = _timeframe(bars, self.timeframe)
        res = compute(bars, self.specs, tf)
        if self.timeframe is None:
            self.clock = AnchorClock(res.anchor)
        self.stepper.seed(res.series, res.n)
        high, low, close = res.series["high"], res.series["low"], res.series["close"]
        atr = res.series[self.plan.s["atr"]].tolist()
        step = self.swing.step
        for i, (h, lo, c) in enumerate(zip(high.tolist(), low.tolist(), close.tolist(), strict=True)):
            step(h, lo, c, atr[i])
        if res.n:
            self._seed_anchored(res)
            self.prev_close = float(close[-1])
            self.last_ts = _ts(int(res.ts_us[-1]))
        self.count = res.n

    def _seed_anchored(self, res: Any) -> None:
        ts = res.ts_us.tolist()
        last = self.clock.id_of(_ts(ts[-1]))
        first = len(ts) - 1
        while first > 0 and self.clock.id_of(_ts(ts[first - 1])) == last:
            first -= 1
        s = res.series
        price, pv, vol, sv = (s[k][first:].tolist() for k in ("price", "pv", "volume", "sv"))
        for i in range(len(price)):
            self.anchored.step(last, price[i], pv[i], vol[i], sv[i])

    # --- one bar ---------------------------------------------------------------------

    def update(self, candle: Candle) -> EnrichedCandle:
        """Enrich a closed candle and advance the state by one bar.

        Raises
        ------
        InvalidInputError
            If the candle is not after the previous one or has non-finite values.
        """
        return self._step(candle, True)

    def peek(self, candle: Candle) -> EnrichedCandle:
        """Enrich a forming candle as :meth:`update` would, without changing any state."""
        return self._step(candle, False)

    def _step(self, candle: Candle, commit: bool) -> EnrichedCandle:
        o, h, lo, c, v = candle.open, candle.high, candle.low, candle.close, candle.volume
        if self.last_ts is not None and candle.ts <= self.last_ts:
            raise InvalidInputError(f"candle at {candle.ts} is not after the previous one ({self.last_ts})")
        if not (math.isfinite(o) and math.isfinite(h) and math.isfinite(lo) and math.isfinite(c)
                and math.isfinite(v)):
            raise InvalidInputError(f"candle at {candle.ts} has non-finite values")
        index = self.count
        base = base_scalars(o, h, lo, c, v, candle.vwap, self.prev_close)
        vals = self.stepper.step(base, commit)
        ni = self._n_ind
        regime, tdir, t_strength, t_slope, t_r2, vol_pct, rvol, atr, votes = vals[ni:ni + 9]
        p = ni + 9
        chart_vals = vals[p:p + 4]
        p += 4
        cdl_vals = vals[p:p + len(CANDLES)]
        p += len(CANDLES)
        feat_vals = vals[p:]
        swing = self.swing if commit else self.swing.clone()
        sw = swing.step(h, lo, c, atr)
        # indicators
        if self._has_anchored:
            a_vwap, a_obv = self.anchored.step(self.clock.id_of(candle.ts), base[5], base[6], v, base[7], commit)
            gvals = vals[:ni]
            combined = [gvals[s] if s >= 0 else (a_vwap if s == -1 else a_obv) for s in self._src]
            indicators: dict[str, float | None] = dict(zip(self._ind_keys, combined, strict=True))
        else:
            indicators = dict(zip(self._ind_keys, vals[:ni], strict=True))
        if self.stepper._fast is None:
            indicators = {k: (x if x == x else None) for k, x in indicators.items()}
        else:
            for k in self._nan_keys:
                x = indicators[k]
                if x != x:
                    indicators[k] = None
        # patterns
        patterns: list[Pattern] = []
        cdl_bull = cdl_bear = 0.0
        for (info, table), value in zip(_CANDLE_INFO, cdl_vals, strict=True):
            if value:
                iv = int(value)
                patterns.append(candle_pattern(info, iv))
                sv = table.get(iv)
                if sv is None:
                    sv = table[iv] = (candle_sign(info, iv), candle_strength(info, iv))
                sign, strength = sv
                if sign > 0:
                    if strength > cdl_bull:
                        cdl_bull = strength
                elif sign < 0 and strength > cdl_bear:
                    cdl_bear = strength
        chart = dict(zip(_GRAPH_CHART, chart_vals, strict=True))
        chart["double_top"] = sw.double_top
        chart["double_bottom"] = sw.double_bottom
        chart["higher_highs"] = sw.higher_highs
        chart["lower_lows"] = sw.lower_lows
        chart_bull = chart_bear = 0.0
        for name, (direction, _) in CHART_PATTERNS.items():
            strength = chart[name]
            if strength > 0:
                patterns.append(chart_pattern(name, strength))
                if direction == "bullish":
                    chart_bull = max(chart_bull, strength)
                else:
                    chart_bear = max(chart_bear, strength)
        # confidence
        if cdl_bull > 0 or cdl_bear > 0 or chart_bull > 0 or chart_bear > 0:
            pvote = min(1.0, max(-1.0, cdl_bull - cdl_bear + chart_bull - chart_bear))
            bias = (votes + pvote) / (self._n_votes + 1.0)
        else:
            bias = votes / self._n_votes
        confidence = min(1.0, abs(bias))
        # context
        support, resistance = split_levels(sw.level_prices, sw.level_touches, c, atr)
        ctx = fast_model(MarketContext, {
            "regime": REGIMES[int(regime)], "trend_direction": TREND_DIRECTIONS[int(tdir)],
            "trend_strength": _none(t_strength), "trend_slope_pct": _none(t_slope), "trend_r2": _none(t_r2),
            "volatility_percentile": _none(vol_pct), "relative_volume": _none(rvol),
            "support": support, "resistance": resistance, "signal_bias": bias})
        # features
        if index >= self._fstart:
            features = dict(zip(self._graph_feats, feat_vals, strict=True))
            features["cdl_bull"] = cdl_bull
            features["cdl_bear"] = cdl_bear
            features["chart_bull"] = chart_bull
            features["chart_bear"] = chart_bear
            features["dist_support_atr"] = _dist01(support[0].distance_atr) if support else 1.0
            features["dist_resistance_atr"] = _dist01(resistance[0].distance_atr) if resistance else 1.0
            features["signal_bias"] = min(1.0, max(0.0, (bias - -1.0) / 2.0))
        else:
            features = {}
        if commit:
            self.count += 1
            self.prev_close = c
            self.last_ts = candle.ts
        return fast_model(EnrichedCandle, {
            "ohlcv": candle, "indicators": indicators, "patterns": patterns, "context": ctx,
            "features": features, "confidence": confidence, "processed_at": datetime.now(UTC),
            "metadata": self.metadata})


def _none(x: float) -> float | None:
    return None if x != x else x


def _dist01(d: float) -> float:
    return min(1.0, max(0.0, (d - 0.0) / 10.0))


def as_candle(row: dict[str, Any]) -> Candle:
    """A :class:`Candle` from a bar row (dict with ``ts open high low close volume``…)."""
    return Candle.model_validate({k: row.get(k) for k in CANDLE_COLUMNS})


__all__ = ["IncrementalEnricher", "as_candle"]
