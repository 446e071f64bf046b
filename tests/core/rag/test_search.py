"""Hybrid search over a fixture set of narratives with known properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jonbu_core.enrich.models import EnrichedCandle, MarketContext, Pattern
from jonbu_core.errors import InvalidInputError
from jonbu_core.narrative import build_bundle
from jonbu_core.rag.embedder import SentenceTransformerEmbedder
from jonbu_core.rag.export import embed_rows, narrative_rows
from jonbu_core.rag.factory import clear_rag_store_cache, open_rag_store
from jonbu_core.rag.lancedb_store import LanceRagStore
from jonbu_core.rag.search import hybrid_search, make_filter, search
from jonbu_core.settings import load_settings
from tests.core.narrative.builders import HAMMER, SHOOTING_STAR, enriched

DOJI = Pattern(name="doji", kind="candlestick", direction="neutral", strength=0.4, description="indecision")
ENGULF = Pattern(name="engulfing", kind="candlestick", direction="bearish", strength=0.8,
                 description="engulfs the previous body")
DOWN = MarketContext(regime="trending_down", trend_direction="down", trend_strength=0.5, relative_volume=1.2)
UP = MarketContext(regime="trending_up", trend_direction="up", trend_strength=0.5, relative_volume=0.9)
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)

#: (symbol, timeframe, bar index, RSI, patterns, context) — the fixture set.
CASES: list[tuple[str, str, int, float, list[Pattern], MarketContext]] = [
    # hammer with an oversold RSI: what the query asks for
    ("AAPL", "15m", 0, 24.5, [HAMMER], DOWN),
    ("MSFT", "15m", 5, 27.9, [HAMMER], DOWN),
    ("NVDA", "1d", 2, 22.1, [HAMMER], DOWN),
    # a hammer with a neutral RSI
    ("AAPL", "15m", 9, 51.0, [HAMMER], UP),
    ("MSFT", "15m", 11, 48.2, [HAMMER], UP),
    # oversold without a hammer
    ("AAPL", "15m", 14, 25.3, [DOJI], DOWN),
    ("NVDA", "15m", 3, 28.8, [], DOWN),
    ("MSFT", "1d", 1, 26.0, [ENGULF], DOWN),
    # overbought shooting stars and plain candles
    ("AAPL", "15m", 20, 78.1, [SHOOTING_STAR], UP),
    ("NVDA", "15m", 7, 74.4, [SHOOTING_STAR], UP),
    ("MSFT", "15m", 17, 55.0, [], UP),
    ("AAPL", "1d", 4, 60.0, [], UP),
    ("NVDA", "15m", 12, 45.0, [ENGULF], UP),
]
WANTED = {(s, tf, i) for s, tf, i, rsi, pats, _ in CASES if rsi <= 30 and HAMMER in pats}


def _ts(tf: str, i: int) -> datetime:
    if tf == "1d":
        return datetime(2024, 1, 2, 5, tzinfo=UTC) + timedelta(days=i)
    return T0 + timedelta(minutes=15 * i)


def _candle(tf: str, i: int, rsi: float, pats: list[Pattern], ctx: MarketContext) -> EnrichedCandle:
    return enriched(_ts(tf, i), 100.0, 101.0, 97.5, 100.6, 1_000_000,
                    indicators={"rsi_14": rsi, "macd_12_26_9": -0.2, "macd_signal_12_26_9": -0.1,
                                "macd_hist_12_26_9": -0.1},
                    patterns=pats, context=ctx, confidence=0.5)


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> LanceRagStore:
    """The fixture set embedded once for the module (searches do not modify it)."""
    store = LanceRagStore(tmp_path_factory.mktemp("search") / "lancedb")
    bundles = [build_bundle(_candle(tf, i, rsi, pats, ctx), sym, tf) for sym, tf, i, rsi, pats, ctx in CASES]
    store.upsert(embed_rows(narrative_rows(bundles), embedder))
    store.ensure_indexes()
    return store


def _key(r: object) -> tuple[str, str, int]:
    for sym, tf, i, *_ in CASES:
        if (sym, tf, _ts(tf, i)) == (r.symbol, r.timeframe, r.ts):  # type: ignore[attr-defined]
            return sym, tf, i
    raise AssertionError(r)


def test_hammer_with_oversold_rsi_comes_first(rag: LanceRagStore, embedder: SentenceTransformerEmbedder) -> None:
    results = hybrid_search(rag, embedder, "hammer reversal with oversold RSI", make_filter(), k=8)
    assert {_key(r) for r in results[: len(WANTED)]} == WANTED
    for r in results[: len(WANTED)]:
        assert "Hammer (bullish)" in r.text and "oversold" in r.text
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(r.text_score or 0.0 for r in results) == 1.0
    assert all(r.vector_score is not None for r in results)


def test_filters_apply_before_ranking(rag: LanceRagStore, embedder: SentenceTransformerEmbedder) -> None:
    q = "hammer reversal with oversold RSI"
    msft = hybrid_search(rag, embedder, q, make_filter(symbol="msft"), k=10)
    assert {r.symbol for r in msft} == {"MSFT"}
    assert _key(msft[0]) == ("MSFT", "15m", 5)
    daily = hybrid_search(rag, embedder, q, make_filter(timeframe="1d"), k=10)
    assert {r.timeframe for r in daily} == {"1d"} and len(daily) == 3
    assert _key(daily[0]) == ("NVDA", "1d", 2)
    window = make_filter(timeframe="15m", start=_ts("15m", 9), end=_ts("15m", 15))
    got = hybrid_search(rag, embedder, q, window, k=10)
    assert {_key(r) for r in got} == {("AAPL", "15m", 9), ("MSFT", "15m", 11), ("AAPL", "15m", 14),
                                      ("NVDA", "15m", 12)}
    assert len(hybrid_search(rag, embedder, q, make_filter(), k=2)) == 2


def test_other_queries(rag: LanceRagStore, embedder: SentenceTransformerEmbedder) -> None:
    top = hybrid_search(rag, embedder, "overbought shooting star, bearish reversal risk", make_filter(), k=3)
    assert {_key(r) for r in top[:2]} == {("AAPL", "15m", 20), ("NVDA", "15m", 7)}


def test_bad_queries(rag: LanceRagStore, embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        hybrid_search(rag, embedder, "   ", make_filter(), k=5)
    with pytest.raises(InvalidInputError, match="k must"):
        hybrid_search(rag, embedder, "hammer", make_filter(), k=0)
    with pytest.raises(InvalidInputError):
        make_filter(symbol="bad symbol!")
    with pytest.raises(InvalidInputError):
        make_filter(start="2024-01-05", end="2024-01-02")


def test_public_search_function(data_dir: Path, embedder: SentenceTransformerEmbedder) -> None:
    settings = load_settings()
    clear_rag_store_cache()
    assert search(settings, "hammer") == []  # nothing exported yet
    store = open_rag_store(settings)
    bundles = [build_bundle(_candle(tf, i, rsi, pats, ctx), sym, tf)
               for sym, tf, i, rsi, pats, ctx in CASES if sym == "AAPL"]
    store.upsert(embed_rows(narrative_rows(bundles), embedder))
    store.ensure_indexes()
    results = search(settings, "hammer reversal with oversold RSI", symbol="AAPL", timeframe="15m",
                     start="2024-01-02", end="2024-01-02", k=3)
    assert _key(results[0]) == ("AAPL", "15m", 0)
    assert all(r.symbol == "AAPL" and r.timeframe == "15m" for r in results)
    doc = results[0].model_dump(mode="json")
    assert doc["ts"] == "2024-01-02T14:30:00Z" and set(doc) >= {"symbol", "timeframe", "ts", "text", "score"}
    clear_rag_store_cache()
