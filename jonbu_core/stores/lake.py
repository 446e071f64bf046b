"""The ``lake`` store: Delta Lake tables under ``$JONBU_DATA_DIR/lake``.

Tables (written with ``deltalake``):

* ``bars`` — :data:`~jonbu_core.models.BAR_SCHEMA`, partitioned by
  ``timeframe`` and ``symbol``;
* ``quarantine`` — :data:`~jonbu_core.models.QUARANTINE_SCHEMA`, append-only;
* ``symbols`` — an append-only log of registry events (``symbol, active, at``);
  the registry is the last event per symbol, so concurrent writers never lose an
  update.

Reads go through the Delta log: a cached :class:`deltalake.DeltaTable` is brought
up to date incrementally (``update_incremental``) and turned into a PyArrow dataset
of exactly the live files, pruned by partition and ``ts`` statistics, read with
Arrow's native local file system. Nothing globs Parquet files.

Writes of bars are one commit per batch: the existing rows of the affected
(symbol, timeframe, ts range) are read, merged with the batch by the precedence
rule, and written back with ``mode="overwrite"`` and a ``predicate`` over exactly
that range. A commit conflict with another process re-reads and retries. The
``deltalake`` runtime panics in forked children: use ``spawn`` for
multiprocessing.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import ColumnProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from jonbu_core.errors import StoreError
from jonbu_core.models import BAR_SCHEMA, QUARANTINE_SCHEMA, TS_TYPE, SymbolInfo, normalize_symbol
from jonbu_core.stores._common import KEY, iso_us, merge_precedence, to_us
from jonbu_core.stores._template import StoreBase
from jonbu_core.timeframe import parse_timeframe

logger = logging.getLogger(__name__)

T = TypeVar("T")

PARTITION_BY = ["timeframe", "symbol"]
SYMBOL_EVENTS_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("active", pa.bool_(), nullable=False),
        pa.field("at", TS_TYPE, nullable=False),
    ]
)
_TABLES: dict[str, tuple[pa.Schema, list[str] | None]] = {
    "bars": (BAR_SCHEMA, PARTITION_BY),
    "quarantine": (QUARANTINE_SCHEMA, None),
    "symbols": (SYMBOL_EVENTS_SCHEMA, None),
}
_MAX_ATTEMPTS = 50
#: Bar values are nearly all distinct: dictionary encoding costs 3x the write CPU and
#: slows reads for nothing. ``source`` repeats, so it keeps its dictionary.
BARS_WRITER = WriterProperties(
    default_column_properties=ColumnProperties(dictionary_enabled=False),
    column_properties={"source": ColumnProperties(dictionary_enabled=True)},
)


def _is_conflict(exc: BaseException) -> bool:
    if isinstance(exc, CommitFailedError):
        return True
    text = str(exc).lower()
    return isinstance(exc, DeltaError) and any(
        s in text for s in ("conflict", "already exists", "version mismatch", "transaction failed")
    )


class LakeStore(StoreBase):
    """Delta Lake implementation of :class:`~jonbu_core.stores.base.BarStore`.

    Parameters
    ----------
    root : Path
        Directory of the tables (``settings.lake_dir``); created when missing.
    exchange : str
        Exchange calendar for coverage (``XNYS``).
    """

    name = "lake"
    compact_after = 32
    """Files in one (symbol, timeframe) partition that trigger its compaction."""

    def __init__(self, root: Path | str, exchange: str = "XNYS") -> None:
        self.root = Path(root).resolve()
        self.exchange = exchange
        self.root.mkdir(parents=True, exist_ok=True)
        self._tables: dict[str, DeltaTable] = {}
        self._lock = threading.RLock()
        for table in _TABLES:
            self._table(table)

    # ------------------------------------------------------------ plumbing
    def _path(self, name: str) -> Path:
        return self.root / name

    def _table(self, name: str, refresh: bool = False) -> DeltaTable:
        """The cached table ``name`` (created on first use, race-safe)."""
        with self._lock:
            dt = self._tables.get(name)
            if dt is None:
                dt = self._open_or_create(name)
                self._tables[name] = dt
            elif refresh:
                dt.update_incremental()
            return dt

    def _open_or_create(self, name: str) -> DeltaTable:
        path = self._path(name)
        schema, partition_by = _TABLES[name]
        for attempt in range(_MAX_ATTEMPTS):
            if DeltaTable.is_deltatable(str(path)):
                return DeltaTable(str(path))
            try:
                return DeltaTable.create(str(path), schema, mode="ignore", partition_by=partition_by)
            except Exception as exc:  # another process created it first
                logger.debug("creating %s raced (%s); retrying", path, exc)
                time.sleep(0.01 * (attempt + 1))
        raise StoreError(f"cannot open or create the Delta table {path}")

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` again after commit conflicts with other writers."""
        for attempt in range(_MAX_ATTEMPTS):
            try:
                return fn()
            except (CommitFailedError, DeltaError) as exc:
                if not _is_conflict(exc) or attempt == _MAX_ATTEMPTS - 1:
                    raise StoreError(f"lake {what} failed: {exc}") from exc
                logger.debug("lake %s conflicted (attempt %d): %s", what, attempt + 1, exc)
                time.sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))
                with self._lock:
                    self._tables.pop(what.split(":")[0], None)
        raise AssertionError("unreachable")

    def _files(self, name: str, predicate: str | None) -> list[str]:
        """The live data files of table ``name`` (from the Delta log), pruned by ``predicate``."""
        dt = self._table(name, refresh=True)
        if dt.protocol().min_reader_version > 1:  # deletion vectors, column mapping…: not plain files
            raise StoreError(f"lake table {name} uses Delta reader features this store does not read")
        return list(dt.file_uris(file_pruning_predicate=predicate))

    @staticmethod
    def _read_files(paths: list[str], columns: list[str], where: pl.Expr | None = None) -> pl.DataFrame:
        """Read exactly ``paths`` (never a glob) with Polars, filtered by ``where``."""
        lf = pl.scan_parquet(paths, hive_partitioning=False, missing_columns="insert").select(columns)
        if where is not None:
            lf = lf.filter(where)
        return lf.collect()

    @staticmethod
    def _range_sql(symbol: str, timeframe: str, start_us: int | None, end_us: int | None, *, end_inclusive: bool = False) -> str:
        parts = [f"timeframe = '{timeframe}'", f"symbol = '{symbol}'"]
        if start_us is not None:
            parts.append(f"ts >= '{iso_us(start_us)}'")
        if end_us is not None:
            parts.append(f"ts {'<=' if end_inclusive else '<'} '{iso_us(end_us)}'")
        return " AND ".join(parts)

    @staticmethod
    def _ts_filter(start_us: int | None, end_us: int | None, *, end_inclusive: bool = False) -> pl.Expr | None:
        ts = pl.col("ts").dt.epoch("us")
        parts: list[pl.Expr] = []
        if start_us is not None:
            parts.append(ts >= start_us)
        if end_us is not None:
            parts.append(ts <= end_us if end_inclusive else ts < end_us)
        return pl.all_horizontal(parts) if parts else None

    # ------------------------------------------------------------ primitives
    def _scan(
        self,
        symbol: str,
        timeframe: str,
        start_us: int | None,
        end_us: int | None,
        limit: int | None = None,
        columns: list[str] | None = None,
        *,
        end_inclusive: bool = False,
    ) -> pa.Table:
        wanted = columns or BAR_SCHEMA.names
        schema = pa.schema([BAR_SCHEMA.field(c) for c in wanted])
        sql = self._range_sql(symbol, timeframe, start_us, end_us, end_inclusive=end_inclusive)
        stored = [c for c in wanted if c not in PARTITION_BY]  # partition values live in the log
        where = self._ts_filter(start_us, end_us, end_inclusive=end_inclusive)
        for attempt in range(3):
            paths = self._files("bars", sql)
            if not paths:
                return schema.empty_table()
            try:
                df = self._read_files(paths, stored, where)
                break
            except (OSError, pl.exceptions.ComputeError) as exc:
                # A file listed a moment ago was vacuumed after a compaction: list again.
                if attempt == 2:
                    raise StoreError(f"lake read failed: {exc}") from exc
                logger.debug("lake read raced a vacuum (%s); retrying", exc)
        if df.height > 1 and not df.get_column("ts").is_sorted():
            df = df.sort("ts")
        if limit is not None and df.height > limit:
            df = df.head(limit)
        n = df.height
        keys = {"symbol": symbol, "timeframe": timeframe}
        arrays = [
            pa.repeat(pa.scalar(keys[c]), n) if c in keys else df.get_column(c).to_arrow()
            for c in wanted
        ]
        return pa.Table.from_arrays([a.cast(schema.field(c).type) for a, c in zip(arrays, wanted, strict=True)], schema=schema)

    def _ts_bounds(self, symbol: str, timeframe: str) -> tuple[int, int] | None:
        dt = self._table("bars", refresh=True)
        actions = pa.table(dt.get_add_actions(flatten=True))
        if actions.num_rows == 0:
            return None
        mask = pc.and_(
            pc.equal(actions.column("partition.symbol"), symbol),
            pc.equal(actions.column("partition.timeframe"), timeframe),
        )
        mine = actions.filter(mask)
        mine = mine.filter(pc.greater(mine.column("num_records"), 0))
        if mine.num_rows == 0:
            return None
        lo, hi = mine.column("min.ts"), mine.column("max.ts")
        if lo.null_count or hi.null_count:  # no statistics: read the column
            ts = self._scan(symbol, timeframe, None, None, columns=["ts"]).column("ts")
            if len(ts) == 0:
                return None
            mm = pc.min_max(ts)
            return int(mm["min"].value), int(mm["max"].value)
        # Delta keeps timestamp statistics in milliseconds: bars sit on the minute grid.
        return int(pc.min(lo).value), int(pc.max(hi).value)

    def _write_range(self, data: pa.Table, predicate: str) -> None:
        dt = self._table("bars")
        write_deltalake(
            dt, data, mode="overwrite", predicate=predicate, partition_by=PARTITION_BY, writer_properties=BARS_WRITER
        )

    def _upsert(self, good: pa.Table) -> tuple[int, int]:
        df = pl.from_arrow(good)
        assert isinstance(df, pl.DataFrame)
        groups = df.group_by("symbol", "timeframe", maintain_order=True).agg(
            pl.col("ts").min().dt.epoch("us").alias("lo"), pl.col("ts").max().dt.epoch("us").alias("hi")
        )
        ranges = [(str(s), str(t), int(lo), int(hi)) for s, t, lo, hi in groups.iter_rows()]
        sql = " OR ".join(f"({self._range_sql(s, t, lo, hi, end_inclusive=True)})" for s, t, lo, hi in ranges)

        def attempt() -> tuple[int, int]:
            parts = [self._scan(s, t, lo, hi, end_inclusive=True) for s, t, lo, hi in ranges]
            existing = pa.concat_tables(parts) if parts else BAR_SCHEMA.empty_table()
            if existing.num_rows == 0:
                self._write_range(good, sql)
                return good.num_rows, 0
            old = pl.from_arrow(existing)
            assert isinstance(old, pl.DataFrame)
            merged, written, kept = merge_precedence(old, df)
            self._write_range(merged.to_arrow().cast(BAR_SCHEMA), sql)
            return written.height, kept

        result = self._retry("bars:upsert", attempt)
        self._maybe_compact([(s, t) for s, t, _, _ in ranges])
        return result


    def _maybe_compact(self, partitions: list[tuple[str, str]]) -> None:
        """Compact a (symbol, timeframe) partition once small commits piled up many files.

        Frequent small writes (the stream sink) add a file each; reading costs grow
        with the file count, so a partition past :attr:`compact_after` files is
        compacted right away. Opportunistic: a conflict just leaves it for later.
        """
        for symbol, timeframe in partitions:
            partition = f"timeframe = '{timeframe}' AND symbol = '{symbol}'"
            dt = self._table("bars")
            if len(dt.file_uris(file_pruning_predicate=partition)) <= self.compact_after:
                continue
            try:
                dt.optimize.compact(
                    partition_filters=[("timeframe", "=", timeframe), ("symbol", "=", symbol)],
                    writer_properties=BARS_WRITER,
                )
            except (CommitFailedError, DeltaError) as exc:
                logger.debug("compaction of %s %s deferred: %s", symbol, timeframe, exc)
                with self._lock:
                    self._tables.pop("bars", None)

    def _replace_range(self, symbol: str, timeframe: str, start_us: int, end_us: int, good: pa.Table) -> int:
        sql = self._range_sql(symbol, timeframe, start_us, end_us)

        def attempt() -> int:
            if good.num_rows:
                self._write_range(good, sql)
            else:
                self._table("bars", refresh=True).delete(sql)
            return int(good.num_rows)

        written = self._retry("bars:replace", attempt)
        self._maybe_compact([(symbol, timeframe)])
        return written

    # ----------------------------------------------------------------- bars
    def delete_bars(
        self,
        symbol: str,
        timeframe: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """Delete bars of ``symbol`` (one timeframe or all) in ``[start, end)``; rows removed."""
        symbol = normalize_symbol(symbol)
        parts = [f"symbol = '{symbol}'"]
        if timeframe is not None:
            parts.append(f"timeframe = '{parse_timeframe(timeframe).name}'")
        if start is not None:
            parts.append(f"ts >= '{iso_us(to_us(start))}'")
        if end is not None:
            parts.append(f"ts < '{iso_us(to_us(end))}'")
        predicate = " AND ".join(parts)

        def attempt() -> int:
            metrics: dict[str, Any] = self._table("bars", refresh=True).delete(predicate)
            return int(metrics.get("num_deleted_rows", 0) or 0)

        return self._retry("bars:delete", attempt)

    def compact(self) -> dict[str, Any]:
        """Compact small files of every table (maintenance; safe with concurrent readers)."""
        out: dict[str, Any] = {}
        for name in _TABLES:
            dt = self._table(name, refresh=True)

            def run(dt: DeltaTable = dt) -> dict[str, Any]:
                props = BARS_WRITER if dt.metadata().partition_columns else None
                metrics: dict[str, Any] = dt.optimize.compact(writer_properties=props)
                return metrics

            out[name] = self._retry(f"{name}:compact", run)
        return out

    def vacuum(self, retention_hours: int = 168) -> list[str]:
        """Delete files no longer referenced for ``retention_hours``; returns them."""
        removed: list[str] = []
        for name in _TABLES:
            dt = self._table(name, refresh=True)
            removed += dt.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False)
        return removed

    # ------------------------------------------------------------ quarantine
    def quarantine(self, rows: pa.Table) -> int:
        """Append rejected rows (:data:`~jonbu_core.models.QUARANTINE_SCHEMA`)."""
        if rows.num_rows == 0:
            return 0
        data = rows.select(QUARANTINE_SCHEMA.names).cast(QUARANTINE_SCHEMA)
        self._retry(
            "quarantine:append", lambda: write_deltalake(self._table("quarantine"), data, mode="append")
        )
        return int(rows.num_rows)

    def read_quarantine(self, symbol: str | None = None, limit: int = 1000) -> pa.Table:
        """Quarantined rows, newest first."""
        paths = self._files("quarantine", None)
        if not paths:
            return QUARANTINE_SCHEMA.empty_table()
        where = (pl.col("symbol") == normalize_symbol(symbol)) if symbol else None
        df = self._read_files(paths, QUARANTINE_SCHEMA.names, where)
        df = df.sort("quarantined_at", descending=True, maintain_order=True).head(limit)
        return df.to_arrow().cast(QUARANTINE_SCHEMA)

    # -------------------------------------------------------------- symbols
    def _symbol_state(self) -> dict[str, SymbolInfo]:
        paths = self._files("symbols", None)
        if not paths:
            return {}
        df = self._read_files(paths, SYMBOL_EVENTS_SCHEMA.names)
        state = (
            df.sort("at", "active")
            .group_by("symbol")
            .agg(
                pl.col("active").last(),
                pl.col("at").min().alias("added_at"),
                pl.col("at").max().alias("updated_at"),
            )
        )
        return {row["symbol"]: SymbolInfo(**row) for row in state.iter_rows(named=True)}

    def _append_events(self, symbols: list[str], active: bool) -> None:
        now = datetime.now(UTC)
        data = pa.table(
            {"symbol": symbols, "active": [active] * len(symbols), "at": [now] * len(symbols)},
            schema=SYMBOL_EVENTS_SCHEMA,
        )
        self._retry("symbols:append", lambda: write_deltalake(self._table("symbols"), data, mode="append"))

    def add_symbols(self, symbols: list[str]) -> list[SymbolInfo]:
        """Track symbols (re-activates inactive ones); returns their entries."""
        wanted = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
        state = self._symbol_state()
        todo = [s for s in wanted if s not in state or not state[s].active]
        if todo:
            self._append_events(todo, True)
            state = self._symbol_state()
        return [state[s] for s in wanted]

    def list_symbols(self, active_only: bool = False) -> list[SymbolInfo]:
        """The registry, sorted by symbol."""
        state = self._symbol_state()
        return [state[s] for s in sorted(state) if state[s].active or not active_only]

    def deactivate_symbol(self, symbol: str) -> bool:
        """Mark a symbol inactive; ``False`` if it was not tracked."""
        symbol = normalize_symbol(symbol)
        info = self._symbol_state().get(symbol)
        if info is None:
            return False
        if info.active:
            self._append_events([symbol], False)
        return True

    def close(self) -> None:
        """Drop the cached table handles."""
        with self._lock:
            self._tables.clear()


__all__ = ["KEY", "PARTITION_BY", "LakeStore"]
