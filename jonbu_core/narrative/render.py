"""Render :class:`~jonbu_core.narrative.facts.CandleFacts` as text, markdown and JSON.

The sections (price, technical, pattern, trend, context, confidence) are phrased
once by :func:`compose` and laid out by each format; a section with nothing to say
(an indicator still in its warm-up) is left out rather than printed empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jonbu_core.models import iso_z
from jonbu_core.narrative import templates as t
from jonbu_core.narrative.facts import (
    ADX_STRONG,
    BIAS_LEAN,
    HIGH_VOLUME,
    LOW_VOLUME,
    CandleFacts,
    LevelFact,
)


@dataclass(slots=True)
class Sections:
    """The phrased sections of one narrative."""

    headline: str
    price: str
    volume: str
    technical: tuple[str, ...]
    patterns: tuple[str, ...]
    other_patterns: tuple[str, ...]
    trend: str | None
    context: str | None
    confidence: str
    lean: str


def _headline(f: CandleFacts) -> str:
    if f.is_intraday:
        tpl = t.HEADLINE_INTRADAY
    elif f.timeframe == "1w":
        tpl = t.HEADLINE_WEEKLY
    else:
        tpl = t.HEADLINE_DAILY
    return tpl.format(symbol=f.symbol, label=f.timeframe_label, when=f.local_time)


def _price(f: CandleFacts) -> str:
    text = t.price(f.close)
    if f.change_pct is not None:
        suffix = "" if f.change_basis == "previous close" else " from the open"
        text += f" ({t.pct(f.change_pct)}{suffix})"
    return f"{text}, range {t.price(f.low)}–{t.price(f.high)}"


def _volume(f: CandleFacts) -> str:
    text = f"{t.volume(f.volume)} shares"
    r = f.relative_volume
    if r is not None:
        variants = t.VOLUME_HIGH if r >= HIGH_VOLUME else t.VOLUME_LOW if r <= LOW_VOLUME else t.VOLUME_NORMAL
        text += " (" + t.pick(variants, f.variant).format(ratio=r) + ")"
    return text


def _technical(f: CandleFacts) -> tuple[str, ...]:
    out: list[str] = []
    if f.rsi is not None and f.rsi_state is not None:
        out.append(t.RSI_PHRASE[f.rsi_state].format(period=f.rsi_period, value=f.rsi))
    if f.macd_state is not None:
        out.append(t.MACD_PHRASE[(f.macd_state, f.macd_cross == f.macd_state)])
    if f.band is not None:
        out.append(t.BAND_PHRASE[f.band])
    if f.stoch_state is not None and f.stoch_k is not None:
        out.append(t.STOCH_PHRASE[f.stoch_state].format(value=f.stoch_k))
    if f.adx is not None:
        out.append(t.ADX_PHRASE[0 if f.adx >= ADX_STRONG else 1].format(value=f.adx))
    return tuple(out)


def _patterns(f: CandleFacts, explained: int = 1) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The strongest patterns with their meaning, and the labels of the others."""
    tpl = t.pick(t.PATTERN_LINE, f.variant)
    lines = tuple(tpl.format(label=p.label, meaning=p.meaning) for p in f.patterns[:explained])
    return lines, tuple(p.label for p in f.patterns[explained:])


def trend_label(f: CandleFacts) -> str | None:
    """``strong uptrend``, ``downtrend``, ``sideways market``… (``None`` when unknown)."""
    if f.trend_direction not in ("up", "down", "flat"):
        return None
    strong = f.trend_strength is not None and f.trend_strength >= 0.6
    return t.TREND_LABEL[(f.trend_direction, strong)]


def _trend(f: CandleFacts) -> str | None:
    label = trend_label(f)
    regime = t.REGIME_LABEL.get(f.regime)
    if label is None and regime is None:
        return None
    bits: list[str] = []
    if f.trend_slope_pct is not None:
        bits.append(f"slope {f.trend_slope_pct:+.2f}%/bar")
    if f.trend_r2 is not None:
        bits.append(f"R² {f.trend_r2:.2f}")
    text = label[:1].upper() + label[1:] if label else ""
    if bits and label:
        text += " (" + ", ".join(bits) + ")"
    if regime:
        text = f"{text}, regime {regime}" if text else f"Regime {regime}"
    return text


def _level(kind: str, lv: LevelFact, where: str) -> str:
    text = f"{kind} {t.price(lv.price)}"
    if lv.distance_atr is not None:
        text += f" ({lv.distance_atr:.1f} ATR {where})"
    return text


def _context(f: CandleFacts) -> str | None:
    parts = []
    if f.support is not None:
        parts.append(_level("support", f.support, "below"))
    if f.resistance is not None:
        parts.append(_level("resistance", f.resistance, "above"))
    if not parts:
        return None
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def lean(f: CandleFacts) -> str:
    """``bullish``, ``bearish`` or ``mixed`` from the signal bias."""
    b = f.signal_bias
    if b is None:
        return "mixed"
    return "bullish" if b >= BIAS_LEAN else "bearish" if b <= -BIAS_LEAN else "mixed"


def compose(f: CandleFacts) -> Sections:
    """Phrase every section of the narrative of ``f``."""
    ln = lean(f)
    explained, others = _patterns(f)
    return Sections(
        headline=_headline(f),
        price=_price(f),
        volume=_volume(f),
        technical=_technical(f),
        patterns=explained,
        other_patterns=others,
        trend=_trend(f),
        context=_context(f),
        confidence=f"{round(f.confidence * 100)}%, " + t.pick(t.CONFIDENCE_LEAN[ln], f.variant),
        lean=ln,
    )


def render_text(s: Sections) -> str:
    """The plain-text narrative (one fact per line, like the seed plan's example)."""
    lines = [
        s.headline + ":",
        f"Price: {s.price}; volume {s.volume}.",
        "Technical: " + (", ".join(s.technical) if s.technical else t.WARMING_UP) + ".",
        "Pattern: " + ("; ".join(s.patterns) if s.patterns else t.NO_PATTERN)
        + (f"; also {', '.join(s.other_patterns)}" if s.other_patterns else "") + ".",
    ]
    if s.trend:
        lines.append(f"Trend: {s.trend}.")
    if s.context:
        lines.append(f"Context: {s.context}.")
    lines.append(f"Confidence: {s.confidence}.")
    return "\n".join(lines)


def render_markdown(s: Sections) -> str:
    """The markdown narrative: a bold headline and a bullet per section."""
    lines = [
        f"**{s.headline}**",
        "",
        f"- **Price:** {s.price}",
        f"- **Volume:** {s.volume}",
        "- **Technical:** " + (", ".join(s.technical) if s.technical else t.WARMING_UP),
    ]
    if s.patterns:
        lines.extend(f"- **Pattern:** {p}" for p in s.patterns)
    else:
        lines.append(f"- **Pattern:** {t.NO_PATTERN}")
    if s.other_patterns:
        lines.append("- **Also:** " + ", ".join(s.other_patterns))
    if s.trend:
        lines.append(f"- **Trend:** {s.trend}")
    if s.context:
        lines.append(f"- **Context:** {s.context}")
    lines.append(f"- **Confidence:** {s.confidence}")
    return "\n".join(lines)


def technical_summary(f: CandleFacts, s: Sections) -> str:
    """One compact line: indicator states, trend, regime and volume."""
    bits = list(s.technical) or [t.WARMING_UP]
    label = trend_label(f)
    if label:
        bits.append(label)
    regime = t.REGIME_LABEL.get(f.regime)
    if regime:
        bits.append(f"regime {regime}")
    if f.relative_volume is not None:
        bits.append(f"volume {f.relative_volume:.1f}× average")
    return "; ".join(bits)


def pattern_explanation(f: CandleFacts) -> str:
    """Every detected pattern with its kind, direction, strength and meaning."""
    if not f.patterns:
        return "No candlestick or chart pattern was detected on this candle."
    return " ".join(p.explanation for p in f.patterns)


def search_keywords(f: CandleFacts, s: Sections) -> list[str]:
    """Keywords for filtering and full-text search (unique, in a stable order)."""
    kw: list[str] = [f.symbol, f.timeframe, f.timeframe_label]
    if f.rsi_state:
        kw += ["rsi " + f.rsi_state, f.rsi_state] if f.rsi_state != "neutral" else ["rsi neutral"]
    if f.macd_state:
        kw.append(f"macd {f.macd_state}" + (" crossover" if f.macd_cross == f.macd_state else ""))
    if f.band:
        kw.append("upper bollinger band" if f.band in ("upper", "above_upper") else "lower bollinger band")
    if f.stoch_state:
        kw.append("stochastic " + f.stoch_state)
    for p in f.patterns:
        kw.extend(p.keywords)
    label = trend_label(f)
    if label:
        kw.append(label)
    regime = t.REGIME_LABEL.get(f.regime)
    if regime:
        kw.append(regime)
    r = f.relative_volume
    if r is not None and r >= HIGH_VOLUME:
        kw.append("high volume")
    elif r is not None and r <= LOW_VOLUME:
        kw.append("low volume")
    if s.lean != "mixed":
        kw.append(f"{s.lean} bias")
    return list(dict.fromkeys(kw))


def _r(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(v, digits)


def _level_json(lv: LevelFact | None) -> dict[str, Any] | None:
    if lv is None:
        return None
    return {"price": lv.price, "touches": lv.touches, "distance_atr": _r(lv.distance_atr, 3)}


def render_json(f: CandleFacts, s: Sections, text: str, summary: str, explanation: str,
                keywords: list[str]) -> dict[str, Any]:
    """The structured narrative (every fact as a value, plus the rendered text)."""
    return {
        "symbol": f.symbol,
        "timeframe": f.timeframe,
        "ts": iso_z(f.ts),
        "local_time": f.local_time,
        "headline": s.headline,
        "price": {
            "open": f.open, "high": f.high, "low": f.low, "close": f.close,
            "change_pct": _r(f.change_pct), "change_basis": f.change_basis,
            "volume": f.volume, "relative_volume": _r(f.relative_volume, 3),
        },
        "technical": {
            "rsi": None if f.rsi is None else {"period": int(f.rsi_period) if f.rsi_period.isdigit() else f.rsi_period,
                                                "value": _r(f.rsi, 2), "state": f.rsi_state},
            "macd": None if f.macd_state is None else {
                "macd": _r(f.macd, 6), "signal": _r(f.macd_signal, 6), "hist": _r(f.macd_hist, 6),
                "state": f.macd_state, "crossover": f.macd_cross,
            },
            "bollinger": f.band,
            "stochastic": None if f.stoch_k is None else {"k": _r(f.stoch_k, 2), "state": f.stoch_state},
            "adx": _r(f.adx, 2),
            "phrases": list(s.technical),
        },
        "patterns": [
            {
                "name": p.name, "display_name": p.display, "kind": p.kind,
                "direction": p.direction, "strength": _r(p.strength, 3), "explanation": p.meaning,
            }
            for p in f.patterns
        ],
        "trend": {
            "direction": f.trend_direction, "label": trend_label(f), "strength": _r(f.trend_strength, 3),
            "slope_pct": _r(f.trend_slope_pct), "r2": _r(f.trend_r2, 3),
        },
        "regime": f.regime,
        "levels": {"support": _level_json(f.support), "resistance": _level_json(f.resistance)},
        "confidence": _r(f.confidence, 3),
        "signal_bias": _r(f.signal_bias, 3),
        "lean": s.lean,
        "text": text,
        "technical_summary": summary,
        "pattern_explanation": explanation,
        "search_keywords": keywords,
    }
