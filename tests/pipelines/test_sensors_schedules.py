"""The registry sensor adds partitions and requests backfills; the top-up schedule targets the session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from jonbu_core.timeframe import EXCHANGE_TZ


def _sensor_result(instance: Any, resources: dict[str, Any]) -> dg.SensorResult:
    from jonbu_pipelines.defs.ingest.sensors import symbol_registry_sensor

    with dg.build_sensor_context(instance=instance, resources={"store": resources["store"]}) as ctx:
        result = symbol_registry_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def test_sensor_adds_new_registry_symbols_and_requests_their_backfill(resources, tmp_path, monkeypatch) -> None:
    from jonbu_pipelines.partitions import recent_sessions

    monkeypatch.setenv("JONBU_DAGSTER_LOOKBACK_SESSIONS", "25")
    from jonbu_core.settings import get_settings

    get_settings.cache_clear()
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        # first start: an empty registry is seeded from JONBU_SYMBOLS
        first = _sensor_result(instance, resources)
        added = first.dynamic_partitions_requests[0]
        assert isinstance(added, dg.AddDynamicPartitionsRequest)
        assert added.partitions_def_name == "symbols"
        assert list(added.partition_keys) == ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA"]
        days = recent_sessions(25, datetime.now(UTC))
        assert len(days) == 25
        # 25 sessions per symbol: a run of 20 and a run of 5 (backfill policy chunk)
        assert len(first.run_requests) == 5 * 2
        aapl = [r for r in first.run_requests if r.tags.get("jonbu/symbol") == "AAPL"]
        ranges = sorted((r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
                        for r in aapl)
        assert ranges[0] == (f"{days[0]}|AAPL", f"{days[19]}|AAPL")
        assert ranges[1] == (f"{days[20]}|AAPL", f"{days[24]}|AAPL")
        assert {k.to_user_string() for r in aapl for k in r.asset_selection} == {"raw_bars_1m", "raw_bars_1d"}
        assert len({r.run_key for r in first.run_requests}) == 10

        # the daemon applies the request; a new symbol in the registry is picked up next tick
        instance.add_dynamic_partitions("symbols", list(added.partition_keys))
        with resources["store"].session() as store:
            store.add_symbols(["TSLA"])
            store.deactivate_symbol("MSFT")
        second = _sensor_result(instance, resources)
        assert [list(r.partition_keys) for r in second.dynamic_partitions_requests] == [["TSLA"]]
        assert {r.tags["jonbu/symbol"] for r in second.run_requests} == {"TSLA"}

        instance.add_dynamic_partitions("symbols", ["TSLA"])
        third = _sensor_result(instance, resources)
        assert not third.run_requests and not third.dynamic_partitions_requests
        assert third.skip_reason is not None
    get_settings.cache_clear()


def _schedule(instance: Any, resources: dict[str, Any], when: datetime) -> Any:
    from jonbu_pipelines.defs.ingest.schedules import daily_topup_schedule

    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                   resources={"store": resources["store"]}) as ctx:
        return daily_topup_schedule(ctx)


def test_topup_schedule_requests_the_session_that_just_closed(resources, instance) -> None:
    # `instance` has the partitions AAPL, MSFT, NVDA
    with resources["store"].session() as store:
        store.add_symbols(["AAPL", "MSFT", "NVDA"])
    when = datetime(2024, 1, 3, 17, 15, tzinfo=EXCHANGE_TZ)
    out = _schedule(instance, resources, when)
    assert isinstance(out, list) and len(out) == 1  # adjacent symbols share one run
    tags = out[0].tags
    assert tags["dagster/asset_partition_range_start"] == "2024-01-03|AAPL"
    assert tags["dagster/asset_partition_range_end"] == "2024-01-03|NVDA"

    with resources["store"].session() as store:
        store.deactivate_symbol("MSFT")
    out = _schedule(instance, resources, when)
    assert sorted(r.partition_key for r in out) == ["2024-01-03|AAPL", "2024-01-03|NVDA"]
    assert all(r.run_key and r.run_key.startswith("topup:2024-01-03") for r in out)

    # the keys are real partitions of raw_bars_1m
    from jonbu_pipelines.partitions import symbol_sessions

    keys = symbol_sessions.get_partition_keys(dynamic_partitions_store=instance)
    assert out[0].partition_key in keys and out[1].partition_key in keys

    # an exchange holiday (MLK day) and an early close (day after Thanksgiving)
    skip = _schedule(instance, resources, datetime(2024, 1, 15, 17, 15, tzinfo=EXCHANGE_TZ))
    assert isinstance(skip, dg.SkipReason) and "not a XNYS session" in (skip.skip_message or "")
    early = _schedule(instance, resources, datetime(2024, 11, 29, 17, 15, tzinfo=EXCHANGE_TZ))
    assert sorted(r.partition_key for r in early) == ["2024-11-29|AAPL", "2024-11-29|NVDA"]
