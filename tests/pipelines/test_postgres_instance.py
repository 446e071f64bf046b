"""deploy/dagster/dagster.yaml: a Dagster instance on the real PostgreSQL (dagster-postgres)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[2]


def test_postgres_instance_runs_a_materialization_and_reads_its_events_back(
    fresh_pg_url: str, resources, tmp_path: Path, monkeypatch
) -> None:
    from jonbu_pipelines.defs.ingest.assets import raw_bars_1m

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("JONBU_DAGSTER_PG_URL", fresh_pg_url)

    instance = dg.DagsterInstance.get()
    try:
        from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        # a run worker rebuilds the instance from its ref: same storages
        ref_instance = dg.DagsterInstance.from_ref(instance.get_ref())
        assert isinstance(ref_instance.event_log_storage, PostgresEventLogStorage)
        assert ref_instance.event_log_storage.postgres_url.startswith("postgresql+psycopg2://")
        ref_instance.dispose()
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        instance.add_dynamic_partitions("symbols", ["AAPL"])
        result = dg.materialize(
            [raw_bars_1m], partition_key="2024-01-02|AAPL", instance=instance,
            resources={"store": resources["store"], "provider": resources["provider"]},
        )
        assert result.success

        # read it back from PostgreSQL, through a fresh instance
        again = dg.DagsterInstance.get()
        assert again.get_dynamic_partitions("symbols") == ["AAPL"]
        records = again.fetch_materializations(dg.AssetKey("raw_bars_1m"), limit=10).records
        assert len(records) == 1
        mat = records[0].asset_materialization
        assert mat is not None and mat.partition == "2024-01-02|AAPL"
        assert mat.metadata["rows"].value == 390
        events = again.all_logs(result.run_id)
        kinds = {e.dagster_event.event_type for e in events if e.dagster_event}
        assert {dg.DagsterEventType.RUN_START, dg.DagsterEventType.STEP_SUCCESS,
                dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.RUN_SUCCESS} <= kinds
        run = again.get_run_by_id(result.run_id)
        assert run is not None and run.is_success
        again.dispose()
    finally:
        instance.dispose()

    import psycopg

    with psycopg.connect(fresh_pg_url) as conn:
        n = conn.execute("select count(*) from event_logs where run_id = %s", (result.run_id,)).fetchone()
    assert n is not None and n[0] == len(events)
