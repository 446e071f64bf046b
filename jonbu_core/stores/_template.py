"""The template every :class:`~jonbu_core.stores.base.BarStore` adapter fills in.

An adapter subclasses :class:`StoreBase` and implements a handful of primitive
operations on *native* rows (``_scan``, ``_ts_bounds``, ``_upsert``,
``_replace_range``) plus quarantine and registry storage; the domain rules live
here, once:

* validation and quarantine on write (:meth:`StoreBase.write_bars`,
  :meth:`StoreBase.replace_day`);
* roll-up on read, combined with native bars, and cursor pagination
  (:meth:`StoreBase.read_bars`);
* latest bar, coverage against the exchange calendar and stored days.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import UTC, date, datetime

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
)
from jonbu_core.rollup import rollup
from jonbu_core.stores._common import (
    bar_end,
    ceil_label,
    combine_native_rollup,
    day_range_us,
    decode_cursor,
    encode_cursor,
    exchange_days,
    expected_labels,
    from_us,
    minutes_per_bar,
    to_us,
)
from jonbu_core.stores.base import BarPage, Coverage, WriteResult
from jonbu_core.timeframe import BASE, Timeframe, parse_timeframe
from jonbu_core.validation import REASONS, validate_bars

logger = logging.getLogger(__name__)

_MAX_SAMPLE = 100


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
