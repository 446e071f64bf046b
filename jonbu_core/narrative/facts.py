"""The facts a narrative states, read once from an enriched candle.

Every renderer (text, markdown, JSON, keywords, summaries) works from one
:class:`CandleFacts`, so the formats always agree. Missing or non-finite values
(an indicator inside its warm-up) become ``None`` and their sentence is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from jonbu_core.models import Candle, to_utc
from jonbu_core.narrative.patterns import PatternFact, pattern_fact
from jonbu_core.timeframe import EXCHANGE_TZ, Timeframe, parse_timeframe

if TYPE_CHECKING:
    from jonbu_core.enrich.models import EnrichedCandle, Level, Pattern

#: RSI thresholds (Wilder's classic 70/30).
RSI_OVERBOUGHT = 70.0
RSI_OVERSOLD = 30.0
#: Stochastic %K thresholds.
STOCH_OVERBOUGHT = 80.0
STOCH_OVERSOLD = 20.0
#: ADX above which a trend counts as strong.
ADX_STRONG = 25.0
#: Relative volume above/below which volume is called high/low.
HIGH_VOLUME = 1.5
LOW_VOLUME = 0.6
#: |signal_bias| above which the signals "lean" one way.
BIAS_LEAN = 0.2

_DEFAULT_KEYS = {
    "rsi": "rsi_14",
    "macd": "macd_12_26_9",
    "macd_signal": "macd_signal_12_26_9",
    "macd_hist": "macd_hist_12_26_9",
    "bb_upper": "bb_upper_20_2",
    "bb_lower": "bb_lower_20_2",
    "stoch_k": "stoch_k_14_3_3",
    "adx": "adx_14",
    "atr": "atr_14",
    "vol_sma": "vol_sma_20",
}
_PREFIXES = {
    "rsi": "rsi_",
    "macd": "macd_",
    "macd_signal": "macd_signal_",
    "macd_hist": "macd_hist_",
    "bb_upper": "bb_upper_",
    "bb_lower": "bb_lower_",
    "stoch_k": "stoch_k_",
    "adx": "adx_",
    "atr": "atr_",
    "vol_sma": "vol_sma_",
}
_NOT_MACD_LINE = ("macd_signal_", "macd_hist_")

TIMEFRAME_LABELS = {
    "1m": "1-minute", "5m": "5-minute", "15m": "15-minute", "30m": "30-minute",
    "1h": "1-hour", "4h": "4-hour", "1d": "daily", "1w": "weekly",
}


_INF = math.inf


def finite(v: float | None) -> float | None:
    """``v`` when it is a finite number, else ``None`` (NaN and ±inf included)."""
    if v is None:
        return None
    if -_INF < v < _INF:  # False for NaN too
        return float(v)
    return None


def _indicator(ind: dict[str, float | None], name: str) -> tuple[str | None, float | None]:
    key = _DEFAULT_KEYS[name]
    if key in ind:
        v = ind[key]
        return key, (v if v is not None and -_INF < v < _INF else None)
    prefix = _PREFIXES[name]
    for k in sorted(ind):
        if k.startswith(prefix) and not (name == "macd" and k.startswith(_NOT_MACD_LINE)):
            return k, finite(ind[k])
    return None, None


@dataclass(slots=True)
class LevelFact:
    """The nearest support or resistance level."""

    price: float
    touches: int
    distance_atr: float | None


@dataclass(slots=True)
class CandleFacts:
    """Everything a narrative of one candle may say."""

    symbol: str
    timeframe: str
    timeframe_label: str
    ts: datetime
    local_time: str
    """``2024-01-02 09:30 EST`` (intraday) or ``2024-01-02`` (daily and weekly)."""
    is_intraday: bool
    open: float
    high: float
    low: float
    close: float
    volume: float
    change_pct: float | None
    change_basis: str
    """``previous close`` or ``open``."""
    relative_volume: float | None
    rsi: float | None
    rsi_period: str
    rsi_state: str | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    macd_state: str | None
    """``bullish`` (MACD above its signal) or ``bearish``."""
    macd_cross: str | None
    """``bullish``/``bearish`` when the MACD crossed its signal on this candle."""
    band: str | None
    """``above_upper``, ``upper``, ``below_lower``, ``lower`` or ``None``."""
    stoch_k: float | None
    stoch_state: str | None
    adx: float | None
    patterns: tuple[PatternFact, ...]
    regime: str
    trend_direction: str
    trend_strength: float | None
    trend_slope_pct: float | None
    trend_r2: float | None
    support: LevelFact | None
    resistance: LevelFact | None
    confidence: float
    signal_bias: float | None
    variant: int
    """Stable per-candle number that picks among explicit template variants."""


@lru_cache(maxsize=64)
def _timeframe(name: str) -> Timeframe:
    return parse_timeframe(name)


def _pattern_order(p: Pattern) -> tuple[float, str]:
    return (-p.strength, p.name)


_ZONE_HOURS: dict[tuple[str, int], tuple[timedelta, str]] = {}


def _zone_at(ts: datetime, tz: ZoneInfo) -> tuple[timedelta, str]:
    """UTC offset and abbreviation of ``tz`` at ``ts`` (cached per UTC hour: zones change on the hour)."""
    key = (tz.key, int(ts.timestamp()) // 3600)
    hit = _ZONE_HOURS.get(key)
    if hit is None:
        local = ts.astimezone(tz)
        hit = (local.utcoffset() or timedelta(0), local.tzname() or tz.key)
        if len(_ZONE_HOURS) > 200_000:
            _ZONE_HOURS.clear()
        _ZONE_HOURS[key] = hit
    return hit


def local_time_label(ts: datetime, timeframe: str, tz: ZoneInfo = EXCHANGE_TZ) -> str:
    """The candle's time in the exchange's zone, with the zone's abbreviation for intraday bars.

    ``2024-01-02 09:30 EST`` for intraday candles, ``2024-01-02`` for daily and weekly ones.
    """
    utc = to_utc(ts)
    offset, abbr = _zone_at(utc, tz)
    local = utc + offset
    if _timeframe(timeframe).is_intraday:
        return f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d} {abbr}"
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d}"


def _level(levels: list[Level]) -> LevelFact | None:
    if not levels:
        return None
    lv = levels[0]
    price = finite(lv.price)
    if price is None:
        return None
    return LevelFact(price, int(lv.touches), finite(lv.distance_atr))


def extract_facts(
    enriched: EnrichedCandle,
    symbol: str,
    timeframe: str,
    previous: EnrichedCandle | Candle | None = None,
    tz: ZoneInfo = EXCHANGE_TZ,
) -> CandleFacts:
    """Read the facts of ``enriched`` (the candle before it improves change and crossovers).

    Parameters
    ----------
    enriched : EnrichedCandle
        The candle.
    symbol, timeframe : str
        Its key (the enriched candle does not carry them).
    previous : EnrichedCandle or Candle, optional
        The preceding candle: the change is then measured from its close (else from
        this candle's open) and a MACD crossover can be told.
    tz : ZoneInfo
        The exchange's zone for the local time.

    Returns
    -------
    CandleFacts
    """
    tf = _timeframe(timeframe)
    c = enriched.ohlcv
    ind = enriched.indicators
    close = float(c.close)

    prev_close: float | None = None
    prev_hist: float | None = None
    if previous is not None:
        if isinstance(previous, Candle):
            prev_close = finite(previous.close)
        else:
            prev_close = finite(previous.ohlcv.close)
            prev_hist = _indicator(previous.indicators, "macd_hist")[1]
    if prev_close:
        change = (close / prev_close - 1.0) * 100.0
        basis = "previous close"
    else:
        change = (close / c.open - 1.0) * 100.0 if c.open else 0.0
        basis = "open"

    rsi_key, rsi = _indicator(ind, "rsi")
    rsi_state = None
    if rsi is not None:
        rsi_state = "overbought" if rsi >= RSI_OVERBOUGHT else "oversold" if rsi <= RSI_OVERSOLD else "neutral"

    macd = _indicator(ind, "macd")[1]
    sig = _indicator(ind, "macd_signal")[1]
    hist = _indicator(ind, "macd_hist")[1]
    if hist is None and macd is not None and sig is not None:
        hist = macd - sig
    macd_state = None if hist is None else ("bullish" if hist > 0 else "bearish" if hist < 0 else None)
    macd_cross = None
    if hist is not None and prev_hist is not None:
        if prev_hist <= 0 < hist:
            macd_cross = "bullish"
        elif prev_hist >= 0 > hist:
            macd_cross = "bearish"

    upper = _indicator(ind, "bb_upper")[1]
    lower = _indicator(ind, "bb_lower")[1]
    band = None
    if upper is not None and close > upper:
        band = "above_upper"
    elif lower is not None and close < lower:
        band = "below_lower"
    elif upper is not None and c.high >= upper:
        band = "upper"
    elif lower is not None and c.low <= lower:
        band = "lower"

    stoch = _indicator(ind, "stoch_k")[1]
    stoch_state = None
    if stoch is not None:
        stoch_state = "overbought" if stoch >= STOCH_OVERBOUGHT else "oversold" if stoch <= STOCH_OVERSOLD else None

    ctx = enriched.context
    rel_vol = finite(ctx.relative_volume)
    if rel_vol is None:
        vol_sma = _indicator(ind, "vol_sma")[1]
        if vol_sma:
            rel_vol = c.volume / vol_sma

    raw = enriched.patterns
    if len(raw) > 1:
        raw = sorted(raw, key=_pattern_order)
    pats = tuple(pattern_fact(p.name, p.kind, p.direction, p.strength, p.description) for p in raw)
    period = rsi_key.rsplit("_", 1)[-1] if rsi_key else "14"
    ts = to_utc(c.ts)
    return CandleFacts(
        symbol=symbol,
        timeframe=tf.name,
        timeframe_label=TIMEFRAME_LABELS.get(tf.name, tf.name),
        ts=ts,
        local_time=local_time_label(ts, timeframe, tz),
        is_intraday=tf.is_intraday,
        open=float(c.open),
        high=float(c.high),
        low=float(c.low),
        close=close,
        volume=float(c.volume),
        change_pct=finite(change),
        change_basis=basis,
        relative_volume=finite(rel_vol),
        rsi=rsi,
        rsi_period=period,
        rsi_state=rsi_state,
        macd=macd,
        macd_signal=sig,
        macd_hist=hist,
        macd_state=macd_state,
        macd_cross=macd_cross,
        band=band,
        stoch_k=stoch,
        stoch_state=stoch_state,
        adx=_indicator(ind, "adx")[1],
        patterns=pats,
        regime=ctx.regime,
        trend_direction=ctx.trend_direction,
        trend_strength=finite(ctx.trend_strength),
        trend_slope_pct=finite(ctx.trend_slope_pct),
        trend_r2=finite(ctx.trend_r2),
        support=_level(ctx.support),
        resistance=_level(ctx.resistance),
        confidence=float(enriched.confidence),
        signal_bias=finite(ctx.signal_bias),
        variant=(int(ts.timestamp()) // 60 + sum(map(ord, symbol))) & 0xFFFF,
    )
