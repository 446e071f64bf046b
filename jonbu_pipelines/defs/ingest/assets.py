"""Raw bars: one (session, symbol) partition fetched from the provider and replaced in the store."""

from collections.abc import Sequence

import dagster as dg

from jonbu_core.models import BAR_SCHEMA
from jonbu_pipelines.defs.ingest.fetch import DayResult, fetch_days
from jonbu_pipelines.metadata import (
    bars_preview,
    clean,
    column_schema,
    markdown_table,
    md,
    price_plot,
)
from jonbu_pipelines.partitions import days_by_symbol, partition_key, symbol_sessions
from jonbu_pipelines.resources import ProviderResource, StoreResource

#: Partitions one run may cover: a provider serves a symbol's consecutive sessions in one
#: request, so a backfill of 20 sessions of a symbol is a single run.
MAX_PARTITIONS_PER_RUN = 20

_COLUMNS = {
    "symbol": "Ticker, upper case.",
    "timeframe": "Bar length (1m, 1d).",
    "ts": "Bar open time, UTC. A 1d bar is labelled midnight America/New_York of its session.",
    "open": "First trade price of the bar.",
    "high": "Highest trade price.",
    "low": "Lowest trade price.",
    "close": "Last trade price of the bar.",
    "volume": "Shares traded.",
    "trade_count": "Number of trades (null when the provider does not say).",
    "vwap": "Volume-weighted average price (null when unknown).",
    "source": "Where the bar came from: mock, alpaca-iex, alpaca-sip, stream.",
}


def _day_metadata(res: DayResult, provider: str, store: str, *, plot: bool) -> dict[str, object]:
    preview = bars_preview(res.bars) if res.bars is not None and res.bars.num_rows else None
    summary = markdown_table(
        [
            {
                "session": res.day,
                "bars": res.rows,
                "expected": res.expected,
                "coverage": f"{res.coverage:.1%}",
                "quarantined": res.quarantined,
                "first ts": res.first_ts,
                "last ts": res.last_ts,
            }
        ]
    )
    body = summary + ("\n\n" + preview if preview else "") + (f"\n\n> {res.note}" if res.note else "")
    chart = None
    if plot and res.bars is not None and res.bars.num_rows > 1:
        chart = price_plot(res.bars, f"{res.symbol} {res.timeframe} {res.day}")
    return clean(
        {
            "dagster/row_count": res.rows,
            "rows": res.rows,
            "quarantined": res.quarantined,
            "quarantine_reasons": dg.MetadataValue.json(res.reasons) if res.reasons else None,
            "expected_bars": res.expected,
            "coverage": float(round(res.coverage, 6)),
            "first_ts": res.first_ts.isoformat() if res.first_ts else None,
            "last_ts": res.last_ts.isoformat() if res.last_ts else None,
            "provider": provider,
            "store": store,
            "note": res.note,
            "preview": md(body),
            "chart": md(chart),
        }
    )


def _materialize(
    context: dg.AssetExecutionContext,
    store: StoreResource,
    provider: ProviderResource,
    timeframe: str,
) -> dg.MaterializeResult[None]:
    keys: Sequence[str] = context.partition_keys
    plan = days_by_symbol(keys)
    client = provider.open()
    bars_store = store.get()
    results: list[DayResult] = []
    try:
        for symbol, days in plan.items():
            context.log.info("%s %s: %d sessions %s … %s", symbol, timeframe, len(days), days[0], days[-1])
            day_results = fetch_days(bars_store, client, symbol, timeframe, days, exchange=store.exchange)
            for i, res in enumerate(day_results):
                meta = _day_metadata(
                    res, provider.source_name(), store.describe(), plot=i == len(day_results) - 1
                )
                context.add_asset_metadata(meta, partition_key=str(partition_key(res.day, symbol)))
            results += day_results
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()
    total = sum(r.rows for r in results)
    quarantined = sum(r.quarantined for r in results)
    context.log.info("%s: %d bars stored, %d quarantined, %d partitions", timeframe, total, quarantined, len(results))
    return dg.MaterializeResult()


@dg.asset(
    partitions_def=symbol_sessions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    group_name="ingest",
    kinds={"python", "deltalake"},
    code_version="1",
    metadata={"dagster/column_schema": column_schema(BAR_SCHEMA, _COLUMNS)},
    tags={"timeframe": "1m"},
)
def raw_bars_1m(
    context: dg.AssetExecutionContext, store: StoreResource, provider: ProviderResource
) -> dg.MaterializeResult[None]:
    """1-minute OHLCV bars of one symbol for one exchange session.

    Fetched from the configured provider (`JONBU_PROVIDER`: the deterministic mock market by
    default, Alpaca with keys) and written with `store.replace_day`, so re-materializing a
    partition replaces the day: the data ends up identical, never duplicated. Rows that fail
    validation (NaN, high < low, open/close outside the range, negative volume, duplicates,
    off-grid timestamps) go to the store's quarantine with their reason.

    Partitions: exchange sessions (weekdays minus exchange holidays) × the symbols of the
    registry. A backfill covers up to 20 sessions of a symbol per run, fetched in one
    provider request. Each partition's metadata shows rows, quarantined rows, first/last
    timestamp, coverage of the session's minutes and a preview of the bars.
    """
    return _materialize(context, store, provider, "1m")


@dg.asset(
    partitions_def=symbol_sessions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    group_name="ingest",
    kinds={"python", "deltalake"},
    code_version="1",
    metadata={"dagster/column_schema": column_schema(BAR_SCHEMA, _COLUMNS)},
    tags={"timeframe": "1d"},
)
def raw_bars_1d(
    context: dg.AssetExecutionContext, store: StoreResource, provider: ProviderResource
) -> dg.MaterializeResult[None]:
    """The daily bar of one symbol for one exchange session, as the provider reports it.

    Providers compute their daily bar from all trades (Alpaca includes the auction prints),
    so it may differ slightly from the roll-up of 1-minute bars; both are kept: a read of `1d`
    returns this native bar, and dbt's `bars_1d` is the roll-up. Labelled midnight
    America/New_York of the session (Alpaca's convention). Idempotent like `raw_bars_1m`.
    """
    return _materialize(context, store, provider, "1d")
