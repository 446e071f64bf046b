"""Builders of hand-made enriched candles (shared by the narrative and RAG tests)."""

from __future__ import annotations

from datetime import UTC, datetime

from jonbu_core.enrich.models import EnrichedCandle, MarketContext, Pattern
from jonbu_core.models import Candle

NOW = datetime(2024, 7, 1, tzinfo=UTC)


def enriched(
    ts: datetime,
    o: float,
    h: float,
    low: float,
    c: float,
    v: float,
    *,
    indicators: dict[str, float | None] | None = None,
    patterns: list[Pattern] | None = None,
    context: MarketContext | None = None,
    confidence: float = 0.0,
) -> EnrichedCandle:
    """An enriched candle from explicit values."""
    return EnrichedCandle(
        ohlcv=Candle(ts=ts, open=o, high=h, low=low, close=c, volume=v),
        indicators=indicators or {},
        patterns=patterns or [],
        context=context or MarketContext(),
        features={},
        confidence=confidence,
        processed_at=NOW,
    )


HAMMER = Pattern(name="hammer", kind="candlestick", direction="bullish", strength=0.8,
                 description="small body, long lower shadow")
SHOOTING_STAR = Pattern(name="shootingstar", kind="candlestick", direction="bearish", strength=0.7,
                        description="small body, long upper shadow")
BREAKOUT = Pattern(name="range_breakout", kind="chart", direction="bullish", strength=0.6,
                   description="close above the 20-bar range with volume")
