"""``jonbu-ohlcv export rag|training``, ``narrate`` and ``search`` end to end (mock bars, real model)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from jonbu_cli.main import main
from jonbu_core.rag.embedder import SentenceTransformerEmbedder


@pytest.fixture
def bars(data_dir: Path) -> None:
    from jonbu_core.providers.mock import MockMarket
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store

    store = open_store(load_settings())
    try:
        market = MockMarket(42)
        store.write_bars(pa.Table.from_batches(list(market.bars(
            "AAPL", "1m", datetime(2023, 12, 20, tzinfo=UTC), datetime(2024, 1, 6, tzinfo=UTC)))))
    finally:
        store.close()


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_export_search_narrate(bars: None, embedder: SentenceTransformerEmbedder,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "export", "rag", "--symbols", "AAPL,MSFT", "--start", "2024-01-03",
                        "--end", "2024-01-03", "--timeframe", "15m", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["rows_written"] == 26 and doc["empty_symbols"] == ["MSFT"]
    assert doc["dimension"] == 384 and doc["embeddings_per_second"] > 0

    code, out, err = _run(capsys, "export", "rag", "--symbols", "AAPL", "--start", "2024-01-03",
                          "--end", "2024-01-03")
    assert code == 0
    assert "exported 26 15m candles (0 new, 26 replaced)" in out and "table now holds 26 rows" in out

    code, out, _ = _run(capsys, "search", "hammer reversal with oversold RSI", "--symbol", "AAPL",
                        "--timeframe", "15m", "--k", "3", "--json")
    assert code == 0
    results = json.loads(out)["results"]
    assert len(results) == 3
    assert set(results[0]) == {"symbol", "timeframe", "ts", "text", "score"}
    assert results[0]["ts"].startswith("2024-01-03T") and results[0]["score"] >= results[-1]["score"]
    code, out, _ = _run(capsys, "search", "doji", "--k", "2")
    assert code == 0 and "search: doji" in out

    code, out, _ = _run(capsys, "narrate", "AAPL", "--timeframe", "15m", "--at", "2024-01-03T15:07:00Z",
                        "--format", "json")
    assert code == 0
    nar = json.loads(out)
    assert nar["ts"] == "2024-01-03T15:00:00Z" and nar["local_time"] == "2024-01-03 10:00 EST"
    assert nar["price"]["change_basis"] == "previous close"
    code, out, _ = _run(capsys, "narrate", "AAPL", "--timeframe", "1d", "--at", "2024-01-04")
    assert code == 0 and out.startswith("AAPL daily candle for the 2024-01-04 session:")
    code, out, err = _run(capsys, "narrate", "AAPL", "--timeframe", "1d", "--at", "2024-01-06")  # a Saturday
    assert code == 0 and "2024-01-05 session" in out and "last one before it" in err


def test_export_training(bars: None, capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = _run(capsys, "export", "training", "--symbols", "AAPL", "--start", "2024-01-03",
                        "--end", "2024-01-04", "--horizons", "1,2", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["rows"] == 52 and doc["files"] == 2 and doc["features"] > 10
    assert Path(doc["output"]) == data_dir / "training" / "timeframe=15m"
    assert (Path(doc["output"]) / "_manifest.json").exists()


def test_errors_are_one_line(bars: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "narrate", "AAPL", "--format", "html")
    assert code == 1 and "--format" in err
    code, _, err = _run(capsys, "narrate", "ZZZZ", "--timeframe", "1d")
    assert code == 1 and "no 1d bars stored for ZZZZ" in err
    code, _, err = _run(capsys, "export", "training", "--symbols", "AAPL", "--start", "2024-01-03",
                        "--horizons", "1,x")
    assert code == 1 and "--horizons" in err
    code, _, err = _run(capsys, "export", "rag", "--symbols", "AAPL", "--start", "2024-01-05",
                        "--end", "2024-01-02")
    assert code == 1 and "must be before" in err
