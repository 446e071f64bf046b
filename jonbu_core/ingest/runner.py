"""Fetch orchestration: symbols × sessions, from a provider into a store, resumably.

For each symbol, the sessions of ``[start, end]`` already complete in the store
(native bar count ≥ the calendar's expected bars) are skipped; the others are
asked of the provider in windows of consecutive sessions (so memory stays bounded).
Sessions with nothing stored are written together, one atomic upsert per window
(:meth:`BarStore.write_bars`); partly stored sessions are replaced one at a time
with :meth:`BarStore.replace_day` (atomic and authoritative). Either way a fetch
killed midway leaves whole sessions behind, and a re-run completes it without
duplicates. Validation and quarantine happen in the store, once per row; its
:class:`~jonbu_core.stores.base.WriteResult` counts are summed here, never recounted.

With ``fill_gaps`` only the missing bars are requested (:mod:`jonbu_core.ingest.gaps`)
and upserted with :meth:`BarStore.write_bars`; bars already stored stay untouched.

A progress callback gets one :class:`ProgressEvent` per (symbol, session).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pyarrow as pa

from jonbu_core import calendar as cal
from jonbu_core.errors import InvalidInputError, ProviderAuthError, ProviderError
from jonbu_core.ingest.gaps import (
    Gap,
    check_fetch_timeframe,
    day_gaps,
    expected_day,
    merge_gaps,
    to_us,
)
from jonbu_core.ingest.summary import IngestSummary, ProgressCallback, ProgressEvent, SymbolSummary
from jonbu_core.models import BAR_SCHEMA_NULLABLE, QUARANTINE_SCHEMA, conform_bars, parse_symbols
from jonbu_core.providers.base import HistoryProvider
from jonbu_core.stores.base import BarStore, WriteResult
from jonbu_core.timeframe import EXCHANGE_TZ, Timeframe
from jonbu_core.timeutil import parse_date

logger = logging.getLogger(__name__)

_EPOCH_DAY = date(1970, 1, 1)


class _Progress:
    def __init__(self, callback: ProgressCallback | None, total: int, timeframe: str) -> None:
        self.callback, self.total, self.done, self.timeframe = callback, total, 0, timeframe

    def __call__(self, symbol: str, day: date, status: str, rows: int = 0, quarantined: int = 0) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(ProgressEvent(symbol, self.timeframe, day, status, rows, quarantined, self.done, self.total))


def _collect(batches: Iterable[pa.RecordBatch]) -> pa.Table:
    items = [b for b in batches if b.num_rows]
    if not items:
        return BAR_SCHEMA_NULLABLE.empty_table()
    try:
        return conform_bars(pa.Table.from_batches(items))
    except pa.ArrowInvalid:  # batches of different schemas: conform one by one
        return pa.concat_tables([conform_bars(b) for b in items])


def _local_dates(table: pa.Table) -> pl.Series:
    df = pl.from_arrow(table.select(["ts"]))
    assert isinstance(df, pl.DataFrame)
    return df.get_column("ts").dt.convert_time_zone(str(EXCHANGE_TZ)).dt.date()


def _split_days(table: pa.Table, days: Sequence[date]) -> tuple[dict[date, pa.Table], pa.Table]:
    """Rows per session of ``days``; rows of other dates; rows without a ts go to the first day."""
    if table.num_rows == 0:
        return {}, table
    codes = _local_dates(table).fill_null(days[0]).to_physical().to_numpy()  # days since 1970-01-01
    order = np.argsort(codes, kind="stable")
    uniq, first = np.unique(codes[order], return_index=True)
    bounds = [*first.tolist(), len(order)]
    wanted = {(d - _EPOCH_DAY).days: d for d in days}
    out: dict[date, pa.Table] = {}
    stray: list[np.ndarray] = []
    for k, code in enumerate(uniq.tolist()):
        rows = order[bounds[k] : bounds[k + 1]]
        if code in wanted:
            out[wanted[code]] = table.take(pa.array(rows))
        else:
            stray.append(rows)
    strays = table.take(pa.array(np.sort(np.concatenate(stray)))) if stray else table.slice(0, 0)
    return out, strays


def _quarantine(store: BarStore, rows: pa.Table, reason: str) -> WriteResult:
    """Quarantine ``rows`` with one reason (rows a provider sent outside what was asked)."""
    if rows.num_rows == 0:
        return WriteResult(0)
    now = pa.array([datetime.now(UTC)] * rows.num_rows, QUARANTINE_SCHEMA.field("quarantined_at").type)
    reasons = pa.array([reason] * rows.num_rows, pa.string())
    bad = pa.Table.from_arrays([*conform_bars(rows).columns, reasons, now], schema=QUARANTINE_SCHEMA)
    store.quarantine(bad)
    logger.warning("quarantined %d rows outside the requested sessions (%s)", rows.num_rows, reason)
    return WriteResult(0, rows.num_rows, {reason: rows.num_rows})


def _windows(todo: Sequence[date], days: Sequence[date], size: int) -> Iterator[list[date]]:
    """Runs of consecutive sessions of ``todo`` (consecutive in ``days``), at most ``size`` long."""
    index = {d: i for i, d in enumerate(days)}
    run: list[date] = []
    for d in todo:
        if run and (index[d] != index[run[-1]] + 1 or len(run) >= size):
            yield run
            run = []
        run.append(d)
    if run:
        yield run


def _fetch_range(provider: HistoryProvider, symbol: str, tf: Timeframe, lo: datetime, hi: datetime) -> pa.Table:
    return _collect(provider.bars([symbol], tf.name, lo, hi))


def _write_new_days(
    store: BarStore, s: SymbolSummary, days: list[date], per_day: dict[date, pa.Table], progress: _Progress
) -> None:
    """Write sessions that have nothing stored in one upsert (one commit instead of one per session).

    The store validates and quarantines once and reports totals; progress events
    charge the window's quarantined rows to its last sessions (so the per-symbol
    sums are exact, the per-session split approximate).
    """
    parts = [per_day[d] for d in days if d in per_day]
    result = store.write_bars(pa.concat_tables(parts)) if parts else WriteResult(0)
    s.add(result)
    bad: dict[date, int] = {}
    left = result.quarantined
    for d in reversed(days):
        if d in per_day and left:
            bad[d] = min(left, per_day[d].num_rows)
            left -= bad[d]
    for d in days:
        part = per_day.get(d)
        if part is None:
            progress(s.symbol, d, "empty")
            continue
        s.fetched_days += 1
        progress(s.symbol, d, "stored", part.num_rows - bad.get(d, 0), bad.get(d, 0))


def _whole_days(
    store: BarStore, provider: HistoryProvider, s: SymbolSummary, tf: Timeframe,
    todo: list[date], days: list[date], stored: dict[date, int], window: int, progress: _Progress,
) -> None:
    for run in _windows(todo, days, window):
        lo, _ = cal.day_bounds_utc(run[0])
        _, hi = cal.day_bounds_utc(run[-1])
        s.requests += 1
        try:
            table = _fetch_range(provider, s.symbol, tf, lo, hi)
        except ProviderAuthError:
            raise
        except ProviderError as exc:
            s.errors.append(f"{run[0]}..{run[-1]}: {exc.message}")
            s.failed_days += len(run)
            for d in run:
                progress(s.symbol, d, "failed")
            continue
        s.received += table.num_rows
        per_day, stray = _split_days(table, run)
        s.add(_quarantine(store, stray, "off_grid"))
        _write_new_days(store, s, [d for d in run if stored.get(d, 0) == 0], per_day, progress)
        for d in run:
            if stored.get(d, 0) == 0:
                continue
            part = per_day.get(d)
            if part is None:  # keep what is stored rather than replace it with nothing
                progress(s.symbol, d, "empty")
                continue
            result = store.replace_day(s.symbol, tf.name, d, part)
            s.add(result)
            s.fetched_days += 1
            progress(s.symbol, d, "stored", result.written, result.quarantined)


def _fill_day(
    store: BarStore, provider: HistoryProvider, s: SymbolSummary, tf: Timeframe,
    day: date, gaps: list[Gap], progress: _Progress,
) -> None:
    if tf.is_intraday:
        step = tf.seconds * 1_000_000
        missing = np.concatenate([np.arange(to_us(g.start), to_us(g.end), step, dtype=np.int64) for g in gaps])
    else:
        missing = np.array([to_us(g.start) for g in gaps], dtype=np.int64)
    parts: list[pa.Table] = []
    try:
        for lo, hi in merge_gaps(gaps, tf):
            s.requests += 1
            parts.append(_fetch_range(provider, s.symbol, tf, lo, hi))
    except ProviderAuthError:
        raise
    except ProviderError as exc:
        s.errors.append(f"{day}: {exc.message}")
        s.failed_days += 1
        progress(s.symbol, day, "failed")
        return
    table = pa.concat_tables(parts) if parts else BAR_SCHEMA_NULLABLE.empty_table()
    s.received += table.num_rows
    per_day, stray = _split_days(table, [day])
    s.add(_quarantine(store, stray, "off_grid"))
    part = per_day.get(day)
    if part is None:
        progress(s.symbol, day, "empty")
        return
    ts = part.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    keep = pa.array(np.isin(ts, missing) | part.column("ts").is_null().to_numpy(zero_copy_only=False))
    result = store.write_bars(part.filter(keep))
    s.add(result)
    s.fetched_days += 1
    progress(s.symbol, day, "stored", result.written, result.quarantined)


def fetch(
    store: BarStore,
    provider: HistoryProvider,
    symbols: str | Sequence[str],
    timeframe: str,
    start: date | str,
    end: date | str | None = None,
    *,
    fill_gaps: bool = False,
    force: bool = False,
    progress: ProgressCallback | None = None,
    exchange: str | None = None,
    window: int = 20,
) -> IngestSummary:
    """Fetch bars of ``symbols`` for the sessions in ``[start, end]`` into ``store``.

    Parameters
    ----------
    store : BarStore
        Where bars go (validated and quarantined there).
    provider : HistoryProvider
        Where bars come from.
    symbols : str or sequence of str
        ``"AAPL,MSFT"`` or a list.
    timeframe : str
        ``1m``, ``5m``, ``15m``, ``30m``, ``1h``, ``4h`` or ``1d``.
    start, end : date or str
        Inclusive session dates (``end`` defaults to today).
    fill_gaps : bool
        Ask only for the missing bars of partly stored sessions (and whole empty
        sessions) and upsert them; stored bars are not touched.
    force : bool
        Re-fetch and replace complete sessions too.
    progress : callable, optional
        Called with a :class:`ProgressEvent` after each (symbol, session).
    exchange : str, optional
        Exchange calendar (the store's by default).
    window : int
        Consecutive sessions per provider request (bounds memory).

    Returns
    -------
    IngestSummary

    Raises
    ------
    ProviderAuthError
        When the provider refuses the credentials (nothing more is fetched).
    InvalidInputError
        For bad symbols, timeframe or dates.
    """
    tf = check_fetch_timeframe(timeframe)
    syms = parse_symbols(symbols)
    exchange = exchange or str(getattr(store, "exchange", "XNYS"))
    start_d = parse_date(start)
    end_d = parse_date(end) if end is not None else datetime.now(EXCHANGE_TZ).date()
    if start_d > end_d:
        raise InvalidInputError(f"start ({start_d}) must not be after end ({end_d})")
    t0 = time.perf_counter()
    days = cal.sessions(start_d, end_d, exchange)
    summary = IngestSummary(provider.name, provider.source, str(getattr(store, "name", "?")), tf.name,
                            start_d, end_d, fill_gaps)
    tick = _Progress(progress, len(syms) * len(days), tf.name)
    expected = {d: len(expected_day(tf, d, exchange)) for d in days}
    for sym in syms:
        s = SymbolSummary(sym, tf.name, sessions=len(days))
        summary.symbols.append(s)
        if not days:
            continue
        stored = store.stored_days(sym, tf.name, start_d, end_d)
        gaps: dict[date, list[Gap]] = {}
        if force:
            whole = list(days)
        elif fill_gaps:
            whole = [d for d in days if stored.get(d, 0) == 0]
            partial = [d for d in days if stored.get(d, 0) > 0]
            for run in _windows(partial, days, window):
                gaps.update(day_gaps(store, sym, tf, run, exchange))
        else:
            whole = [d for d in days if stored.get(d, 0) < expected[d]]
        planned = set(whole) | set(gaps)
        for d in days:
            if d not in planned:
                s.skipped_days += 1
                tick(sym, d, "skipped")
        _whole_days(store, provider, s, tf, whole, days, stored, window, tick)
        for d in sorted(gaps):
            _fill_day(store, provider, s, tf, d, gaps[d], tick)
        s.gaps_left = store.coverage(sym, tf.name, start_d, end_d).missing
        logger.info("fetched %s %s: %d stored, %d quarantined, %d missing", sym, tf.name, s.stored,
                    s.quarantined, s.gaps_left)
    summary.seconds = time.perf_counter() - t0
    return summary


def ingest_day(store: BarStore, provider: HistoryProvider, symbol: str, timeframe: str, day: date) -> IngestSummary:
    """Fetch and replace one session of one symbol (what a Dagster partition does)."""
    return fetch(store, provider, [symbol], timeframe, day, day, force=True)


__all__ = ["IngestSummary", "ProgressCallback", "ProgressEvent", "SymbolSummary", "fetch", "ingest_day"]
