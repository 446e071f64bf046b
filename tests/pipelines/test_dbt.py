"""dbt (dbt-duckdb over the Delta lake) through dagster-dbt: rollups equal the store's, tests are checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from jonbu_core.timeframe import EXCHANGE_TZ

SYMBOLS = ["AAPL", "MSFT"]
DAYS = [date(2024, 11, 26), date(2024, 11, 27), date(2024, 11, 29), date(2024, 12, 2)]  # 11-28 closed, 11-29 early close
GAP_DAY = date(2024, 11, 27)
GAP_START = datetime(2024, 11, 27, 11, 0, tzinfo=EXCHANGE_TZ)  # ten minutes removed from MSFT


@pytest.fixture(scope="session")
def dbt_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dg.ExecuteInProcessResult]]:
    """A lake with 2 symbols × 4 sessions of mock 1m bars, and one dagster-dbt `dbt build` over it."""
    from jonbu_core.providers.factory import open_provider
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store
    from jonbu_pipelines.defs.ingest.fetch import fetch_days
    from jonbu_pipelines.defs.transform.assets import lake_dbt_models
    from jonbu_pipelines.project import dbt_executable, dbt_project
    from jonbu_pipelines.resources import JonbuDbtResource

    data = tmp_path_factory.mktemp("dbt") / "data"
    settings = load_settings(data_dir=data, store="lake", provider="mock", mock_seed=7)
    store = open_store(settings)
    provider = open_provider(settings)
    try:
        for sym in SYMBOLS:
            fetch_days(store, provider, sym, "1m", DAYS, keep_bars=False)
        removed = store.delete_bars("MSFT", "1m", GAP_START.astimezone(), GAP_START + timedelta(minutes=10))
        assert removed == 10
    finally:
        store.close()
        provider.close()
    dbt = JonbuDbtResource(project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir),
                           dbt_executable=dbt_executable(), data_dir=str(data))
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster_home"))) as instance:
        result = dg.materialize([lake_dbt_models], resources={"dbt": dbt}, instance=instance, raise_on_error=False)
        yield data, result


def _marts(data: Path, name: str) -> pa.Table:
    return pq.read_table(data / "dbt" / "marts" / f"{name}.parquet")


def test_dbt_build_materializes_every_model_and_its_tests_pass(dbt_build) -> None:
    data, result = dbt_build
    assert result.success
    keys = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert keys == {"bars_5m", "bars_15m", "bars_1h", "bars_1d", "daily_quality", "exchange_sessions"}
    checks = result.get_asset_check_evaluations()
    assert len(checks) >= 40
    failed = [(c.asset_key.to_user_string(), c.check_name) for c in checks if not c.passed]
    assert not failed
    assert {"bars_5m_high_gte_low", "unique_key_bars_1h_symbol__ts"} <= {c.check_name for c in checks}
    # Parquet outside dbt's DuckDB file, with row counts in the metadata
    mats = {m.asset_key.to_user_string(): m.event_specific_data.materialization.metadata
            for m in result.get_asset_materialization_events()}
    assert mats["bars_5m"]["dagster/row_count"].value == _marts(data, "bars_5m").num_rows
    assert "| AAPL |" in mats["daily_quality"]["by_symbol"].value
    assert (data / "dbt" / "warehouse.duckdb").exists()


@pytest.mark.parametrize("timeframe", ["5m", "15m", "1h", "1d"])
def test_dbt_rollups_equal_the_store_rollups(dbt_build, timeframe: str) -> None:
    from jonbu_core.calendar import session_label
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store

    data, _ = dbt_build
    marts = _marts(data, f"bars_{timeframe}")
    store = open_store(load_settings(data_dir=data, store="lake"))
    try:
        for sym in SYMBOLS:
            ours = store.read_bars(sym, timeframe, session_label(DAYS[0]), session_label(DAYS[-1] + timedelta(days=1))).table
            theirs = marts.filter(pc.equal(marts.column("symbol"), sym)).sort_by("ts")
            assert theirs.num_rows == ours.num_rows > 0
            assert theirs.column("ts").cast(pa.int64()).equals(ours.column("ts").cast(pa.int64()))
            for col in ("open", "high", "low", "close", "trade_count"):
                assert theirs.column(col).to_pylist() == ours.column(col).to_pylist(), col
            for col in ("volume", "vwap"):
                for a, b in zip(theirs.column(col).to_pylist(), ours.column(col).to_pylist(), strict=True):
                    assert a == pytest.approx(b, rel=1e-9), col
            assert set(theirs.column("source").to_pylist()) == {"mock"}
    finally:
        store.close()


def test_quality_mart_counts_bars_gaps_and_early_closes(dbt_build) -> None:
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store

    data, _ = dbt_build
    rows = {(r["symbol"], r["session_date"]): r for r in _marts(data, "daily_quality").to_pylist()}
    assert set(rows) == {(s, d) for s in SYMBOLS for d in DAYS}  # the Thanksgiving holiday is no row
    store = open_store(load_settings(data_dir=data, store="lake"))
    try:
        for sym in SYMBOLS:
            stored = store.stored_days(sym, "1m", DAYS[0], DAYS[-1])
            for day in DAYS:
                assert rows[(sym, day)]["bars"] == stored.get(day, 0)
    finally:
        store.close()
    assert rows[("AAPL", date(2024, 11, 29))]["expected_minutes"] == 210
    assert rows[("AAPL", date(2024, 11, 26))]["expected_minutes"] == 390
    gap = rows[("MSFT", GAP_DAY)]
    assert gap["bars"] <= 380 and gap["missing_minutes"] == 390 - gap["bars"]
    assert gap["max_gap_minutes"] >= 10 and gap["gaps"] >= 1
    assert gap["coverage"] == pytest.approx(gap["bars"] / 390, abs=1e-6)
    assert all(r["ohlc_violations"] == 0 and r["duplicate_bars"] == 0 for r in rows.values())
