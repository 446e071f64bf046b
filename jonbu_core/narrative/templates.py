"""Number formats and the explicit phrase templates of narratives.

Wording varies only through the variant tuples below; which variant a candle gets
is fixed by :attr:`~jonbu_core.narrative.facts.CandleFacts.variant`, so the same
candle always reads the same.
"""

from __future__ import annotations


def price(v: float) -> str:
    """``$187.15``, ``$1,234.50``, ``$0.4521``."""
    a = abs(v)
    if a >= 1000.0:
        return f"${v:,.2f}"
    if a >= 1.0:
        return f"${v:.2f}"
    return f"${v:.4f}"


def pct(v: float) -> str:
    """``+0.52%``."""
    return f"{v:+.2f}%"


def volume(v: float) -> str:
    """``1.2M``, ``345.6K``, ``2.03B``, ``950``."""
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.2f}B"
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e3:
        return f"{v / 1e3:.1f}K"
    return f"{v:.0f}"


def pick(variants: tuple[str, ...], variant: int) -> str:
    """The template of ``variants`` this candle uses."""
    return variants[variant % len(variants)]


HEADLINE_INTRADAY = "{symbol} {label} candle at {when}"
HEADLINE_DAILY = "{symbol} {label} candle for the {when} session"
HEADLINE_WEEKLY = "{symbol} {label} candle for the week of {when}"

RSI_PHRASE = {
    "overbought": "RSI({period}) {value:.1f} overbought",
    "oversold": "RSI({period}) {value:.1f} oversold",
    "neutral": "RSI({period}) {value:.1f} neutral",
}
MACD_PHRASE = {
    ("bullish", True): "MACD bullish crossover",
    ("bearish", True): "MACD bearish crossover",
    ("bullish", False): "MACD above its signal line (bullish)",
    ("bearish", False): "MACD below its signal line (bearish)",
}
BAND_PHRASE = {
    "above_upper": "closed above the upper Bollinger Band",
    "upper": "touched the upper Bollinger Band",
    "below_lower": "closed below the lower Bollinger Band",
    "lower": "touched the lower Bollinger Band",
}
STOCH_PHRASE = {
    "overbought": "stochastic %K {value:.0f} overbought",
    "oversold": "stochastic %K {value:.0f} oversold",
}
ADX_PHRASE = ("ADX {value:.0f} (strong trend)", "ADX {value:.0f} (weak trend)")

VOLUME_HIGH = ("{ratio:.1f}× its average, high volume", "{ratio:.1f}× average, heavy trading")
VOLUME_LOW = ("{ratio:.1f}× its average, light volume", "{ratio:.1f}× average, thin trading")
VOLUME_NORMAL = ("{ratio:.1f}× its average",)

TREND_LABEL = {
    ("up", True): "strong uptrend",
    ("up", False): "uptrend",
    ("down", True): "strong downtrend",
    ("down", False): "downtrend",
    ("flat", True): "sideways market",
    ("flat", False): "sideways market",
}
REGIME_LABEL = {
    "trending_up": "trending up",
    "trending_down": "trending down",
    "ranging": "ranging",
    "volatile": "volatile",
}
PATTERN_LINE = (
    "{label} — {meaning}",
    "{label}: {meaning}",
)
NO_PATTERN = "no candlestick or chart pattern"
CONFIDENCE_LEAN = {
    "bullish": ("signals lean bullish", "indicators mostly agree on a bullish bias"),
    "bearish": ("signals lean bearish", "indicators mostly agree on a bearish bias"),
    "mixed": ("signals are mixed", "indicators disagree"),
}
WARMING_UP = "indicators still warming up"
