"""When the lake is maintained: Sundays at 03:00 America/New_York (markets closed)."""

from __future__ import annotations

import dagster as dg

from jonbu_core.timeframe import EXCHANGE_TZ
from jonbu_pipelines.defs.maintenance.jobs import lake_maintenance_job

lake_maintenance_schedule = dg.ScheduleDefinition(
    name="lake_maintenance_schedule",
    job=lake_maintenance_job,
    cron_schedule="0 3 * * 0",
    execution_timezone=str(EXCHANGE_TZ),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly compaction and vacuum (7-day retention) of the lake's Delta tables.",
)
