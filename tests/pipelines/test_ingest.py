"""raw_bars_1m/1d through Dagster: idempotent re-materialization, parallel runs in spawned processes."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

from tests.pipelines.conftest import read_delta_bars

PARTITIONS = ["2024-01-02|AAPL", "2024-01-02|MSFT"]
RANGE = ("2024-01-08|NVDA", "2024-01-10|NVDA")


def _materialize(resources: dict[str, Any], instance: Any, **kwargs: Any) -> dg.ExecuteInProcessResult:
    from jonbu_pipelines.defs.ingest.assets import raw_bars_1m
    from jonbu_pipelines.defs.quality.checks import raw_bars_1m_checks

    return dg.materialize(
        [raw_bars_1m, raw_bars_1m_checks],
        resources={"store": resources["store"], "provider": resources["provider"]},
        instance=instance,
        **kwargs,
    )


def _run_all(resources: dict[str, Any], instance: Any) -> list[dg.ExecuteInProcessResult]:
    results = [_materialize(resources, instance, partition_key=pk) for pk in PARTITIONS]
    results.append(
        _materialize(
            resources, instance,
            tags={"dagster/asset_partition_range_start": RANGE[0], "dagster/asset_partition_range_end": RANGE[1]},
        )
    )
    assert all(r.success for r in results)
    return results


def test_materialize_partitions_twice_is_idempotent(resources, instance, data_dir: Path) -> None:
    results = _run_all(resources, instance)
    first = read_delta_bars(data_dir)
    assert first.num_rows == 5 * 390  # 2 single partitions + a range of 3 sessions
    assert set(first.column("symbol").to_pylist()) == {"AAPL", "MSFT", "NVDA"}

    # metadata per partition: rows, quarantined, first/last ts, a markdown preview
    mats = results[0].get_asset_materialization_events()
    assert len(mats) == 1
    meta = mats[0].event_specific_data.materialization.metadata
    assert meta["rows"].value == 390 and meta["quarantined"].value == 0
    assert meta["first_ts"].value.startswith("2024-01-02T14:30")
    assert meta["last_ts"].value.startswith("2024-01-02T20:59")
    assert "| ts |" in meta["preview"].value
    ranged = results[-1].get_asset_materialization_events()
    assert sorted(m.partition for m in ranged) == ["2024-01-08|NVDA", "2024-01-09|NVDA", "2024-01-10|NVDA"]
    assert {m.event_specific_data.materialization.metadata["rows"].value for m in ranged} == {390}

    checks = {e.check_name: e for r in results for e in r.get_asset_check_evaluations()}
    for name in ("ohlc_integrity", "no_duplicate_keys", "session_coverage"):
        assert checks[name].passed, checks[name].description

    _run_all(resources, instance)
    second = read_delta_bars(data_dir)
    assert second.equals(first), "re-materializing changed the data"


def test_holiday_day_is_an_empty_success_with_a_note(resources, data_dir: Path) -> None:
    from jonbu_pipelines.defs.ingest.fetch import fetch_days

    with resources["store"].session() as store:
        provider = resources["provider"].open()
        out = fetch_days(store, provider, "AAPL", "1m", [date(2024, 1, 15), date(2024, 1, 16)])
    assert [r.day for r in out] == [date(2024, 1, 15), date(2024, 1, 16)]
    assert out[0].rows == 0 and "not a XNYS session" in (out[0].note or "")
    assert out[1].rows == 390 and out[1].note is None


def test_checks_fail_on_bad_stored_rows(resources, data_dir: Path) -> None:
    """A row that bypassed the store (written straight into Delta) is caught by the checks."""
    from deltalake import write_deltalake

    from jonbu_core.models import BAR_SCHEMA
    from jonbu_pipelines.defs.quality.checks import evaluate

    with resources["store"].session() as store:
        provider = resources["provider"].open()
        from jonbu_pipelines.defs.ingest.fetch import fetch_days

        fetch_days(store, provider, "AAPL", "1m", [date(2024, 1, 2)])
        good = store.read_bars("AAPL", "1m").table
        bad = good.slice(10, 2).to_pylist()
        bad[0]["high"], bad[0]["low"] = bad[0]["low"] - 1.0, bad[0]["high"] + 1.0  # high < low
        write_deltalake(str(data_dir / "lake" / "bars"), pa.Table.from_pylist(bad, BAR_SCHEMA),
                        mode="append", partition_by=["timeframe", "symbol"])
        results = {r.check_name: r for r in evaluate(store, "1m", {"AAPL": [date(2024, 1, 2)]}, "XNYS", 0.95)}
    assert not results["ohlc_integrity"].passed
    assert results["ohlc_integrity"].metadata["violations"].value == 1
    assert not results["no_duplicate_keys"].passed
    assert results["no_duplicate_keys"].metadata["duplicates"].value >= 1


def _reconstructable_ingest_job() -> Any:
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repo = ReconstructableRepository.for_module(
        "jonbu_pipelines.definitions", "defs", working_directory=str(Path(__file__).parents[2])
    )
    return repo.get_reconstructable_job("ingest_job")


def _range_tags(rng: tuple[str, str]) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": rng[0], "dagster/asset_partition_range_end": rng[1]}


@pytest.mark.timeout(280)
def test_parallel_steps_in_spawned_processes_give_identical_data(
    resources, instance, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """raw_bars_1m and raw_bars_1d of 2 symbols × 3 sessions in one run: the multiprocess
    executor runs the two steps at once in spawned processes, writing the same Delta table."""
    rng = ("2024-01-02|AAPL", "2024-01-04|MSFT")  # a rectangle: 3 sessions × (AAPL, MSFT)
    result = dg.execute_job(
        _reconstructable_ingest_job(), instance, tags=_range_tags(rng),
        asset_selection=[dg.AssetKey("raw_bars_1m"), dg.AssetKey("raw_bars_1d")],
    )
    assert result.success
    records = instance.all_logs(result.run_id)
    assert not [r for r in records if r.dagster_event and r.dagster_event.is_failure]
    starts = {r.step_key: r for r in records
              if r.dagster_event and r.dagster_event.event_type == dg.DagsterEventType.STEP_START}
    assert set(starts) == {"raw_bars_1m", "raw_bars_1d", "raw_bars_1m_checks", "raw_bars_1d_checks"}
    raw = ("raw_bars_1m", "raw_bars_1d")
    pids = {starts[k].dagster_event.pid for k in raw if starts[k].dagster_event}
    assert len(pids) == 2 and os.getpid() not in pids, "each step runs in its own spawned process"
    checks = [r.dagster_event.event_specific_data for r in records
              if r.dagster_event and r.dagster_event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert {c.check_name for c in checks if c.passed} >= {"ohlc_integrity", "no_duplicate_keys", "session_coverage"}
    mats = [r for r in records if r.dagster_event and r.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION]
    assert len(mats) == 12  # 6 partitions × (1m, 1d)
    parallel = read_delta_bars(data_dir)
    assert parallel.num_rows == 2 * 3 * (390 + 1)

    # The same partitions one symbol at a time, in process, into a second lake: identical rows.
    second = tmp_path / "sequential"
    monkeypatch.setenv("JONBU_DATA_DIR", str(second))
    from jonbu_core.settings import load_settings
    from jonbu_pipelines.defs.ingest.assets import raw_bars_1d, raw_bars_1m
    from jonbu_pipelines.resources import resources_from_settings

    seq = resources_from_settings(load_settings())
    for sym in ("AAPL", "MSFT"):
        r = dg.materialize([raw_bars_1m, raw_bars_1d], instance=instance,
                           tags=_range_tags((f"2024-01-02|{sym}", f"2024-01-04|{sym}")),
                           resources={"store": seq["store"], "provider": seq["provider"]})
        assert r.success
    assert read_delta_bars(second).equals(parallel)
