"""Postgres-specific behaviour: binary COPY codec, fallbacks, schema checks, migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pyarrow as pa
import pytest

from jonbu_core.errors import StoreError
from jonbu_core.models import BAR_SCHEMA
from jonbu_core.settings import load_settings
from jonbu_core.stores import _pgcopy
from jonbu_core.stores.factory import open_store
from jonbu_core.stores.migrate import (
    discover,
    migrate_down,
    migrate_up,
    migration_status,
    pending_migrations,
)
from jonbu_core.stores.postgres import PostgresStore
from tests.core.stores._data import session_bars, sort_bars

D1 = date(2024, 1, 2)


def _mixed() -> pa.Table:
    a = session_bars("AAPL", D1, n=50, null_every=3)
    b = session_bars("BRK.B", D1, n=20, source="stream")
    c = session_bars("X", D1, n=5, source="")
    return pa.concat_tables([a, b, c])


def test_binary_copy_stream_round_trips_through_postgres(fresh_pg_url: str) -> None:
    migrate_up(fresh_pg_url)
    bars = _mixed()
    with psycopg.connect(fresh_pg_url) as conn:
        cols = ", ".join(_pgcopy.COPY_COLUMNS)
        with conn.cursor() as cur, cur.copy(f"COPY bars ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_pgcopy.encode_bars(bars))
        conn.commit()
        for symbol in ("AAPL", "BRK.B", "X"):
            out = bytearray()
            query = f"COPY (SELECT {_pgcopy.READ_SELECT} FROM bars WHERE symbol = '{symbol}' ORDER BY ts) TO STDOUT (FORMAT BINARY)"
            with conn.cursor() as cur, cur.copy(query) as copy:
                for chunk in copy:
                    out += chunk
            got = _pgcopy.decode_bars(out, symbol, "1m")
            want = sort_bars(bars.filter(pa.compute.equal(bars.column("symbol"), symbol)))
            assert got is not None and got.equals(want), symbol


def test_decoder_refuses_a_broken_layout() -> None:
    assert _pgcopy.decode_bars(b"garbage", "A", "1m") is None
    assert _pgcopy.decode_bars(_pgcopy.HEADER + b"\x00" * 7 + _pgcopy.TRAILER, "A", "1m") is None
    empty = _pgcopy.decode_bars(_pgcopy.HEADER + _pgcopy.TRAILER, "A", "1m")
    assert empty is not None and empty.num_rows == 0 and empty.schema == BAR_SCHEMA


def test_long_and_non_ascii_sources_take_the_fallback_read(fresh_pg_url: str) -> None:
    store = PostgresStore(fresh_pg_url)
    try:
        long = session_bars("AAPL", D1, n=10, source="a-very-long-provider-name-" + "x" * 30)
        utf8 = session_bars("MSFT", D1, n=10, source="börse-ü")
        store.write_bars(pa.concat_tables([long, utf8]))
        assert store.read_bars("AAPL", "1m").table.equals(long)
        assert store.read_bars("MSFT", "1m").table.equals(utf8)
    finally:
        store.close()


def test_open_store_migrates_or_explains(fresh_pg_url: str) -> None:
    settings = load_settings(store="postgres", database_url=fresh_pg_url)
    with pytest.raises(StoreError, match="migrate up"):
        open_store(settings, auto_migrate=False)
    store = open_store(settings)
    try:
        assert isinstance(store, PostgresStore)
        assert pending_migrations(fresh_pg_url) == []
    finally:
        store.close()
    open_store(settings, auto_migrate=False).close()


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/nothing")


def test_migrations_up_status_down_up(fresh_pg_url: str) -> None:
    known = discover()
    assert known[0].version == 1 and all(m.down_sql for m in known)
    assert [s.applied for s in migration_status(fresh_pg_url)] == [False] * len(known)
    assert [m.version for m in migrate_up(fresh_pg_url)] == [m.version for m in known]
    assert migrate_up(fresh_pg_url) == []  # idempotent
    status = migration_status(fresh_pg_url)
    assert all(s.applied and not s.changed for s in status)
    reverted = migrate_down(fresh_pg_url)
    assert [m.version for m in reverted] == [known[-1].version]
    assert migration_status(fresh_pg_url)[-1].applied is False
    migrate_down(fresh_pg_url, steps=len(known))
    with psycopg.connect(fresh_pg_url) as conn:
        assert conn.execute("SELECT to_regclass('bars')").fetchone() == (None,)
    assert migrate_down(fresh_pg_url) == []
    migrate_up(fresh_pg_url)
    store = PostgresStore(fresh_pg_url, auto_migrate=False)
    try:
        assert store.write_bars(session_bars("AAPL", D1, n=3)).written == 3
    finally:
        store.close()


def test_changed_migration_is_flagged(fresh_pg_url: str) -> None:
    migrate_up(fresh_pg_url)
    with psycopg.connect(fresh_pg_url) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    assert migration_status(fresh_pg_url)[0].changed is True


def test_a_concurrent_insert_falls_back_to_the_upsert(fresh_pg_url: str) -> None:
    store = PostgresStore(fresh_pg_url)
    try:
        bars = session_bars("AAPL", D1, n=30)
        original = store._any_in_ranges
        raced: list[bool] = []

        def racing_check(conn: psycopg.Connection, good: pa.Table) -> bool:  # type: ignore[type-arg]
            answer = original(conn, good)
            if not raced:  # another process inserts some of the keys right after the check
                with psycopg.connect(fresh_pg_url, autocommit=True) as other:
                    cols = ", ".join(_pgcopy.COPY_COLUMNS)
                    with other.cursor() as cur, cur.copy(f"COPY bars ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.write(_pgcopy.encode_bars(bars.slice(0, 10)))
                raced.append(True)
            return answer

        store._any_in_ranges = racing_check  # type: ignore[method-assign]
        assert store.write_bars(bars).written == 30
        assert raced == [True]
        assert store.read_bars("AAPL", "1m").table.equals(bars)
    finally:
        store.close()


def test_timestamps_come_back_in_utc(fresh_pg_url: str) -> None:
    store = PostgresStore(fresh_pg_url)
    try:
        store.add_symbols(["AAPL"])
        info = store.list_symbols()[0]
        assert info.added_at.utcoffset() == datetime.now(UTC).utcoffset()
    finally:
        store.close()
