"""``jonbu-ohlcv enrich`` end to end against the lake store."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from jonbu_cli.main import main
from jonbu_core.settings import load_settings
from jonbu_core.stores.factory import open_store

from ._data import gbm, session_ts


@pytest.fixture
def stored() -> None:
    bars = gbm(1600, seed=51, sigma=0.012, ts=session_ts(1600))
    n = bars.num_rows
    bars = bars.append_column("symbol", pa.array(["CLI"] * n)).append_column(
        "timeframe", pa.array(["1d"] * n)).append_column("source", pa.array(["mock"] * n))
    store = open_store(load_settings())
    try:
        assert store.write_bars(bars).written == n
    finally:
        store.close()


def test_csv_and_parquet_start_with_the_candle_columns(stored: None, tmp_path: Path) -> None:
    out = tmp_path / "e.csv"
    assert main(["enrich", "CLI", "--timeframe", "1d", "--start", "2024-12-02", "--end", "2024-12-31",
                 "--indicators", "rsi:14,ema:50,vwap", "--format", "csv", "--output", str(out)]) == 0
    t = pacsv.read_csv(out)
    assert t.column_names[:11] == ["ts", "open", "high", "low", "close", "volume", "trade_count", "vwap",
                                   "rsi_14", "ema_50", "ind_vwap"]
    assert t.num_rows == 21  # December 2024 sessions from the 2nd to the 31st
    assert t.column("rsi_14").null_count == 0
    pout = tmp_path / "e.parquet"
    assert main(["enrich", "CLI", "-t", "1d", "--start", "2024-12-02", "-f", "parquet", "-o", str(pout)]) == 0
    pt = pq.read_table(pout)
    assert "macd_signal_12_26_9" in pt.column_names and "f_rsi" in pt.column_names
    assert pt.num_rows == 21


def test_json_prints_the_api_shape(stored: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["enrich", "CLI", "--start", "2024-12-20", "--indicators", "rsi", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc) == 7
    first = doc[0]
    assert list(first)[:6] == ["ohlcv", "indicators", "patterns", "context", "features", "confidence"]
    assert first["ohlcv"]["ts"].endswith("Z") and set(first["indicators"]) == {"rsi_14"}


def test_table_and_errors(stored: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["enrich", "CLI", "--start", "2024-12-20", "--indicators", "rsi,adx"]) == 0
    text = capsys.readouterr().out
    assert "CLI 1d enriched" in text and text.count("\n") >= 7 + 4
    assert main(["enrich", "CLI", "--start", "2024-12-20", "--indicators", "nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown indicator 'nope'" in err and "valid indicators" in err
    assert main(["enrich", "CLI", "--start", "2024-12-20", "--format", "xml"]) == 1
