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

Once warm, the TA-Lib handles, lags, element-wise operations and anchored sums of a
bar run in one C call (:mod:`jonbu_core.enrich.native`, ~3 µs for the default set);
what remains in Python is building the :class:`EnrichedCandle` (dicts, patterns,
levels) and the swing state — about 20 µs per candle in all (``bench/enrich.py``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from jonbu_core.enrich.anchors import AnchorClock, AnchoredState, anchor_kind
from jonbu_core.enrich.batch import _timeframe, _ts, make_metadata
from jonbu_core.enrich.candles import CANDLES, candle_sign, candle_strength
from jonbu_core.enrich.confidence import combine
from jonbu_core.enrich.context import CONTEXT_NUMBERS, split_levels
from jonbu_core.enrich.engine import cached_plan, compute
from jonbu_core.enrich.features import GRAPH_FEATURES, LATE_FEATURES, bias01, dist01
from jonbu_core.enrich.models import (
    REGIMES,
    TREND_DIRECTIONS,
    EnrichedCandle,
    MarketContext,
    Pattern,
)
from jonbu_core.enrich.patterns import CHART_PATTERNS, GRAPH_CHART, candle_pattern, chart_pattern
from jonbu_core.enrich.registry import ANCHORED_OBV, ANCHORED_VWAP, IndicatorSpec, resolve_specs
from jonbu_core.enrich.stepper import Stepper
from jonbu_core.enrich.swing_state import SwingState
from jonbu_core.errors import InvalidInputError
from jonbu_core.models import CANDLE_COLUMNS, Candle, fast_model

_CANDLE_HITS: list[dict[int, tuple[Pattern, int, float]]] = [{} for _ in CANDLES]
"""Per candlestick function: TA-Lib value -> (Pattern, sign, strength), filled on first sight."""
_CHART_ORDER = (*GRAPH_CHART, "double_top", "double_bottom", "higher_highs", "lower_lows")
_CHART_BULLISH = tuple(CHART_PATTERNS[name][0] == "bullish" for name in _CHART_ORDER)


def _candle_hit(i: int, value: int) -> tuple[Pattern, int, float]:
    info = CANDLES[i]
    hit = (candle_pattern(info, int(value)), candle_sign(info, int(value)), candle_strength(info, int(value)))
    _CANDLE_HITS[i][value] = hit
    return hit
_REGIME_NAME = {float(i): name for i, name in enumerate(REGIMES)}
_TDIR_NAME = {float(i): name for i, name in enumerate(TREND_DIRECTIONS)}


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
        self.stepper = Stepper(plan.graph)
        self._has_anchored = any(v in (ANCHORED_VWAP, ANCHORED_OBV) for v in plan.indicators.values())
        self.stepper.set_output(self._output(warm=True), self._output(warm=False),
                                ["av", "ao"] if self._has_anchored else [],
                                {"_nn": _none, "_REG": _REGIME_NAME, "_TDIR": _TDIR_NAME},
                                sparse=list(plan.candles))
        self._n_votes = float(len(plan.votes))
        self._fstart = plan.feature_lookback
        self.swing = SwingState()
        self.anchored = AnchoredState()
        if self._has_anchored:
            self.stepper.set_anchored(self.anchored)
        self.clock = AnchorClock(anchor_kind(timeframe))
        self.prev_close: float | None = None
        self.last_ts: datetime | None = None
        self.count = 0

    def _output(self, warm: bool) -> str:
        """The expression the graph step returns (see :meth:`Stepper.set_output`).

        ``(indicators, graph features, context without levels, atr, vote sum,
        (graph chart patterns), candlestick hits)``: the hits are ``[k, value, ...]``
        for the candlestick functions (``CANDLES[k]``) that fired.
        """
        plan, v = self.plan, self.stepper.var
        ind = []
        for key, name in plan.indicators.items():
            if name == ANCHORED_VWAP:
                val = "av"
            elif name == ANCHORED_OBV:
                val = "ao"
            else:
                nan_ok = not warm or name.startswith("ratio[")
                val = f"_nn({v(name)})" if nan_ok else v(name)
            ind.append(f"{key!r}: {val}")
        # the late features (patterns, levels, bias) are filled in by _step: their keys are
        # already there so the dict is built at its final size
        feats = ", ".join([*(f"{f!r}: {v(plan.features[f])}" for f in GRAPH_FEATURES),
                           *(f"{f!r}: 0.0" for f in LATE_FEATURES)])
        s = plan.s
        nums = ", ".join(f"{k!r}: {v(s[k]) if warm else f'_nn({v(s[k])})'}" for k in CONTEXT_NUMBERS)
        ctx = (f"{{'regime': _REG[{v(s['regime'])}], 'trend_direction': _TDIR[{v(s['trend_direction'])}], "
               f"{nums}, 'support': None, 'resistance': None, 'signal_bias': 0.0}}")  # filled in by _step
        chart = ", ".join(v(plan.chart[k]) for k in GRAPH_CHART)
        return (f"({{{', '.join(ind)}}}, {{{feats}}}, {ctx}, {v(s['atr'])}, {v(s['vote_sum'])}, "
                f"({chart},), _hits)")

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
        if res.n:
            self._seed_anchored(res)  # before the stepper's seed: it may compile the fast path
        self.stepper.seed(res.series, res.n)
        high, low, close = res.series["high"], res.series["low"], res.series["close"]
        atr = res.series[self.plan.s["atr"]].tolist()
        step = self.swing.step
        for i, (h, lo, c) in enumerate(zip(high.tolist(), low.tolist(), close.tolist(), strict=True)):
            step(h, lo, c, atr[i])
        if res.n:
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
        if (o - o) + (h - h) + (lo - lo) + (c - c) + (v - v) != 0.0:  # NaN unless all finite (hot path)
            raise InvalidInputError(f"candle at {candle.ts} has non-finite values")
        price = candle.vwap
        if price is None or price != price:
            price = (h + lo + c) / 3.0
        prev = self.prev_close  # the base series of graph.base_series, for one bar
        sv = math.nan if prev is None else (v if c > prev else (-v if c < prev else 0.0))
        base = (o, h, lo, c, v, price, price * v, sv)
        extra: tuple[Any, ...] = (self.clock.id_of(candle.ts),) if self._has_anchored else ()
        indicators, features, ctx, atr, votes, chart_vals, cdl_hits = self.stepper.step(base, extra, commit)
        top, bottom, hh, ll, level_prices, level_touches = (
            self.swing if commit else self.swing.clone()).step(h, lo, c, atr)
        # patterns (TA-Lib candlesticks, then chart patterns)
        patterns: list[Pattern] = []
        cdl_bull = cdl_bear = 0.0
        hits = iter(cdl_hits)
        for i, value in zip(hits, hits, strict=True):
            hit = _CANDLE_HITS[i].get(value)
            if hit is None:
                hit = _candle_hit(i, value)
            patterns.append(hit[0])
            if hit[1] > 0:
                if hit[2] > cdl_bull:
                    cdl_bull = hit[2]
            elif hit[1] < 0 and hit[2] > cdl_bear:
                cdl_bear = hit[2]
        chart_bull = chart_bear = 0.0
        chart = (*chart_vals, top, bottom, hh, ll)
        if any(chart):
            for k, strength in enumerate(chart):
                if strength > 0:
                    patterns.append(chart_pattern(_CHART_ORDER[k], strength))
                    if _CHART_BULLISH[k]:
                        if strength > chart_bull:
                            chart_bull = strength
                    elif strength > chart_bear:
                        chart_bear = strength
        bias, confidence = combine(votes, self._n_votes, cdl_bull, cdl_bear, chart_bull, chart_bear)
        support, resistance = split_levels(level_prices, level_touches, c, atr)
        ctx["support"] = support
        ctx["resistance"] = resistance
        ctx["signal_bias"] = bias
        if self.count >= self._fstart:
            features["cdl_bull"] = cdl_bull
            features["cdl_bear"] = cdl_bear
            features["chart_bull"] = chart_bull
            features["chart_bear"] = chart_bear
            features["dist_support_atr"] = dist01(support[0].distance_atr) if support else 1.0
            features["dist_resistance_atr"] = dist01(resistance[0].distance_atr) if resistance else 1.0
            features["signal_bias"] = bias01(bias)
        else:
            features = {}
        if commit:
            self.count += 1
            self.prev_close = c
            self.last_ts = candle.ts
        return fast_model(EnrichedCandle, {
            "ohlcv": candle, "indicators": indicators, "patterns": patterns,
            "context": fast_model(MarketContext, ctx), "features": features, "confidence": confidence,
            "processed_at": datetime.now(UTC), "metadata": self.metadata})


def _none(x: float) -> float | None:
    return None if x != x else x


def as_candle(row: dict[str, Any]) -> Candle:
    """A :class:`Candle` from a bar row (dict with ``ts open high low close volume``…)."""
    return Candle.model_validate({k: row.get(k) for k in CANDLE_COLUMNS})


__all__ = ["IncrementalEnricher", "as_candle"]
