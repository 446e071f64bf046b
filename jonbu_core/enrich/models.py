"""The enriched candle: what ``/enriched``, ``enrich`` and the stream hand out.

JSON shape (CONTRACT.md)::

    {"ohlcv": {...}, "indicators": {"rsi_14": 55.1, ...}, "patterns": [...],
     "context": {...}, "features": {...}, "confidence": 0.42,
     "processed_at": "...Z", "metadata": {...}}

Build them with :func:`jonbu_core.enrich.enrich_candles` (a range),
:func:`jonbu_core.enrich.service.enrich_range` (from a store) or
:class:`jonbu_core.enrich.incremental.IncrementalEnricher` (one new candle).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from jonbu_core.models import Candle, iso_z

Direction = Literal["bullish", "bearish", "neutral"]
PatternKind = Literal["candlestick", "chart"]
Regime = Literal["trending_up", "trending_down", "ranging", "volatile", "unknown"]
TrendDirection = Literal["up", "down", "flat", "unknown"]

#: Regime names in code order (the ``regime`` column of :func:`enrich_table` uses these).
REGIMES: tuple[str, ...] = ("unknown", "trending_up", "trending_down", "ranging", "volatile")
#: Trend directions in code order.
TREND_DIRECTIONS: tuple[str, ...] = ("unknown", "up", "down", "flat")


class Pattern(BaseModel):
    """A candlestick or chart pattern detected on a candle."""

    model_config = ConfigDict(frozen=True)

    name: str
    """Snake-case name (``hammer``, ``engulfing``, ``range_breakout``, ``double_top``…)."""
    kind: PatternKind
    direction: Direction
    strength: float = Field(ge=0.0, le=1.0)
    """0–1: the pattern's typical reliability, scaled by confirmation (documented per pattern)."""
    description: str


class Level(BaseModel):
    """A support or resistance level: a cluster of swing pivots."""

    model_config = ConfigDict(frozen=True)

    price: float
    """Mean price of the clustered pivots."""
    touches: int
    """How many pivots the cluster holds."""
    distance_atr: float
    """Distance from the close in ATRs (always >= 0)."""


class MarketContext(BaseModel):
    """Regime, trend, volatility, volume and levels around a candle.

    Every number is ``None`` inside its warm-up (``regime``/``trend_direction``
    are ``"unknown"`` then).
    """

    model_config = ConfigDict(frozen=True)

    regime: Regime = "unknown"
    trend_direction: TrendDirection = "unknown"
    trend_strength: float | None = None
    """0–1: half R² of the trend regression, half ADX/50 (capped)."""
    trend_slope_pct: float | None = None
    """Regression slope of the close over the trend window, in % of the close per bar."""
    trend_r2: float | None = None
    volatility_percentile: float | None = None
    """Rank (0–1) of NATR among its previous values over the percentile window."""
    relative_volume: float | None = None
    """Volume over the mean volume of the previous bars of the volume window."""
    support: list[Level] = Field(default_factory=list)
    """Levels at or below the close, nearest first (at most 3)."""
    resistance: list[Level] = Field(default_factory=list)
    """Levels above the close, nearest first (at most 3)."""
    signal_bias: float | None = None
    """Signed mean of the signal votes (-1 bearish … +1 bullish); ``confidence`` is its size."""


class EnrichedCandle(BaseModel):
    """One candle with its indicators, patterns, market context, features and confidence."""

    model_config = ConfigDict(frozen=True)

    ohlcv: Candle
    indicators: dict[str, float | None]
    """Keys named as in CONTRACT.md (``rsi_14``, ``macd_signal_12_26_9``…); null in warm-up."""
    patterns: list[Pattern] = Field(default_factory=list)
    context: MarketContext = Field(default_factory=MarketContext)
    features: dict[str, float] = Field(default_factory=dict)
    """The ML feature vector, every value in [0, 1]; empty inside the feature warm-up."""
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    """Agreement of the signals, 0–1 (see :mod:`jonbu_core.enrich.confidence`)."""
    processed_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Engine version and parameters (shared by every candle of one request)."""

    @field_serializer("processed_at")
    def _ser_processed_at(self, ts: datetime) -> str:
        return iso_z(ts)
