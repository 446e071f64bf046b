"""The code location loads, validates, and every definition resolves."""

from __future__ import annotations

from datetime import date

import dagster as dg


def _repo():
    from jonbu_pipelines.definitions import defs

    return defs, defs.get_repository_def()


def test_definitions_load_and_validate() -> None:
    defs, repo = _repo()
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"raw_bars_1m", "raw_bars_1d", "bars_5m", "bars_15m", "bars_1h", "bars_1d",
            "daily_quality", "exchange_sessions"} <= keys
    # every asset has a description shown in the UI
    for key in repo.asset_graph.get_all_asset_keys():
        node = repo.asset_graph.get(key)
        if node.is_materializable:
            assert node.description, f"{key.to_user_string()} has no description"


def test_every_job_schedule_sensor_and_check_resolves() -> None:
    _, repo = _repo()
    jobs = {j.name for j in repo.get_all_jobs()}
    assert {"ingest_job", "dbt_job", "lake_maintenance_job"} <= jobs
    for name in jobs:
        repo.get_job(name)  # resolves selection, resources and executor
    assert {s.name for s in repo.schedule_defs} == {
        "daily_topup_schedule", "dbt_after_topup_schedule", "lake_maintenance_schedule"
    }
    assert {s.name for s in repo.sensor_defs} == {"symbol_registry_sensor"}
    for sched in repo.schedule_defs:
        assert sched.job_name in jobs or sched.job_name.startswith("__anonymous")
    checks = {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys}
    for asset in ("raw_bars_1m", "raw_bars_1d"):
        for name in ("ohlc_integrity", "no_duplicate_keys", "session_coverage", "freshness"):
            assert (asset, name) in checks
    # dbt tests surface as checks on the dbt models
    assert ("bars_5m", "bars_5m_high_gte_low") in checks
    assert ("daily_quality", "unique_key_daily_quality_symbol__session_date") in checks
    # the ingest job runs its assets in spawned processes
    job = repo.get_job("ingest_job")
    assert job.executor_def.name == "multiprocess"
    resolved = job.executor_def.config_schema.resolve_config({}).value["config"]
    assert resolved["start_method"] == {"spawn": {}}


def test_raw_bars_partitions_are_sessions_times_symbols() -> None:
    _, repo = _repo()
    pdef = repo.asset_graph.get(dg.AssetKey("raw_bars_1m")).partitions_def
    assert isinstance(pdef, dg.MultiPartitionsDefinition)
    dims = {d.name: d.partitions_def for d in pdef.partitions_defs}
    assert isinstance(dims["symbol"], dg.DynamicPartitionsDefinition)
    assert dims["symbol"].name == "symbols"
    days = dims["date"].get_partition_keys()
    assert days[0] == "2024-01-02"
    parsed = [date.fromisoformat(d) for d in days]
    assert all(d.weekday() < 5 for d in parsed), "no weekend partitions"
    for holiday in ("2024-01-15", "2024-07-04", "2024-12-25", "2025-01-09"):
        assert holiday not in days, f"{holiday} is an exchange holiday"
    assert "2024-11-29" in days  # early close: still a session


def test_dbt_models_read_the_raw_bars() -> None:
    _, repo = _repo()
    graph = repo.asset_graph
    for model in ("bars_5m", "bars_1d", "daily_quality"):
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(model)).parent_keys}
        assert "raw_bars_1m" in parents or "exchange_sessions" in parents
    assert dg.AssetKey("raw_bars_1m") in graph.get(dg.AssetKey("bars_5m")).parent_keys


def test_resources_follow_settings(monkeypatch) -> None:
    from jonbu_core.settings import load_settings
    from jonbu_pipelines import resources as r

    res = r.resources_from_settings(load_settings())
    assert isinstance(res["store"], r.LakeStoreResource)
    assert isinstance(res["provider"], r.MockProviderResource)
    monkeypatch.setenv("JONBU_STORE", "postgres")
    monkeypatch.setenv("JONBU_DATABASE_URL", "postgresql://u:secret@127.0.0.1:5432/x")
    monkeypatch.setenv("JONBU_PROVIDER", "alpaca")
    res = r.resources_from_settings(load_settings())
    assert isinstance(res["store"], r.PostgresStoreResource)
    assert isinstance(res["provider"], r.AlpacaProviderResource)
    assert res["provider"].source_name() == "alpaca-iex"
    # secrets never become resource config (the UI shows config)
    assert "secret" not in repr(res["store"]) and res["store"].database_url is None
