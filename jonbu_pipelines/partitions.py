"""Partitions of the raw bars: exchange sessions × tracked symbols.

* ``date``: one partition per weekday from ``JONBU_DAGSTER_START`` (cron ``0 0 * * 1-5`` in
  America/New_York), with the exchange's known holidays excluded, so neither weekends nor
  holidays show up as empty partitions. A partition key is the session date
  (``2024-01-02``). ``end_offset=1`` makes today's session available, so the after-close
  top-up can materialize it the same evening.
* ``symbol``: a dynamic partition set named ``symbols``, kept in step with the store's
  symbol registry by :mod:`jonbu_pipelines.defs.ingest.sensors`.

A multi-partition key reads ``2024-01-02|AAPL`` (dimensions sorted by name).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

from jonbu_core.calendar import session_bounds, sessions
from jonbu_core.settings import get_settings
from jonbu_core.timeframe import EXCHANGE_TZ

SYMBOLS_PARTITION = "symbols"
DATE_DIM = "date"
SYMBOL_DIM = "symbol"
DATE_FMT = "%Y-%m-%d"
SESSION_CRON = "0 0 * * 1-5"

symbols_partitions = dg.DynamicPartitionsDefinition(name=SYMBOLS_PARTITION)


def holidays(start: date, end: date, exchange: str = "XNYS") -> list[date]:
    """Weekdays in ``[start, end]`` that are not sessions of ``exchange``."""
    weekdays = [d.date() for d in pd.bdate_range(start, end)]
    open_days = set(sessions(start, end, exchange))
    return [d for d in weekdays if d not in open_days]


def session_partitions(start: date | None = None, exchange: str | None = None) -> dg.TimeWindowPartitionsDefinition:
    """Daily partitions of exchange sessions (weekdays minus known holidays).

    Holidays are excluded up to the end of the current year, so the definition only changes
    once a year; a holiday beyond that still gets a partition, which materializes empty with a
    note (see :mod:`jonbu_pipelines.defs.ingest.assets`).
    """
    settings = get_settings()
    start = start or settings.dagster_start
    exchange = exchange or settings.exchange
    horizon = date(datetime.now(EXCHANGE_TZ).year, 12, 31)
    excluded = [datetime(d.year, d.month, d.day) for d in holidays(start, horizon, exchange)]
    return dg.TimeWindowPartitionsDefinition(
        start=start.strftime(DATE_FMT),
        fmt=DATE_FMT,
        cron_schedule=SESSION_CRON,
        timezone=str(EXCHANGE_TZ),
        end_offset=1,
        exclusions=excluded or None,
    )


daily_sessions = session_partitions()

symbol_sessions = dg.MultiPartitionsDefinition({DATE_DIM: daily_sessions, SYMBOL_DIM: symbols_partitions})
"""The partitions of ``raw_bars_1m`` and ``raw_bars_1d``."""


def partition_key(day: date | str, symbol: str) -> dg.MultiPartitionKey:
    """The multi-partition key of (session ``day``, ``symbol``)."""
    text = day if isinstance(day, str) else day.strftime(DATE_FMT)
    return dg.MultiPartitionKey({DATE_DIM: text, SYMBOL_DIM: symbol})


def split_key(key: str | dg.MultiPartitionKey) -> tuple[date, str]:
    """``(session date, symbol)`` of a multi-partition key (or its ``2024-01-02|AAPL`` string)."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return date.fromisoformat(dims[DATE_DIM]), dims[SYMBOL_DIM]
    day, symbol = str(key).split("|", 1)
    return date.fromisoformat(day), symbol


def days_by_symbol(keys: Iterable[str | dg.MultiPartitionKey]) -> dict[str, list[date]]:
    """Group partition keys into ``{symbol: sorted session dates}``."""
    out: dict[str, set[date]] = defaultdict(set)
    for key in keys:
        day, symbol = split_key(key)
        out[symbol].add(day)
    return {sym: sorted(days) for sym, days in sorted(out.items())}


def contiguous_runs(days: Sequence[date], all_days: Sequence[date]) -> list[list[date]]:
    """Split sorted ``days`` into runs that are consecutive within ``all_days`` (the partitions).

    A run of sessions can be fetched with one provider request.
    """
    index = {d: i for i, d in enumerate(all_days)}
    runs: list[list[date]] = []
    for day in days:
        if runs and day in index and runs[-1][-1] in index and index[day] == index[runs[-1][-1]] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def range_tags(first: str | dg.MultiPartitionKey, last: str | dg.MultiPartitionKey) -> dict[str, str]:
    """Run tags asking for the partition range ``[first, last]`` in one run."""
    return {
        "dagster/asset_partition_range_start": str(first),
        "dagster/asset_partition_range_end": str(last),
    }


def latest_closed_session(now: datetime, exchange: str = "XNYS") -> date | None:
    """The most recent session whose close is at or before ``now`` (timezone-aware)."""
    local = now.astimezone(EXCHANGE_TZ).date()
    candidates = sessions(local - timedelta(days=14), local, exchange)
    for day in reversed(candidates):
        if session_bounds(day, exchange)[1] <= now:
            return day
    return None


def recent_sessions(count: int, now: datetime, exchange: str = "XNYS", start: date | None = None) -> list[date]:
    """The last ``count`` closed sessions up to ``now`` (not before ``start``), ascending."""
    last = latest_closed_session(now, exchange)
    if last is None:
        return []
    first = start or get_settings().dagster_start
    span = sessions(max(first, last - timedelta(days=count * 2 + 14)), last, exchange)
    return span[-count:]
