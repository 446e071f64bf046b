"""Lake maintenance: compaction shrinks the file count, keeps the data, and old readers keep reading."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import dagster as dg
from deltalake import DeltaTable

from tests.pipelines.conftest import read_delta_bars


def test_compact_and_vacuum_keep_data_and_readers(resources, data_dir: Path) -> None:
    from jonbu_core.calendar import sessions
    from jonbu_pipelines.defs.ingest.fetch import fetch_days
    from jonbu_pipelines.defs.maintenance.jobs import lake_maintenance_job, table_stats

    days = sessions(date(2024, 1, 2), date(2024, 1, 12))
    with resources["store"].session() as store:
        provider = resources["provider"].open()
        for day in days:  # one commit (and file) per day: many small files
            fetch_days(store, provider, "AAPL", "1m", [day], keep_bars=False)
    before = read_delta_bars(data_dir)
    files_before = table_stats(data_dir / "lake")["bars"]["files"]
    assert files_before >= len(days)
    old_reader = DeltaTable(str(data_dir / "lake" / "bars"))  # a reader on the pre-compaction version

    # a writer keeps going while the maintenance runs (another symbol, its own partition)
    def write() -> None:
        with resources["store"].session() as s2:
            fetch_days(s2, resources["provider"].open(), "MSFT", "1m", days[:3], keep_bars=False)

    writer = threading.Thread(target=write)
    writer.start()
    result = lake_maintenance_job.execute_in_process(
        resources={"store": resources["store"]},
        run_config={"ops": {"compact_and_vacuum": {"config": {"retention_hours": 1}}}},
    )
    writer.join(timeout=120)
    assert result.success
    out = result.output_for_node("compact_and_vacuum")
    assert out["after"]["bars"]["files"] <= 4  # AAPL compacted to one file, MSFT at most 3
    observations = [e for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION]
    assert {e.asset_key.to_user_string() for e in observations} == {"raw_bars_1m", "raw_bars_1d"}

    after = read_delta_bars(data_dir)
    aapl = after.filter(after.column("symbol").to_numpy(zero_copy_only=False) == "AAPL")
    assert aapl.equals(before)
    assert after.num_rows == before.num_rows + 3 * 390  # the concurrent writer's rows are there
    # files of the old version are within the retention window: the old reader still reads
    assert old_reader.to_pyarrow_table().num_rows == before.num_rows
