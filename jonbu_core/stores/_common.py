"""Logic shared by every :class:`~jonbu_core.stores.base.BarStore` adapter.

An adapter subclasses :class:`StoreBase` and implements a handful of primitive
operations on *native* rows (``_scan``, ``_ts_bounds``, ``_upsert``,
``_replace_range``); everything with domain rules in it lives here, once:

* validation and quarantine on write (:meth:`StoreBase.write_bars`,
  :meth:`StoreBase.replace_day`);
* the source-precedence rule (:func:`is_stream`, :func:`merge_precedence`);
* opaque cursors (:func:`encode_cursor`, :func:`decode_cursor`);
* roll-up on read and its combination with native bars (:meth:`StoreBase.read_bars`);
* latest bar, coverage against the exchange calendar and stored days.
"""

from __future__ import annotations

import base64
import binascii
import logging
from abc import ABC, abstractmethod
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from jonbu_core import calendar as cal
from jonbu_core.errors import InvalidInputError
from jonbu_core.models import (
    BAR_SCHEMA,
    QUARANTINE_SCHEMA,
    Bar,
    SymbolInfo,
    conform_bars,
    normalize_symbol,
    to_utc,
)
from jonbu_core.rollup import rollup
from jonbu_core.stores.base import BarPage, Coverage, WriteResult
from jonbu_core.timeframe import BASE, EXCHANGE_TZ, Timeframe, parse_timeframe
from jonbu_core.validation import REASONS, validate_bars

logger = logging.getLogger(__name__)

#: The ``source`` of bars built from the live trade stream; every other source is a provider.
STREAM_SOURCE = "stream"
KEY = ["symbol", "timeframe", "ts"]
_CURSOR_PREFIX = "c1"
_MAX_SAMPLE = 100
#: Upper bound of 1m bars inside one bar of each timeframe (a 25-hour DST day for 1d).
_MINUTES_PER_BAR = {"1d": 25 * 60, "1w": 7 * 24 * 60 + 60}


# ----------------------------------------------------------------- conversions
def to_us(ts: datetime) -> int:
    """Epoch microseconds of a datetime (naive input is taken as UTC)."""
    ts = to_utc(ts)
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """The UTC datetime of epoch microseconds."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def iso_us(us: int) -> str:
    """ISO 8601 UTC text of epoch microseconds (for SQL predicates)."""
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------- cursors
def encode_cursor(timeframe: str, last_ts_us: int) -> str:
    """An opaque cursor meaning "bars of ``timeframe`` after ``last_ts_us``"."""
    raw = f"{_CURSOR_PREFIX}|{timeframe}|{last_ts_us}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, timeframe: str) -> int:
    """The last ts (epoch µs) encoded in ``cursor``.

    Raises
    ------
    InvalidInputError
        If the cursor is malformed or was issued for another timeframe.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, tf, ts = text.split("|")
        if prefix != _CURSOR_PREFIX:
            raise ValueError(prefix)
        value = int(ts)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError(f"invalid cursor {cursor!r}") from None
    if tf != timeframe:
        raise InvalidInputError(f"cursor was issued for timeframe {tf}, not {timeframe}")
    return value


# ------------------------------------------------------------------ precedence
def is_stream(source: str | None) -> bool:
    """Whether a bar came from the live stream (it loses to provider bars)."""
    return source == STREAM_SOURCE


def merge_precedence(existing: pl.DataFrame, incoming: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Apply an upsert of ``incoming`` over ``existing`` rows of the same key range.

    A row of ``incoming`` replaces the existing row with its key unless it is a
    ``stream`` bar and the existing one comes from a provider.

    Returns
    -------
    tuple
        ``(merged, written, kept_existing)``: every row of the range after the
        upsert (sorted by key), the incoming rows that were written, and the number
        of incoming rows dropped because a provider bar wins.
    """
    if existing.height == 0:
        return incoming, incoming, 0
    old = existing.select(*KEY, pl.col("source").alias("_old_source"))
    joined = incoming.join(old, on=KEY, how="left")
    drop = (pl.col("source") == STREAM_SOURCE) & pl.col("_old_source").is_not_null() & (
        pl.col("_old_source") != STREAM_SOURCE
    )
    written = joined.filter(~drop).drop("_old_source")
    kept = incoming.height - written.height
    survivors = existing.join(written.select(KEY), on=KEY, how="anti")
    merged = pl.concat([survivors, written.select(existing.columns)]).sort(KEY)
    return merged, written, kept


def combine_native_rollup(native: pa.Table, rolled: pa.Table) -> pa.Table:
    """Merge native bars with bars rolled up from 1m, one bar per ts.

    Ranking: native provider bar, rolled-up provider bar, native stream bar,
    rolled-up stream bar.
    """
    if rolled.num_rows == 0:
        return native
    if native.num_rows == 0:
        return rolled
    frames = []
    for table, rolled_flag in ((native, 0), (rolled, 1)):
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        frames.append(df.with_columns(
            ((pl.col("source") == STREAM_SOURCE).cast(pl.Int8) * 2 + rolled_flag).alias("_rank")
        ))
    out = pl.concat(frames).sort("ts", "_rank").unique(subset=["ts"], keep="first", maintain_order=True)
    return out.drop("_rank").to_arrow().cast(BAR_SCHEMA)


# ---------------------------------------------------------------- time ranges
def ceil_label(tf: Timeframe, ts: datetime) -> datetime:
    """The first bar label of ``tf`` at or after ``ts``."""
    label = tf.bucket(ts)
    return label if label == ts else tf.next_open(label)


def bar_end(tf: Timeframe, label: datetime) -> datetime:
    """The end (exclusive) of the bar labelled ``label``."""
    return tf.next_open(label)


def minutes_per_bar(tf: Timeframe) -> int:
    """The most 1m bars one bar of ``tf`` can hold."""
    return _MINUTES_PER_BAR.get(tf.name, tf.seconds // 60)


def day_range_us(day: date) -> tuple[int, int]:
    """Epoch-µs ``[start, end)`` of exchange-local day ``day``."""
    lo, hi = cal.day_bounds_utc(day)
    return to_us(lo), to_us(hi)


def exchange_days(ts: pa.Array | pa.ChunkedArray) -> dict[date, int]:
    """Count timestamps per exchange-local date."""
    if len(ts) == 0:
        return {}
    s = pl.Series("ts", ts)
    counts = (
        s.dt.convert_time_zone(str(EXCHANGE_TZ)).dt.date().value_counts(sort=False, name="n").sort("ts")
    )
    return {d: int(n) for d, n in counts.iter_rows()}


def expected_labels(tf: Timeframe, start: date, end: date, exchange: str) -> np.ndarray:
    """Bar labels (epoch µs) expected from the calendar's regular sessions in ``[start, end]``."""
    if tf.is_intraday:
        minutes = cal.expected_minutes(start, end, exchange).astype("int64")
        step = tf.seconds * 1_000_000
        return np.unique(minutes - minutes % step)
    days = cal.sessions(start, end, exchange)
    labels = sorted({to_us(tf.bucket(cal.session_label(d) + timedelta(hours=12))) for d in days})
    return np.array(labels, dtype="int64")


# ------------------------------------------------------------------- the base
class StoreBase(ABC):
    """Template for adapters: domain rules here, storage primitives in subclasses."""

    name: str = "base"
    exchange: str = "XNYS"

    # ---------------------------------------------------------- primitives
    @abstractmethod
    def _scan(
        self,
        symbol: str,
        timeframe: str,
        start_us: int | None,
        end_us: int | None,
        limit: int | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Native rows of one (symbol, timeframe) in ``[start_us, end_us)``, ascending by ts."""

    @abstractmethod
    def _ts_bounds(self, symbol: str, timeframe: str) -> tuple[int, int] | None:
        """``(min, max)`` native ts (epoch µs) of one (symbol, timeframe), or ``None``."""

    @abstractmethod
    def _upsert(self, good: pa.Table) -> tuple[int, int]:
        """Upsert validated rows (sorted by key) with precedence; ``(written, kept_existing)``."""

    @abstractmethod
    def _replace_range(self, symbol: str, timeframe: str, start_us: int, end_us: int, good: pa.Table) -> int:
        """Atomically delete native rows of the range and insert ``good``; rows written."""

    @abstractmethod
    def quarantine(self, rows: pa.Table) -> int:
        """Store rejected rows (:data:`~jonbu_core.models.QUARANTINE_SCHEMA`)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections/handles."""

    @abstractmethod
    def add_symbols(self, symbols: list[str]) -> list[SymbolInfo]:
        """Track symbols (re-activates inactive ones); returns their entries."""

    # -------------------------------------------------------------- writes
    def _finish_write(self, quarantined: pa.Table, reasons: dict[str, int], written: int, kept: int) -> WriteResult:
        if quarantined.num_rows:
            self.quarantine(quarantined)
        return WriteResult(written=written, quarantined=quarantined.num_rows, reasons=reasons, kept_existing=kept)

    def write_bars(self, bars: pa.Table) -> WriteResult:
        """Validate and upsert a batch of bars (any symbols/timeframes).

        Parameters
        ----------
        bars : pa.Table
            Rows with :data:`~jonbu_core.models.BAR_SCHEMA` columns (a Polars frame works too).

        Returns
        -------
        WriteResult
            Rows written, rows quarantined (with reasons) and stream rows that lost
            to an existing provider bar.
        """
        result = validate_bars(bars)
        written, kept = (0, 0)
        if result.good.num_rows:
            written, kept = self._upsert(result.good)
        return self._finish_write(result.quarantined, result.reasons, written, kept)

    def replace_day(self, symbol: str, timeframe: str, day: date, bars: pa.Table) -> WriteResult:
        """Replace every bar of (symbol, timeframe) on exchange day ``day`` with ``bars``.

        Rows of another symbol or timeframe are quarantined as ``invalid_symbol`` /
        ``invalid_timeframe``, rows outside the day as ``off_grid``. The replacement
        is authoritative: stale rows of the day go whatever their source.
        """
        symbol = normalize_symbol(symbol)
        tf = parse_timeframe(timeframe).name
        lo, hi = day_range_us(day)
        table = conform_bars(bars)
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        ts_us = pl.col("ts").dt.epoch("us")
        reason = (
            pl.when(pl.col("symbol").is_not_null() & (pl.col("symbol") != symbol))
            .then(pl.lit("invalid_symbol"))
            .when(pl.col("timeframe").is_not_null() & (pl.col("timeframe") != tf))
            .then(pl.lit("invalid_timeframe"))
            .when(pl.col("ts").is_not_null() & ((ts_us < lo) | (ts_us >= hi)))
            .then(pl.lit("off_grid"))
            .otherwise(None)
        )
        df = df.with_columns(reason.alias("_reason"))
        outside = df.filter(pl.col("_reason").is_not_null())
        result = validate_bars(df.filter(pl.col("_reason").is_null()).drop("_reason").to_arrow())
        reasons = dict(result.reasons)
        quarantined = result.quarantined
        if outside.height:
            now = datetime.now(UTC)
            extra = outside.rename({"_reason": "reason"}).with_columns(
                pl.lit(now).dt.cast_time_unit("us").dt.convert_time_zone("UTC").alias("quarantined_at")
            ).to_arrow().cast(QUARANTINE_SCHEMA)
            quarantined = pa.concat_tables([quarantined, extra])
            for r, n in outside.get_column("_reason").value_counts(name="n").iter_rows():
                reasons[r] = reasons.get(r, 0) + int(n)
            reasons = {r: reasons[r] for r in REASONS if r in reasons}
        written = self._replace_range(symbol, tf, lo, hi, result.good)
        return self._finish_write(quarantined, reasons, written, 0)

    # --------------------------------------------------------------- reads
    def read_bars(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> BarPage:
        """Bars of ``symbol`` in ``[start, end)`` ascending, rolled up from 1m if needed.

        Parameters
        ----------
        symbol, timeframe : str
            What to read; other timeframes than ``1m`` combine native bars with bars
            rolled up from ``1m`` (native provider bars win, see
            :func:`combine_native_rollup`).
        start, end : datetime, optional
            ``start`` inclusive, ``end`` exclusive (bar labels).
        limit : int, optional
            Page size; ``next_cursor`` is set when more bars follow.
        cursor : str, optional
            A ``next_cursor`` of a previous page.

        Returns
        -------
        BarPage
        """
        symbol = normalize_symbol(symbol)
        tf = parse_timeframe(timeframe)
        if limit is not None and limit <= 0:
            raise InvalidInputError("limit must be positive")
        s_us = to_us(start) if start is not None else None
        e_us = to_us(end) if end is not None else None
        if cursor:
            after = decode_cursor(cursor, tf.name) + 1
            s_us = after if s_us is None else max(s_us, after)
        if s_us is not None and e_us is not None and s_us >= e_us:
            return BarPage(BAR_SCHEMA.empty_table(), None)
        fetch = limit + 1 if limit is not None else None
        native = self._scan(symbol, tf.name, s_us, e_us, fetch)
        valid_until: int | None = None
        if fetch is not None and native.num_rows == fetch:
            valid_until = int(native.column("ts")[-1].value) + 1
        if tf.name != BASE.name:
            rolled, rolled_until = self._rolled(symbol, tf, s_us, e_us, fetch)
            table = combine_native_rollup(native, rolled)
            if rolled_until is not None:
                valid_until = rolled_until if valid_until is None else min(valid_until, rolled_until)
            if valid_until is not None:
                ts_col = pl.Series(table.column("ts")).dt.epoch("us")
                table = table.filter(pa.array((ts_col < valid_until).to_numpy()))
        else:
            table = native
        table = table.cast(BAR_SCHEMA)
        if limit is not None and table.num_rows > limit:
            table = table.slice(0, limit)
            return BarPage(table, encode_cursor(tf.name, int(table.column("ts")[-1].value)))
        return BarPage(table, None)

    def _rolled(
        self, symbol: str, tf: Timeframe, s_us: int | None, e_us: int | None, fetch: int | None
    ) -> tuple[pa.Table, int | None]:
        """Bars of ``tf`` rolled up from 1m in ``[s, e)``; also where they stop being complete."""
        lo = to_us(ceil_label(tf, from_us(s_us))) if s_us is not None else None
        hi = None
        if e_us is not None:
            hi = to_us(bar_end(tf, tf.bucket(from_us(e_us - 1))))
        if lo is not None and hi is not None and lo >= hi:
            return BAR_SCHEMA.empty_table(), None
        per = minutes_per_bar(tf)
        base_limit = (fetch + 1) * per if fetch is not None else None
        base = self._scan(symbol, BASE.name, lo, hi, base_limit)
        if base.num_rows == 0:
            return BAR_SCHEMA.empty_table(), None
        rolled = rollup(base, tf)
        until: int | None = None
        if base_limit is not None and base.num_rows == base_limit and rolled.num_rows:
            # The last bucket may be incomplete: only bars before it are final.
            until = int(rolled.column("ts")[-1].value)
        if e_us is not None and rolled.num_rows:
            keep = pl.Series(rolled.column("ts")).dt.epoch("us") < e_us
            rolled = rolled.filter(pa.array(keep.to_numpy()))
        return rolled, until

    def latest_bar(self, symbol: str, timeframe: str) -> Bar | None:
        """The most recent bar (rolled up from 1m if needed), or ``None``."""
        symbol = normalize_symbol(symbol)
        tf = parse_timeframe(timeframe)
        starts: list[int] = []
        native = self._ts_bounds(symbol, tf.name)
        if native is not None:
            starts.append(native[1])
        if tf.name != BASE.name:
            base = self._ts_bounds(symbol, BASE.name)
            if base is not None:
                starts.append(to_us(tf.bucket(from_us(base[1]))))
        if not starts:
            return None
        page = self.read_bars(symbol, tf.name, from_us(max(starts)))
        if page.table.num_rows == 0:
            return None
        return Bar(**page.table.slice(page.table.num_rows - 1).to_pylist()[0])

    def coverage(
        self, symbol: str, timeframe: str = "1m", start: date | None = None, end: date | None = None
    ) -> Coverage:
        """Stored vs expected bars over the sessions in ``[start, end]`` (inclusive dates).

        Without ``start``/``end`` the range of stored bars is used. Bars of other
        timeframes than ``1m`` count rolled-up bars too. Expected bars are those of
        the regular sessions of :attr:`exchange`.
        """
        symbol = normalize_symbol(symbol)
        tf = parse_timeframe(timeframe)
        if start is None or end is None:
            bounds = [b for b in (self._ts_bounds(symbol, tf.name), self._ts_bounds(symbol, BASE.name)) if b]
            if not bounds:
                return Coverage(symbol, tf.name, None, None, 0, 0, 0)
            start = start or cal.exchange_date(from_us(min(b[0] for b in bounds)))
            end = end or cal.exchange_date(from_us(max(b[1] for b in bounds)))
        lo, _ = day_range_us(start)
        _, hi = day_range_us(end)
        if tf.name == BASE.name:
            ts = self._scan(symbol, tf.name, lo, hi, columns=["ts"]).column("ts")
        else:
            ts = self.read_bars(symbol, tf.name, from_us(lo), from_us(hi)).table.column("ts")
        present = np.asarray(ts.cast(pa.int64()).to_numpy(), dtype="int64")
        expected = expected_labels(tf, start, end, self.exchange) if start <= end else np.array([], "int64")
        missing = np.setdiff1d(expected, present, assume_unique=True)
        return Coverage(
            symbol=symbol,
            timeframe=tf.name,
            first_ts=from_us(int(present[0])) if len(present) else None,
            last_ts=from_us(int(present[-1])) if len(present) else None,
            count=len(present),
            expected=len(expected),
            missing=len(missing),
            missing_sample=[from_us(int(x)) for x in missing[:_MAX_SAMPLE]],
            days=exchange_days(ts),
        )

    def stored_days(self, symbol: str, timeframe: str, start: date, end: date) -> dict[date, int]:
        """Number of stored (native) bars per exchange day in ``[start, end]``."""
        symbol = normalize_symbol(symbol)
        tf = parse_timeframe(timeframe)
        lo, _ = day_range_us(start)
        _, hi = day_range_us(end)
        return exchange_days(self._scan(symbol, tf.name, lo, hi, columns=["ts"]).column("ts"))

    def __enter__(self) -> StoreBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
