"""candle_narratives → candle_embeddings (LanceDB) and training_dataset through Dagster."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

warnings.filterwarnings("ignore", category=Warning, module="dagster")

RANGE = ("2024-01-03|AAPL", "2024-01-04|AAPL")
SINGLE = "2024-01-04|MSFT"
HISTORY = (datetime(2023, 12, 18, tzinfo=UTC), datetime(2024, 1, 9, tzinfo=UTC))


def _range_tags() -> dict[str, str]:
    return {"dagster/asset_partition_range_start": RANGE[0], "dagster/asset_partition_range_end": RANGE[1]}


@pytest.fixture
def stored(resources: dict[str, Any]) -> dict[str, Any]:
    """Three weeks of mock 1m bars of AAPL and MSFT in the lake (the raw bars the assets read)."""
    from jonbu_core.providers.mock import MockMarket

    market = MockMarket(42)
    with resources["store"].session() as store:
        for sym in ("AAPL", "MSFT"):
            store.write_bars(pa.Table.from_batches(list(market.bars(sym, "1m", *HISTORY))))
    return resources


def _materialize(assets: list[Any], resources: dict[str, Any], instance: Any, **kwargs: Any) -> dg.ExecuteInProcessResult:
    keys = {"store", "embedder", "lancedb"}
    result = dg.materialize(assets, resources={k: v for k, v in resources.items() if k in keys},
                            instance=instance, **kwargs)
    assert result.success
    return result


def test_narratives_then_embeddings_idempotent(stored: dict[str, Any], instance: Any, data_dir: Path) -> None:
    from jonbu_core.rag.base import SearchFilter
    from jonbu_core.rag.lancedb_store import LanceRagStore
    from jonbu_pipelines.defs.export.assets import candle_embeddings, candle_narratives

    narr = _materialize([candle_narratives], stored, instance, tags=_range_tags())
    _materialize([candle_narratives], stored, instance, partition_key=SINGLE)
    mats = {m.partition: m.event_specific_data.materialization.metadata
            for m in narr.get_asset_materialization_events()}
    assert sorted(mats) == ["2024-01-03|AAPL", "2024-01-04|AAPL"]
    assert mats["2024-01-03|AAPL"]["rows_by_timeframe"].value == {"15m": 26, "1d": 1}
    assert "AAPL 15-minute candle at 2024-01-03" in mats["2024-01-03|AAPL"]["sample_narrative"].value
    files = sorted(p.relative_to(data_dir / "narratives").as_posix() for p in (data_dir / "narratives").rglob("*.parquet"))
    assert files == [
        "timeframe=15m/symbol=AAPL/2024-01-03.parquet", "timeframe=15m/symbol=AAPL/2024-01-04.parquet",
        "timeframe=15m/symbol=MSFT/2024-01-04.parquet", "timeframe=1d/symbol=AAPL/2024-01-03.parquet",
        "timeframe=1d/symbol=AAPL/2024-01-04.parquet", "timeframe=1d/symbol=MSFT/2024-01-04.parquet",
    ]
    text = pq.read_table(data_dir / "narratives/timeframe=1d/symbol=MSFT/2024-01-04.parquet").column("text")
    assert text[0].as_py().startswith("MSFT daily candle for the 2024-01-04 session:")

    emb = _materialize([candle_embeddings], stored, instance, tags=_range_tags())
    _materialize([candle_embeddings], stored, instance, partition_key=SINGLE)
    checks = {c.check_name: c for c in emb.get_asset_check_evaluations()}
    assert set(checks) == {"vector_dimension", "no_duplicate_keys", "row_count_matches"}
    assert all(c.passed for c in checks.values()), {k: c.metadata for k, c in checks.items()}
    assert checks["row_count_matches"].metadata["lancedb_rows"].value == 54
    meta = emb.get_asset_materialization_events()[0].event_specific_data.materialization.metadata
    assert meta["rows"].value == 54 and meta["dimension"].value == 384
    assert meta["embeddings_per_second"].value > 0
    assert "candle at 2024-01-0" in meta["sample_narrative"].value
    rag = LanceRagStore(data_dir / "lancedb")
    assert rag.count() == 81  # 2 × 27 AAPL + 27 MSFT

    again = _materialize([candle_embeddings], stored, instance, tags=_range_tags())
    assert rag.count() == 81 and rag.duplicate_keys() == 0
    assert all(c.passed for c in again.get_asset_check_evaluations())
    assert rag.count(SearchFilter(symbol="AAPL", timeframe="1d")) == 2


def test_embedding_checks_fail_on_duplicates(stored: dict[str, Any], instance: Any, data_dir: Path) -> None:
    """A row appended behind the store's back (a duplicate key) fails the checks."""
    import lancedb

    from jonbu_pipelines.defs.export.assets import candle_embeddings, candle_narratives

    _materialize([candle_narratives], stored, instance, partition_key=SINGLE)
    _materialize([candle_embeddings], stored, instance, partition_key=SINGLE)
    tbl = lancedb.connect(str(data_dir / "lancedb")).open_table("rag_candles")
    dup = tbl.search().where("timeframe = '1d'").limit(1).to_arrow()
    tbl.add(dup)
    checks = {c.check_name: c for c in dg.materialize(
        [candle_embeddings], resources={k: stored[k] for k in ("store", "embedder", "lancedb")},
        instance=instance, partition_key=SINGLE, raise_on_error=False,
    ).get_asset_check_evaluations()}
    assert not checks["no_duplicate_keys"].passed
    assert not checks["row_count_matches"].passed
    assert checks["vector_dimension"].passed


def test_training_dataset(stored: dict[str, Any], instance: Any, data_dir: Path) -> None:
    from jonbu_pipelines.defs.export.training import training_dataset

    result = _materialize([training_dataset], stored, instance, tags=_range_tags())
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "features_in_unit_range" and check.passed
    root = data_dir / "training" / "timeframe=15m"
    day = pq.read_table(root / "symbol=AAPL" / "2024-01-03.parquet")
    assert day.num_rows == 26  # next day's bars are stored, so every horizon is known
    assert day.column_names[:2] == ["ts", "close"]
    assert {"target_return_1", "target_up_1", "target_return_16"} <= set(day.column_names)
    manifest = json.loads((root / "_manifest.json").read_text())
    assert manifest["horizons_bars"] == [1, 4, 16]
    assert [c["name"] for c in manifest["columns"] if c["name"] in day.column_names] == day.column_names
    mats = {m.partition: m.event_specific_data.materialization.metadata
            for m in result.get_asset_materialization_events()}
    assert sorted(mats) == ["2024-01-03|AAPL", "2024-01-04|AAPL"]
    assert mats["2024-01-03|AAPL"]["rows"].value == 26
    assert mats["2024-01-04|AAPL"]["run_rows"].value == 52
    assert mats["2024-01-04|AAPL"]["features"].value == len(manifest["columns"]) - 3 - 1 - 6


def test_export_definitions() -> None:
    from jonbu_pipelines.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    parents = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys}
               for k in ("candle_narratives", "candle_embeddings", "training_dataset")}
    assert parents == {"candle_narratives": {"raw_bars_1m"}, "candle_embeddings": {"candle_narratives"},
                       "training_dataset": {"raw_bars_1m"}}
    raw = graph.get(dg.AssetKey("raw_bars_1m")).partitions_def
    for key in parents:
        node = graph.get(dg.AssetKey(key))
        assert node.partitions_def == raw and node.description
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert {("candle_embeddings", "vector_dimension"), ("candle_embeddings", "no_duplicate_keys"),
            ("candle_embeddings", "row_count_matches"), ("training_dataset", "features_in_unit_range")} <= checks
    job = repo.get_job("export_job")
    assert {n.name for n in job.nodes} >= {"candle_narratives", "candle_embeddings", "training_dataset"}
