"""Training sets: features without look-ahead, future-return targets, Parquet + manifest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from jonbu_core.enrich.service import enrich_range
from jonbu_core.errors import InvalidInputError
from jonbu_core.rag.training import (
    FEATURE_PREFIX,
    check_horizons,
    export_training,
    feature_order,
    manifest,
    training_table,
)
from jonbu_core.settings import Settings, load_settings
from jonbu_core.stores.base import BarStore


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    from jonbu_core.providers.mock import MockMarket
    from jonbu_core.stores.factory import open_store

    s = load_settings()
    store = open_store(s)
    try:
        market = MockMarket(7)
        for sym in ("AAPL", "MSFT"):
            store.write_bars(pa.Table.from_batches(list(market.bars(
                sym, "1m", datetime(2023, 12, 18, tzinfo=UTC), datetime(2024, 1, 10, tzinfo=UTC)))))
    finally:
        store.close()
    return s


JAN3 = (datetime(2024, 1, 3, 5, tzinfo=UTC), datetime(2024, 1, 4, 5, tzinfo=UTC))


def test_targets_are_future_returns(store: BarStore) -> None:
    candles = enrich_range(store, "AAPL", "15m", *JAN3)
    table = training_table(candles, [1, 4], drop_incomplete=False)
    closes = np.array([c.ohlcv.close for c in candles])
    ret1 = table.column("target_return_1").to_pylist()
    ret4 = table.column("target_return_4").to_pylist()
    assert ret1[0] == pytest.approx(closes[1] / closes[0] - 1)
    assert ret4[10] == pytest.approx(closes[14] / closes[10] - 1)
    assert ret1[-1] is None and ret4[-4] is None and ret4[-5] is not None  # nothing after the range
    assert table.column("target_up_1").to_pylist()[0] == int(closes[1] > closes[0])
    # with the following bars given, the last rows get their targets
    future = store.read_bars("AAPL", "15m", JAN3[1], None, limit=4).table.column("close").to_pylist()
    full = training_table(candles, [1, 4], future)
    assert full.num_rows == len(candles)
    assert full.column("target_return_4").to_pylist()[-1] == pytest.approx(future[3] / closes[-1] - 1)


def test_features_do_not_look_ahead(store: BarStore) -> None:
    """A day's features are the same whether or not later days exist in the data."""
    names = None
    short = enrich_range(store, "AAPL", "15m", JAN3[0], JAN3[1])
    longer = enrich_range(store, "AAPL", "15m", JAN3[0], datetime(2024, 1, 9, 5, tzinfo=UTC))
    names = feature_order(short)
    a = training_table(short, [1], feature_names=names, drop_incomplete=False)
    b = training_table(longer[: len(short)], [1], feature_names=names, drop_incomplete=False)
    feats = [c for c in a.column_names if c.startswith(FEATURE_PREFIX)]
    assert len(feats) > 10
    assert a.select(feats).equals(b.select(feats))
    assert not any(c.startswith("target") for c in feats)
    values = np.array(a.select(feats).to_pandas().to_numpy(), dtype=float)
    assert np.nanmin(values) >= 0.0 and np.nanmax(values) <= 1.0


def test_export_writes_days_and_a_manifest(settings: Settings, store: BarStore, tmp_path: Path) -> None:
    out = tmp_path / "ts"
    summary = export_training(settings, "AAPL,MSFT,NVDA", "15m", "2024-01-03", "2024-01-04", [1, 4], out,
                              store=store)
    root = out / "timeframe=15m"
    assert summary.output == root
    assert summary.empty_symbols == ["NVDA"]
    assert summary.rows == 2 * 2 * 26 and summary.dropped == 0  # Jan 5 bars give the last targets
    assert sorted(p.relative_to(root).as_posix() for p in summary.files) == [
        "symbol=AAPL/2024-01-03.parquet", "symbol=AAPL/2024-01-04.parquet",
        "symbol=MSFT/2024-01-03.parquet", "symbol=MSFT/2024-01-04.parquet"]
    data = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert data.num_rows == 104 and set(data.column("symbol").to_pylist()) == {"AAPL", "MSFT"}
    doc = json.loads((root / "_manifest.json").read_text())
    described = {c["name"]: c for c in doc["columns"]}
    assert set(described) == set(data.column_names)
    assert described["target_return_4"]["role"] == "target" and described["target_return_4"]["horizon_bars"] == 4
    assert all(c["range"] == [0.0, 1.0] for c in doc["columns"] if c["role"] == "feature")
    assert {c.get("normalisation") for c in doc["columns"] if c["role"] == "feature"} >= {"fixed", "minmax"}
    assert "leakage" in doc and doc["timeframe"] == "15m"

    before = pq.read_table(root / "symbol=AAPL/2024-01-03.parquet")
    again = export_training(settings, "AAPL", "15m", "2024-01-03", "2024-01-03", [1, 4], out, store=store)
    assert again.rows == 26
    assert pq.read_table(root / "symbol=AAPL/2024-01-03.parquet").equals(before)  # idempotent
    with pytest.raises(InvalidInputError, match="other columns"):
        export_training(settings, "AAPL", "15m", "2024-01-03", "2024-01-03", [1, 2], out, store=store)


def test_bad_horizons() -> None:
    assert check_horizons([4, 1, 4]) == (1, 4)
    for bad in ([], [0], [-1], [20_000]):
        with pytest.raises(InvalidInputError, match="horizons"):
            check_horizons(bad)
    doc = manifest("1d", [1], ["rsi"])
    assert [c["name"] for c in doc["columns"]] == [
        "symbol", "ts", "close", "feat_rsi", "feat_confidence", "target_return_1", "target_up_1"]
