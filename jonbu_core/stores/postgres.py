"""The ``postgres`` store: psycopg 3 with a connection pool.

Schema: :mod:`jonbu_core.stores.migrations` (``bars`` keyed by
``(symbol, timeframe, ts)``, ``quarantine``, ``symbols``), applied by
:mod:`jonbu_core.stores.migrate`.

Writes (one transaction per batch, binary ``COPY`` built by
:mod:`jonbu_core.stores._pgcopy`):

* when no stored row falls in the batch's key ranges, the batch is copied
  straight into ``bars``; should a concurrent writer insert one of the keys
  meanwhile, the unique violation rolls the transaction back and the batch takes
  the upsert path;
* otherwise it is copied into a temporary staging table and merged with
  ``INSERT … ON CONFLICT (symbol, timeframe, ts) DO UPDATE`` whose ``WHERE``
  keeps provider bars over ``stream`` bars and skips identical rows.

Reads use binary ``COPY (SELECT …) TO STDOUT`` decoded with NumPy into Arrow;
small queries are prepared statements.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
from psycopg import errors as pgerr
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from jonbu_core.errors import StoreError
from jonbu_core.models import BAR_SCHEMA, QUARANTINE_SCHEMA, SymbolInfo, normalize_symbol
from jonbu_core.stores import _pgcopy
from jonbu_core.stores._common import STREAM_SOURCE, from_us, to_us
from jonbu_core.stores._template import StoreBase
from jonbu_core.stores.migrate import migrate_up, pending_migrations
from jonbu_core.timeframe import parse_timeframe

logger = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.Connection[tuple[Any, ...]]

_COLS = sql.SQL(", ").join(map(sql.Identifier, _pgcopy.COPY_COLUMNS))
_VALUE_COLS = [c for c in _pgcopy.COPY_COLUMNS if c not in ("symbol", "timeframe", "ts")]
_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS bars_stage (
    symbol text, timeframe text, ts timestamptz, open float8, high float8, low float8,
    close float8, volume float8, trade_count int8, vwap float8, source text
) ON COMMIT DELETE ROWS
"""
_KEPT_SQL = f"""
SELECT count(*) FROM bars_stage s JOIN bars b USING (symbol, timeframe, ts)
WHERE s.source = '{STREAM_SOURCE}' AND b.source <> '{STREAM_SOURCE}'
"""
_MERGE_SQL = (
    "INSERT INTO bars ({cols}) SELECT {cols} FROM bars_stage ORDER BY symbol, timeframe, ts "
    "ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET {sets} "
    f"WHERE NOT (excluded.source = '{STREAM_SOURCE}' AND bars.source <> '{STREAM_SOURCE}') "
    "AND ({old}) IS DISTINCT FROM ({new})"
).format(
    cols=", ".join(_pgcopy.COPY_COLUMNS),
    sets=", ".join(f"{c} = excluded.{c}" for c in _VALUE_COLS),
    old=", ".join(f"bars.{c}" for c in _VALUE_COLS),
    new=", ".join(f"excluded.{c}" for c in _VALUE_COLS),
)
_RETRYABLE = (pgerr.DeadlockDetected, pgerr.SerializationFailure, pgerr.UniqueViolation)
_MAX_ATTEMPTS = 8


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresStore(StoreBase):
    """PostgreSQL implementation of :class:`~jonbu_core.stores.base.BarStore`.

    Parameters
    ----------
    url : str
        ``postgresql://`` connection URL.
    exchange : str
        Exchange calendar for coverage (``XNYS``).
    auto_migrate : bool
        Apply pending migrations on open (else fail if any is pending).
    min_size, max_size : int
        Connection pool bounds.
    """

    name = "postgres"

    def __init__(
        self, url: str, exchange: str = "XNYS", *, auto_migrate: bool = True, min_size: int = 1, max_size: int = 8
    ) -> None:
        self.url = url
        self.exchange = exchange
        try:
            if auto_migrate:
                migrate_up(url)
            else:
                pending = pending_migrations(url)
                if pending:
                    names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
                    raise StoreError(f"database schema is not up to date (pending: {names}); run `jonbu-ohlcv migrate up`")
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the PostgreSQL store: {_first_line(exc)}") from exc
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=True, configure=self._configure,
            kwargs={"connect_timeout": 30}, name="jonbu-store",
        )
        try:
            self._pool.wait(timeout=60)  # the first query does not pay for connecting
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreError(f"cannot open the PostgreSQL store: no connection within 60 s ({exc})") from exc

    @staticmethod
    def _configure(conn: Conn) -> None:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.commit()

    # ------------------------------------------------------------ plumbing
    def _run(self, what: str, fn: Callable[[Conn], T]) -> T:
        """Run ``fn`` in one transaction, retrying deadlocks and serialization failures."""
        for attempt in range(_MAX_ATTEMPTS):
            try:
                with self._pool.connection() as conn, conn.transaction():
                    return fn(conn)
            except pgerr.UniqueViolation:
                raise
            except _RETRYABLE as exc:
                if attempt == _MAX_ATTEMPTS - 1:
                    raise StoreError(f"postgres {what} failed: {_first_line(exc)}") from exc
                time.sleep(0.01 * 2**attempt)
            except psycopg.Error as exc:
                raise StoreError(f"postgres {what} failed: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _copy_in(conn: Conn, table: str, good: pa.Table) -> None:
        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table), _COLS)
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            for chunk in _pgcopy.iter_encode_bars(good):
                copy.write(chunk)

    @staticmethod
    def _copy_out(conn: Conn, query: sql.Composed) -> bytearray:
        out = bytearray()
        with conn.cursor() as cur, cur.copy(query) as copy:
            for chunk in copy:
                out += chunk
        return out

    # ------------------------------------------------------------ primitives
    def _scan(
        self,
        symbol: str,
        timeframe: str,
        start_us: int | None,
        end_us: int | None,
        limit: int | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        where = [sql.SQL("symbol = {}").format(sql.Literal(symbol)), sql.SQL("timeframe = {}").format(sql.Literal(timeframe))]
        if start_us is not None:
            where.append(sql.SQL("ts >= {}").format(sql.Literal(from_us(start_us))))
        if end_us is not None:
            where.append(sql.SQL("ts < {}").format(sql.Literal(from_us(end_us))))
        tail = sql.SQL(" LIMIT {}").format(sql.Literal(limit)) if limit is not None else sql.SQL("")
        cond = sql.SQL(" AND ").join(where)
        if columns == ["ts"]:
            query = sql.SQL("COPY (SELECT ts FROM bars WHERE {} ORDER BY ts{}) TO STDOUT (FORMAT BINARY)").format(
                cond, tail
            )

            def ts_only(conn: Conn) -> pa.Table:
                ts = _pgcopy.decode_ts(self._copy_out(conn, query))
                if ts is None:
                    raise StoreError("unexpected binary COPY layout reading timestamps")
                return pa.table({"ts": ts})

            return self._run("read", ts_only)
        select = sql.SQL(_pgcopy.READ_SELECT)
        query = sql.SQL("COPY (SELECT {} FROM bars WHERE {} ORDER BY ts{}) TO STDOUT (FORMAT BINARY)").format(
            select, cond, tail
        )

        def read(conn: Conn) -> pa.Table:
            table = _pgcopy.decode_bars(self._copy_out(conn, query), symbol, timeframe)
            if table is None:  # a source the fixed layout cannot hold
                fallback = sql.SQL("SELECT {} FROM bars WHERE {} ORDER BY ts{}").format(_COLS, cond, tail)
                with conn.cursor(binary=True) as cur:
                    rows = cur.execute(fallback).fetchall()
                table = pa.Table.from_pylist([dict(zip(_pgcopy.COPY_COLUMNS, r, strict=True)) for r in rows], schema=BAR_SCHEMA)
            return table

        table = self._run("read", read)
        return table if columns is None else table.select(columns)

    def _ts_bounds(self, symbol: str, timeframe: str) -> tuple[int, int] | None:
        def q(conn: Conn) -> tuple[int, int] | None:
            row = conn.execute(
                "SELECT min(ts), max(ts) FROM bars WHERE symbol = %s AND timeframe = %s", (symbol, timeframe), prepare=True
            ).fetchone()
            if row is None or row[0] is None:
                return None
            return to_us(row[0]), to_us(row[1])

        return self._run("read", q)

    def _any_in_ranges(self, conn: Conn, good: pa.Table) -> bool:
        import polars as pl

        df = pl.from_arrow(good.select(["symbol", "timeframe", "ts"]))
        assert isinstance(df, pl.DataFrame)
        groups = df.group_by("symbol", "timeframe").agg(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi"))
        exists = sql.SQL(" OR ").join(
            sql.SQL("EXISTS (SELECT 1 FROM bars WHERE symbol = {} AND timeframe = {} AND ts BETWEEN {} AND {})").format(
                sql.Literal(s), sql.Literal(t), sql.Literal(lo), sql.Literal(hi)
            )
            for s, t, lo, hi in groups.iter_rows()
        )
        row = conn.execute(sql.SQL("SELECT {}").format(exists)).fetchone()
        return bool(row and row[0])

    def _upsert(self, good: pa.Table) -> tuple[int, int]:
        def fast(conn: Conn) -> tuple[int, int] | None:
            if self._any_in_ranges(conn, good):
                return None
            self._copy_in(conn, "bars", good)
            return good.num_rows, 0

        try:
            done = self._run("write", fast)
        except pgerr.UniqueViolation:
            logger.debug("concurrent insert of the same keys: taking the upsert path")
            done = None
        if done is not None:
            return done

        def merge(conn: Conn) -> tuple[int, int]:
            conn.execute(_STAGE_DDL)
            self._copy_in(conn, "bars_stage", good)
            row = conn.execute(_KEPT_SQL, prepare=True).fetchone()
            kept = int(row[0]) if row else 0
            conn.execute(_MERGE_SQL.encode(), prepare=True)
            return good.num_rows - kept, kept

        return self._run("write", merge)

    def _replace_range(self, symbol: str, timeframe: str, start_us: int, end_us: int, good: pa.Table) -> int:
        def replace(conn: Conn) -> int:
            conn.execute(
                "DELETE FROM bars WHERE symbol = %s AND timeframe = %s AND ts >= %s AND ts < %s",
                (symbol, timeframe, from_us(start_us), from_us(end_us)),
            )
            if good.num_rows:
                self._copy_in(conn, "bars", good)
            return int(good.num_rows)

        for attempt in range(_MAX_ATTEMPTS):
            try:
                return self._run("replace", replace)
            except pgerr.UniqueViolation as exc:  # a concurrent writer re-inserted a key
                if attempt == _MAX_ATTEMPTS - 1:
                    raise StoreError(f"postgres replace failed: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- bars
    def delete_bars(
        self,
        symbol: str,
        timeframe: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """Delete bars of ``symbol`` (one timeframe or all) in ``[start, end)``; rows removed."""
        where = [sql.SQL("symbol = {}").format(sql.Literal(normalize_symbol(symbol)))]
        if timeframe is not None:
            where.append(sql.SQL("timeframe = {}").format(sql.Literal(parse_timeframe(timeframe).name)))
        if start is not None:
            where.append(sql.SQL("ts >= {}").format(sql.Literal(start)))
        if end is not None:
            where.append(sql.SQL("ts < {}").format(sql.Literal(end)))
        query = sql.SQL("DELETE FROM bars WHERE {}").format(sql.SQL(" AND ").join(where))
        return self._run("delete", lambda conn: int(conn.execute(query).rowcount))

    # ------------------------------------------------------------ quarantine
    def quarantine(self, rows: pa.Table) -> int:
        """Store rejected rows (:data:`~jonbu_core.models.QUARANTINE_SCHEMA`)."""
        if rows.num_rows == 0:
            return 0
        names = QUARANTINE_SCHEMA.names
        data = rows.select(names).cast(QUARANTINE_SCHEMA).to_pylist()
        stmt = sql.SQL("COPY quarantine ({}) FROM STDIN").format(sql.SQL(", ").join(map(sql.Identifier, names)))

        def write(conn: Conn) -> int:
            with conn.cursor() as cur, cur.copy(stmt) as copy:
                for r in data:
                    copy.write_row([r[n] for n in names])
            return len(data)

        return self._run("quarantine", write)

    def read_quarantine(self, symbol: str | None = None, limit: int = 1000) -> pa.Table:
        """Quarantined rows, newest first."""
        names = QUARANTINE_SCHEMA.names
        cols = sql.SQL(", ").join(map(sql.Identifier, names))
        if symbol:
            query = sql.SQL("SELECT {} FROM quarantine WHERE symbol = %s ORDER BY quarantined_at DESC, id DESC LIMIT %s").format(cols)
            params: tuple[Any, ...] = (normalize_symbol(symbol), limit)
        else:
            query = sql.SQL("SELECT {} FROM quarantine ORDER BY quarantined_at DESC, id DESC LIMIT %s").format(cols)
            params = (limit,)
        rows = self._run("read", lambda conn: conn.execute(query, params).fetchall())
        return pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows], schema=QUARANTINE_SCHEMA)

    # -------------------------------------------------------------- symbols
    @staticmethod
    def _info(row: tuple[Any, ...]) -> SymbolInfo:
        return SymbolInfo(symbol=row[0], active=row[1], added_at=row[2], updated_at=row[3])

    def add_symbols(self, symbols: list[str]) -> list[SymbolInfo]:
        """Track symbols (re-activates inactive ones); returns their entries."""
        wanted = list(dict.fromkeys(normalize_symbol(s) for s in symbols))

        def add(conn: Conn) -> list[SymbolInfo]:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO symbols (symbol) VALUES (%s) ON CONFLICT (symbol) DO UPDATE "
                    "SET active = true, updated_at = now() WHERE NOT symbols.active",
                    [(s,) for s in wanted],
                )
            rows = conn.execute(
                "SELECT symbol, active, added_at, updated_at FROM symbols WHERE symbol = ANY(%s)", (wanted,)
            ).fetchall()
            by = {r[0]: self._info(r) for r in rows}
            return [by[s] for s in wanted]

        return self._run("symbols", add)

    def list_symbols(self, active_only: bool = False) -> list[SymbolInfo]:
        """The registry, sorted by symbol."""
        where = "WHERE active" if active_only else ""
        query = f"SELECT symbol, active, added_at, updated_at FROM symbols {where} ORDER BY symbol"
        rows = self._run("symbols", lambda conn: conn.execute(query.encode()).fetchall())
        return [self._info(r) for r in rows]

    def deactivate_symbol(self, symbol: str) -> bool:
        """Mark a symbol inactive; ``False`` if it was not tracked."""
        sym = normalize_symbol(symbol)
        query = (
            "UPDATE symbols SET updated_at = CASE WHEN active THEN now() ELSE updated_at END, "
            "active = false WHERE symbol = %s"
        )
        return self._run("symbols", lambda conn: conn.execute(query, (sym,)).rowcount > 0)

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()
