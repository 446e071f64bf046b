"""When dbt runs: after the daily top-up has stored the session."""

from __future__ import annotations

import dagster as dg

from jonbu_core.timeframe import EXCHANGE_TZ
from jonbu_pipelines.defs.transform.assets import dbt_job

dbt_after_topup_schedule = dg.ScheduleDefinition(
    name="dbt_after_topup_schedule",
    job=dbt_job,
    cron_schedule="45 17 * * 1-5",
    execution_timezone=str(EXCHANGE_TZ),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuild the dbt rollups and quality mart at 17:45 ET, after the 17:15 top-up.",
)
