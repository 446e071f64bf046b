"""Hand-built enriched candles with known facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jonbu_core.enrich.models import EnrichedCandle, Level, MarketContext
from tests.core.narrative.builders import BREAKOUT, HAMMER, SHOOTING_STAR, enriched


@pytest.fixture
def prev_candle() -> EnrichedCandle:
    """The 15m candle before :func:`hammer_candle` (MACD histogram negative)."""
    return enriched(
        datetime(2024, 1, 2, 14, 15, tzinfo=UTC), 188.0, 188.2, 186.9, 187.2, 900_000,
        indicators={"rsi_14": 31.0, "macd_12_26_9": -0.6, "macd_signal_12_26_9": -0.5,
                    "macd_hist_12_26_9": -0.1},
    )


@pytest.fixture
def hammer_candle() -> EnrichedCandle:
    """AAPL 15m at 09:30 EST: hammer, RSI 27.4 oversold, MACD crossing up, near lower band."""
    return enriched(
        datetime(2024, 1, 2, 14, 30, tzinfo=UTC), 187.15, 188.44, 183.9, 188.1, 1_234_567,
        indicators={"rsi_14": 27.4, "macd_12_26_9": -0.5, "macd_signal_12_26_9": -0.7,
                    "macd_hist_12_26_9": 0.2, "bb_upper_20_2": 192.0, "bb_middle_20_2": 188.0,
                    "bb_lower_20_2": 184.0, "adx_14": 31.2, "stoch_k_14_3_3": 15.0, "atr_14": 1.6},
        patterns=[HAMMER],
        context=MarketContext(
            regime="trending_down", trend_direction="down", trend_strength=0.7, trend_slope_pct=-0.12,
            trend_r2=0.81, relative_volume=1.8, signal_bias=0.4,
            support=[Level(price=185.2, touches=3, distance_atr=0.8)],
            resistance=[Level(price=190.5, touches=1, distance_atr=1.2)],
        ),
        confidence=0.4,
    )


@pytest.fixture
def overbought_candle() -> EnrichedCandle:
    """MSFT 1d session of 2024-07-10 (EDT): shooting star and breakout, RSI 76 overbought."""
    return enriched(
        datetime(2024, 7, 10, 4, 0, tzinfo=UTC), 460.0, 468.9, 459.1, 461.2, 18_500_000,
        indicators={"rsi_14": 76.04, "macd_12_26_9": 3.1, "macd_signal_12_26_9": 3.4,
                    "macd_hist_12_26_9": -0.3, "bb_upper_20_2": 460.5, "bb_lower_20_2": 430.0,
                    "adx_14": 18.0},
        patterns=[SHOOTING_STAR, BREAKOUT],
        context=MarketContext(regime="volatile", trend_direction="up", trend_strength=0.4,
                              trend_slope_pct=0.31, trend_r2=0.55, relative_volume=0.5,
                              signal_bias=-0.3),
        confidence=0.3,
    )


@pytest.fixture
def warmup_candle() -> EnrichedCandle:
    """A candle inside every warm-up: no indicator values, no context."""
    return enriched(
        datetime(2024, 1, 2, 14, 30, tzinfo=UTC), 10.0, 10.5, 9.8, 10.2, 5_000,
        indicators={"rsi_14": None, "macd_12_26_9": None, "macd_signal_12_26_9": None,
                    "macd_hist_12_26_9": None, "bb_upper_20_2": float("nan")},
    )
