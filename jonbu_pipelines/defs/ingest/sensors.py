"""The symbol-registry sensor: new symbols become partitions and get their history backfilled."""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import dagster as dg

from jonbu_core.settings import get_settings
from jonbu_pipelines.defs.ingest.assets import MAX_PARTITIONS_PER_RUN, raw_bars_1d, raw_bars_1m
from jonbu_pipelines.partitions import (
    SYMBOLS_PARTITION,
    partition_key,
    range_tags,
    recent_sessions,
    symbols_partitions,
)
from jonbu_pipelines.resources import StoreResource


def backfill_requests(symbol: str, days: Sequence[date], chunk: int = MAX_PARTITIONS_PER_RUN) -> list[dg.RunRequest]:
    """Run requests covering ``days`` of ``symbol``, ``chunk`` sessions per run (one provider call each)."""
    out: list[dg.RunRequest] = []
    for i in range(0, len(days), chunk):
        part = list(days[i : i + chunk])
        first, last = partition_key(part[0], symbol), partition_key(part[-1], symbol)
        tags = {"jonbu/trigger": "new-symbol", "jonbu/symbol": symbol}
        if len(part) == 1:
            out.append(
                dg.RunRequest(
                    run_key=f"new-symbol:{symbol}:{part[0]}",
                    asset_selection=[raw_bars_1m.key, raw_bars_1d.key],
                    partition_key=str(first),
                    tags=tags,
                )
            )
        else:
            out.append(
                dg.RunRequest(
                    run_key=f"new-symbol:{symbol}:{part[0]}:{part[-1]}",
                    asset_selection=[raw_bars_1m.key, raw_bars_1d.key],
                    tags={**tags, **range_tags(first, last)},
                )
            )
    return out


@dg.sensor(
    name="symbol_registry_sensor",
    target=[raw_bars_1m, raw_bars_1d],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def symbol_registry_sensor(context: dg.SensorEvaluationContext, store: StoreResource) -> dg.SensorResult:
    """Keep the `symbols` partitions in step with the store's symbol registry.

    Every minute: active registry symbols that are not partitions yet are added, and each gets
    a backfill of the last `JONBU_DAGSTER_LOOKBACK_SESSIONS` closed sessions (20 by default)
    of `raw_bars_1m` and `raw_bars_1d`, 20 sessions per run. On first start, an empty registry
    is seeded with `JONBU_SYMBOLS`. Deactivated symbols keep their partitions (their history
    stays browsable); the daily top-up skips them.
    """
    settings = get_settings()
    with store.session() as bars_store:
        infos = bars_store.list_symbols()
        if not infos:
            infos = bars_store.add_symbols(settings.symbol_list)
            context.log.info("registry was empty: tracking %s", ", ".join(settings.symbol_list))
    active = [i.symbol for i in infos if i.active]
    known = set(context.instance.get_dynamic_partitions(SYMBOLS_PARTITION))
    new = [s for s in active if s not in known]
    if not new:
        return dg.SensorResult(skip_reason=f"{len(active)} active symbols, all partitioned")
    days = recent_sessions(settings.dagster_lookback_sessions, datetime.now(UTC), store.exchange)
    requests = [req for sym in new for req in backfill_requests(sym, days)] if days else []
    context.log.info("adding partitions %s and %d backfill runs", new, len(requests))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[symbols_partitions.build_add_request(new)],
    )
