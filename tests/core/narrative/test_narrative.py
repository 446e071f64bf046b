"""Narratives state the candle's facts, in every format, deterministically."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from jonbu_core.enrich.models import EnrichedCandle, Pattern
from jonbu_core.errors import InvalidInputError
from jonbu_core.narrative import build_bundle, build_bundles, narrate, narrate_series
from jonbu_core.narrative.patterns import PATTERNS, display_name, meaning, pattern_key
from tests.core.narrative.builders import enriched

PLACEHOLDER = re.compile(r"\{[^}]*\}|\bnan\b|\bNone\b|\binf\b|\bnull\b", re.IGNORECASE)


def _all_formats(c: EnrichedCandle, symbol: str, tf: str, prev: EnrichedCandle | None = None) -> tuple[str, str, dict]:
    text = narrate(c, symbol, tf, "text", previous=prev)
    md = narrate(c, symbol, tf, "markdown", previous=prev)
    doc = narrate(c, symbol, tf, "json", previous=prev)
    assert isinstance(text, str) and isinstance(md, str) and isinstance(doc, dict)
    # the JSON form is real JSON (no NaN) and round-trips
    doc = json.loads(json.dumps(doc, allow_nan=False))
    return text, md, doc


def test_hammer_candle_facts(hammer_candle: EnrichedCandle, prev_candle: EnrichedCandle) -> None:
    text, md, doc = _all_formats(hammer_candle, "AAPL", "15m", prev_candle)
    change = (188.1 / 187.2 - 1) * 100
    # JSON: every fact as a value
    assert doc["symbol"] == "AAPL" and doc["timeframe"] == "15m"
    assert doc["ts"] == "2024-01-02T14:30:00Z"
    assert doc["local_time"] == "2024-01-02 09:30 EST"
    assert doc["price"]["close"] == 188.1
    assert doc["price"]["change_pct"] == pytest.approx(change, abs=1e-4)
    assert doc["price"]["change_basis"] == "previous close"
    assert doc["technical"]["rsi"] == {"period": 14, "value": 27.4, "state": "oversold"}
    assert doc["technical"]["macd"]["state"] == "bullish"
    assert doc["technical"]["macd"]["crossover"] == "bullish"
    assert doc["technical"]["bollinger"] == "lower"
    assert [p["name"] for p in doc["patterns"]] == ["hammer"]
    assert doc["patterns"][0]["direction"] == "bullish"
    assert doc["trend"]["label"] == "strong downtrend"
    assert doc["levels"]["support"]["price"] == 185.2
    assert doc["confidence"] == 0.4
    assert "hammer" in doc["search_keywords"] and "oversold" in doc["search_keywords"]
    assert doc["text"] == text
    # text and markdown: the same facts as substrings
    for body in (text, md):
        assert "AAPL 15-minute candle at 2024-01-02 09:30 EST" in body
        assert "$188.10" in body
        assert f"+{change:.2f}%" in body
        assert "1.2M shares" in body
        assert "1.8× its average" in body
        assert "RSI(14) 27.4 oversold" in body
        assert "MACD bullish crossover" in body
        assert "Hammer (bullish)" in body
        assert "bullish reversal" in body
        assert "Strong downtrend" in body
        assert "Support $185.20" in body and "resistance $190.50" in body
        assert "Confidence: 40%" in body or "**Confidence:** 40%" in body
        assert not PLACEHOLDER.search(body), PLACEHOLDER.search(body)
    assert text.splitlines()[0] == "AAPL 15-minute candle at 2024-01-02 09:30 EST:"
    assert md.startswith("**AAPL 15-minute candle at 2024-01-02 09:30 EST**")
    assert "- **Pattern:** Hammer (bullish)" in md


def test_overbought_daily_candle_in_summer(overbought_candle: EnrichedCandle) -> None:
    text, md, doc = _all_formats(overbought_candle, "MSFT", "1d")
    assert doc["local_time"] == "2024-07-10"
    assert doc["technical"]["rsi"]["state"] == "overbought"
    assert doc["technical"]["macd"]["state"] == "bearish" and doc["technical"]["macd"]["crossover"] is None
    assert doc["technical"]["bollinger"] == "above_upper"
    assert [p["name"] for p in doc["patterns"]] == ["shootingstar", "range_breakout"]  # by strength
    assert doc["price"]["change_basis"] == "open"
    change = (461.2 / 460.0 - 1) * 100
    for body in (text, md):
        assert "MSFT daily candle for the 2024-07-10 session" in body
        assert "$461.20" in body and f"+{change:.2f}% from the open" in body
        assert "RSI(14) 76.0 overbought" in body
        assert "MACD below its signal line (bearish)" in body
        assert "closed above the upper Bollinger Band" in body
        assert "Shooting star (bearish)" in body and "Range breakout (bullish)" in body
        assert "ADX 18 (weak trend)" in body
        assert "light volume" in body or "thin trading" in body
        assert "regime volatile" in body
        assert not PLACEHOLDER.search(body)


def test_intraday_summer_time_says_edt() -> None:
    c = enriched(datetime(2024, 7, 10, 13, 30, tzinfo=UTC), 100, 101, 99, 100.5, 1000)
    text = narrate(c, "NVDA", "1m")
    assert isinstance(text, str)
    assert text.startswith("NVDA 1-minute candle at 2024-07-10 09:30 EDT:")


def test_warmup_candle_has_no_holes(warmup_candle: EnrichedCandle) -> None:
    text, md, doc = _all_formats(warmup_candle, "XYZ", "5m")
    for body in (text, md):
        assert "indicators still warming up" in body
        assert "no candlestick or chart pattern" in body
        assert "Trend:" not in body and "Context:" not in body
        assert "$10.20" in body and "5.0K shares" in body
        assert not PLACEHOLDER.search(body)
    assert doc["technical"]["rsi"] is None and doc["technical"]["bollinger"] is None
    assert doc["patterns"] == []
    assert doc["search_keywords"] == ["XYZ", "5m", "5-minute"]


def test_deterministic(hammer_candle: EnrichedCandle, prev_candle: EnrichedCandle) -> None:
    a = build_bundle(hammer_candle, "AAPL", "15m", prev_candle)
    b = build_bundle(hammer_candle.model_copy(), "AAPL", "15m", prev_candle)
    assert (a.text, a.markdown, a.technical_summary, a.pattern_explanation, a.search_keywords) == (
        b.text, b.markdown, b.technical_summary, b.pattern_explanation, b.search_keywords)
    assert narrate(hammer_candle, "AAPL", "15m", previous=prev_candle) == a.text
    assert a.as_json() == narrate(hammer_candle, "AAPL", "15m", "json", previous=prev_candle)


def test_series_uses_the_previous_candle(hammer_candle: EnrichedCandle, prev_candle: EnrichedCandle) -> None:
    texts = narrate_series([prev_candle, hammer_candle], "AAPL", "15m")
    bundles = build_bundles([prev_candle, hammer_candle], "AAPL", "15m")
    assert texts == [b.text for b in bundles]
    assert "MACD bullish crossover" in texts[1]
    assert f"{(188.1 / 187.2 - 1) * 100:+.2f}%)" in texts[1]


def test_rag_fields(hammer_candle: EnrichedCandle, overbought_candle: EnrichedCandle) -> None:
    b = build_bundle(hammer_candle, "AAPL", "15m")
    assert b.technical_summary.startswith("RSI(14) 27.4 oversold;")
    assert "strong downtrend" in b.technical_summary
    assert b.pattern_explanation.startswith("Hammer (bullish candlestick pattern, strength 0.80):")
    assert len(b.search_keywords) == len(set(b.search_keywords))
    assert {"AAPL", "hammer", "reversal", "rsi oversold", "high volume"} <= set(b.search_keywords)
    o = build_bundle(overbought_candle, "MSFT", "1d")
    assert "Shooting star" in o.pattern_explanation and "Range breakout" in o.pattern_explanation
    assert {"shooting star", "bearish", "breakout", "rsi overbought", "low volume"} <= set(o.search_keywords)
    empty = build_bundle(enriched(datetime(2024, 1, 3, 5, tzinfo=UTC), 1, 1, 1, 1, 0), "A", "1d")
    assert empty.pattern_explanation == "No candlestick or chart pattern was detected on this candle."


def test_bad_format_is_refused(hammer_candle: EnrichedCandle) -> None:
    with pytest.raises(InvalidInputError, match="format"):
        narrate(hammer_candle, "AAPL", "15m", "html")
    with pytest.raises(InvalidInputError, match="timeframe"):
        narrate(hammer_candle, "AAPL", "7m")


def test_every_talib_pattern_has_a_name_and_meaning() -> None:
    import talib

    for fn in talib.get_function_groups()["Pattern Recognition"]:
        key = pattern_key(fn)
        assert key in PATTERNS, fn
        assert display_name(fn) == PATTERNS[key][0]
    assert pattern_key("morning_star") == pattern_key("CDLMORNINGSTAR") == "morningstar"


def test_every_enrichment_pattern_name_is_known() -> None:
    import importlib

    from jonbu_core.enrich.candles import CANDLES

    chart_names = next(
        getattr(importlib.import_module(m), "CHART_NAMES", None)
        for m in ("jonbu_core.enrich.patterns", "jonbu_core.enrich.engine")
        if importlib.util.find_spec(m) and hasattr(importlib.import_module(m), "CHART_NAMES")
    )
    for info in CANDLES:
        assert pattern_key(info.name) == pattern_key(info.func), info.name
    assert chart_names
    for name in chart_names:
        assert pattern_key(name) in PATTERNS, name


def test_unknown_pattern_falls_back_to_its_description() -> None:
    p = Pattern(name="cup_and_handle", kind="chart", direction="bullish", strength=0.5,
                description="a rounded base then a small pullback.")
    assert display_name(p.name) == "Cup and handle"
    assert meaning(p.name, p.description) == "a rounded base then a small pullback"
    c = enriched(datetime(2024, 1, 3, 5, tzinfo=UTC), 1, 2, 0.5, 1.5, 10, patterns=[p])
    text = narrate(c, "ABC", "1d")
    assert "Cup and handle (bullish) — a rounded base then a small pullback." in str(text)


def test_large_and_small_prices_and_volumes() -> None:
    c = enriched(datetime(2024, 1, 3, 5, tzinfo=UTC), 1234.5, 1300.0, 1200.0, 1250.25, 2_345_678_901)
    text = str(narrate(c, "BRK.A", "1d"))
    assert "$1,250.25" in text and "$1,200.00–$1,300.00" in text and "2.35B shares" in text
    penny = str(narrate(enriched(datetime(2024, 1, 3, 5, tzinfo=UTC), 0.5, 0.52, 0.49, 0.5123, 12), "PNY", "1d"))
    assert "$0.5123" in penny and "12 shares" in penny
