"""export_rag end to end: stored mock bars → enrichment → narratives → MiniLM → LanceDB."""

from __future__ import annotations

import itertools
import multiprocessing as mp
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from jonbu_core.rag.base import SearchFilter
from jonbu_core.rag.embedder import SentenceTransformerEmbedder
from jonbu_core.rag.export import estimate_candles, export_rag, narrate_range, windows
from jonbu_core.rag.lancedb_store import LanceRagStore
from jonbu_core.settings import Settings, load_settings
from jonbu_core.stores.base import BarStore
from jonbu_core.timeframe import parse_timeframe

HISTORY = (datetime(2023, 12, 15, tzinfo=UTC), datetime(2024, 1, 10, tzinfo=UTC))


def _fill(settings: Settings, symbols: list[str]) -> None:
    from jonbu_core.providers.mock import MockMarket
    from jonbu_core.stores.factory import open_store

    market = MockMarket(settings.mock_seed)
    store = open_store(settings)
    try:
        for sym in symbols:
            store.write_bars(pa.Table.from_batches(list(market.bars(sym, "1m", *HISTORY))))
    finally:
        store.close()


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    s = load_settings()
    _fill(s, ["AAPL", "MSFT"])
    return s


def test_export_twice_keeps_the_row_count(
    settings: Settings, store: BarStore, embedder: SentenceTransformerEmbedder
) -> None:
    seen: list[tuple[int, int]] = []
    first = export_rag(settings, "AAPL,NVDA", "15m", "2024-01-03", "2024-01-03",
                       lambda done, total, msg: seen.append((done, total)), store=store, embedder=embedder)
    assert first.candles == 26  # 26 quarter hours of one session
    assert (first.inserted, first.updated) == (26, 0)
    assert first.empty_symbols == ["NVDA"]
    assert first.table_rows == 26
    assert first.model == "all-MiniLM-L6-v2" and first.dimension == 384
    assert "fts:text" in first.indexes
    assert first.sample_narrative and "15-minute candle at 2024-01-03" in first.sample_narrative
    assert seen and seen[-1][0] == 26 and all(d <= t for d, t in seen)
    rag = LanceRagStore(settings.lancedb_dir)
    before = rag.read(SearchFilter(symbol="AAPL"))

    again = export_rag(settings, "AAPL", "15m", "2024-01-03", "2024-01-03", store=store, embedder=embedder)
    assert (again.inserted, again.updated, again.table_rows) == (0, 26, 26)
    assert rag.count() == 26 and rag.duplicate_keys() == 0
    after = rag.read(SearchFilter(symbol="AAPL"))
    assert after.column("text").equals(before.column("text"))  # deterministic narratives
    row = after.slice(0, 1).to_pylist()[0]
    assert row["ts"] == datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
    assert row["text"].startswith("AAPL 15-minute candle at 2024-01-03 09:30 EST:")
    assert row["keywords"][:3] == ["AAPL", "15m", "15-minute"]
    assert row["model"] == "all-MiniLM-L6-v2"
    assert row["close"] == pytest.approx(store.read_bars("AAPL", "15m", row["ts"]).table.column("close")[0].as_py())


def test_narrative_does_not_depend_on_the_export_start(store: BarStore) -> None:
    jan4 = (datetime(2024, 1, 4, 5, tzinfo=UTC), datetime(2024, 1, 5, 5, tzinfo=UTC))
    alone = narrate_range(store, "AAPL", "15m", *jan4)
    wide = narrate_range(store, "AAPL", "15m", datetime(2024, 1, 2, 5, tzinfo=UTC), datetime(2024, 1, 9, 5, tzinfo=UTC))
    ts = wide.column("ts").to_pylist()
    inside = [i for i, t in enumerate(ts) if jan4[0] <= t < jan4[1]]
    assert alone.num_rows == 26
    assert wide.take(inside).column("text").equals(alone.column("text"))
    # the first candle of the day is measured against the previous session's last close
    assert "from the open" not in alone.column("text")[0].as_py()


def test_daily_candles_and_bad_input(settings: Settings, store: BarStore, embedder: SentenceTransformerEmbedder) -> None:
    from jonbu_core.errors import InvalidInputError

    s = export_rag(settings, ["MSFT"], "1d", "2024-01-02", "2024-01-09", store=store, embedder=embedder)
    assert s.candles == 6  # sessions Jan 2-5, 8, 9
    texts = LanceRagStore(settings.lancedb_dir).read(SearchFilter(timeframe="1d")).column("text").to_pylist()
    assert texts[0].startswith("MSFT daily candle for the 2024-01-02 session:")
    with pytest.raises(InvalidInputError):
        export_rag(settings, "AAPL", "15m", "2024-01-05", "2024-01-02", store=store, embedder=embedder)
    with pytest.raises(InvalidInputError):
        export_rag(settings, "aapl!", "15m", "2024-01-02", store=store, embedder=embedder)
    with pytest.raises(InvalidInputError):
        export_rag(settings, "AAPL", "2x", "2024-01-02", store=store, embedder=embedder)


def test_windows_cover_the_range() -> None:
    tf = parse_timeframe("1m")
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)
    parts = windows(tf, start, end, size=20_000)
    assert parts[0][0] == start and parts[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    assert len(parts) >= 2
    assert estimate_candles(parse_timeframe("15m"), datetime(2024, 1, 2, 5, tzinfo=UTC),
                            datetime(2024, 1, 4, 5, tzinfo=UTC)) == 52


def _export_in_child(data_dir: str, symbol: str, ready: Any, go: Any) -> None:
    import os

    os.environ["JONBU_DATA_DIR"] = data_dir
    os.environ["HF_HUB_OFFLINE"] = "1"
    from jonbu_core.rag.embedder import get_embedder
    from jonbu_core.rag.export import export_rag
    from jonbu_core.settings import load_settings

    settings = load_settings()
    embedder = get_embedder(settings)  # load the model first, then start together
    ready.set()
    go.wait(120)
    export_rag(settings, symbol, "15m", "2024-01-04", "2024-01-04", embedder=embedder)


def test_two_partitions_exported_in_parallel_processes_lose_nothing(
    settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    """One partition is exported here, the other in a spawned process, at the same time."""
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_export_in_child, args=(str(settings.data_dir), "MSFT", ready, go))
    child.start()
    try:
        assert ready.wait(180), "the child process did not load the model"
        go.set()
        here = export_rag(settings, "AAPL", "15m", "2024-01-04", "2024-01-04", embedder=embedder)
    finally:
        child.join(180)
    assert child.exitcode == 0
    assert here.rows_written == 26
    rag = LanceRagStore(settings.lancedb_dir)
    assert rag.count(SearchFilter(symbol="AAPL")) == 26
    assert rag.count(SearchFilter(symbol="MSFT")) == 26
    assert rag.duplicate_keys() == 0
    assert rag.dimension() == 384
