"""Fetch symbol-days from a provider into the store, reporting per day (no Dagster here).

One provider request covers a run of consecutive sessions of one symbol; each session is then
written with ``store.replace_day`` (idempotent: re-running leaves identical data).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa

from jonbu_core import calendar as cal
from jonbu_core.models import BAR_SCHEMA, conform_bars
from jonbu_core.stores.base import BarStore
from jonbu_core.timeframe import EXCHANGE_TZ

logger = logging.getLogger(__name__)


@dataclass
class DayResult:
    """What happened to one (symbol, timeframe, session)."""

    symbol: str
    timeframe: str
    day: date
    rows: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    expected: int = 0
    bars: pa.Table | None = None
    note: str | None = None

    @property
    def coverage(self) -> float:
        """Stored bars / expected bars (1.0 when none are expected)."""
        return 1.0 if self.expected <= 0 else min(1.0, self.rows / self.expected)


def session_runs(days: Sequence[date], exchange: str) -> tuple[list[list[date]], list[date]]:
    """Split ``days`` into runs of consecutive sessions, and the days that are not sessions."""
    if not days:
        return [], []
    ordered = sorted(set(days))
    all_sessions = cal.sessions(ordered[0], ordered[-1], exchange)
    index = {d: i for i, d in enumerate(all_sessions)}
    runs: list[list[date]] = []
    closed: list[date] = []
    for day in ordered:
        if day not in index:
            closed.append(day)
        elif runs and index[day] == index[runs[-1][-1]] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs, closed


def _expected(day: date, timeframe: str, exchange: str) -> int:
    if timeframe == "1d":
        return 1
    return len(cal.session_minutes(day, exchange))


def _fetch_run(provider: Any, symbol: str, timeframe: str, run: list[date]) -> pa.Table:
    start = cal.session_label(run[0])
    end = cal.session_label(run[-1] + timedelta(days=1))
    batches = list(provider.bars([symbol], timeframe, start, end))
    if not batches:
        return BAR_SCHEMA.empty_table()
    return conform_bars(pa.Table.from_batches(batches))


def fetch_days(
    store: BarStore,
    provider: Any,
    symbol: str,
    timeframe: str,
    days: Sequence[date],
    *,
    exchange: str = "XNYS",
    keep_bars: bool = True,
) -> list[DayResult]:
    """Fetch ``days`` of ``symbol`` at ``timeframe`` and replace them in the store.

    Parameters
    ----------
    store : BarStore
        Where the bars go (``replace_day`` per session).
    provider : Provider
        Anything with ``bars(symbols, timeframe, start, end) -> Iterator[pa.RecordBatch]``.
    symbol, timeframe : str
        What to fetch.
    days : sequence of date
        Session dates; days that are not sessions give an empty result with a note.
    exchange : str
        The exchange calendar.
    keep_bars : bool
        Keep each day's stored bars on the result (for previews).

    Returns
    -------
    list of DayResult
        One per requested day, ascending.
    """
    runs, closed = session_runs(days, exchange)
    results = [
        DayResult(symbol, timeframe, d, note=f"{d:%a %Y-%m-%d} is not a {exchange} session (holiday): nothing to fetch")
        for d in closed
    ]
    today = datetime.now(EXCHANGE_TZ).date()
    for run in runs:
        table = _fetch_run(provider, symbol, timeframe, run)
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        df = df.with_columns(
            pl.col("ts").dt.convert_time_zone(str(EXCHANGE_TZ)).dt.date().alias("_day")
        )
        for day in run:
            day_df = df.filter(pl.col("_day") == day).drop("_day")
            wr = store.replace_day(symbol, timeframe, day, day_df.to_arrow())
            res = DayResult(
                symbol, timeframe, day, rows=wr.written, quarantined=wr.quarantined,
                reasons=dict(wr.reasons), expected=_expected(day, timeframe, exchange),
            )
            if day_df.height:
                good = day_df.sort("ts")
                res.first_ts = good.get_column("ts")[0]
                res.last_ts = good.get_column("ts")[-1]
                if keep_bars:
                    res.bars = good.to_arrow()
            if day == today:
                _open, close = cal.session_bounds(day, exchange)
                if datetime.now(EXCHANGE_TZ) < close:
                    res.note = "session still open: partial day, the after-close top-up completes it"
            elif wr.written == 0:
                res.note = "the provider returned no bars for this session"
            results.append(res)
    results.sort(key=lambda r: r.day)
    logger.info(
        "%s %s: %d days, %d bars, %d quarantined",
        symbol, timeframe, len(results), sum(r.rows for r in results), sum(r.quarantined for r in results),
    )
    return results
