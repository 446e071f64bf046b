"""The after-close top-up: fetch the session that just closed for every active symbol."""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg

from jonbu_core.timeframe import EXCHANGE_TZ
from jonbu_pipelines.defs.ingest.assets import raw_bars_1d, raw_bars_1m
from jonbu_pipelines.partitions import (
    SYMBOLS_PARTITION,
    latest_closed_session,
    partition_key,
    range_tags,
)
from jonbu_pipelines.resources import StoreResource

TOPUP_CRON = "15 17 * * 1-5"
"""17:15 America/New_York on weekdays: 75 minutes after the regular close (data settles)."""


def topup_requests(day: date, symbols: Sequence[str], ordered: Sequence[str]) -> list[dg.RunRequest]:
    """Run requests for ``day`` × ``symbols``; symbols adjacent in ``ordered`` share one run."""
    wanted = set(symbols)
    groups: list[list[str]] = []
    prev_ok = False
    for sym in ordered:
        if sym in wanted:
            if prev_ok:
                groups[-1].append(sym)
            else:
                groups.append([sym])
        prev_ok = sym in wanted
    out = []
    selection = [raw_bars_1m.key, raw_bars_1d.key]
    for group in groups:
        first, last = partition_key(day, group[0]), partition_key(day, group[-1])
        tags = {"jonbu/trigger": "topup"}
        if len(group) == 1:
            out.append(dg.RunRequest(run_key=f"topup:{first}", asset_selection=selection,
                                     partition_key=str(first), tags=tags))
        else:
            out.append(dg.RunRequest(run_key=f"topup:{first}:{last}", asset_selection=selection,
                                     tags={**tags, **range_tags(first, last)}))
    return out


@dg.schedule(
    name="daily_topup_schedule",
    cron_schedule=TOPUP_CRON,
    execution_timezone=str(EXCHANGE_TZ),
    target=[raw_bars_1m, raw_bars_1d],
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_topup_schedule(
    context: dg.ScheduleEvaluationContext, store: StoreResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """After the close on weekdays: re-fetch the session that just closed for every active symbol.

    Yields the partitions `<session>|<symbol>` of `raw_bars_1m` and `raw_bars_1d` (symbols that
    sit next to each other in the partition list share one run). On an exchange holiday it
    skips with the reason. Re-fetching is idempotent, so running it twice is harmless.
    """
    when = context.scheduled_execution_time or datetime.now(UTC)
    day = latest_closed_session(when, store.exchange)
    local_day = when.astimezone(EXCHANGE_TZ).date()
    if day is None or day != local_day:
        return dg.SkipReason(f"{local_day} is not a {store.exchange} session (or it has not closed yet)")
    with store.session() as bars_store:
        active = {i.symbol for i in bars_store.list_symbols(active_only=True)}
    ordered = context.instance.get_dynamic_partitions(SYMBOLS_PARTITION)
    symbols = [s for s in ordered if s in active]
    if not symbols:
        return dg.SkipReason("no active symbol has a partition yet (the registry sensor adds them)")
    return topup_requests(day, symbols, ordered)
