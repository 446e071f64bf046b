"""Store benchmark: both adapters next to their floors, same rows, same run.

* write 1M 1m bars (10 symbols × 100k regular-session minutes from 2023) with
  ``write_bars`` (validation, precedence, commit included), in rows/s;
* read one symbol's ~100k 1m bars into Arrow with ``read_bars``, in ms (median).

Floors, measured here on the same rows:

* lake ↔ DuckDB native table (file-backed): ``INSERT … SELECT`` from Arrow, and
  ``SELECT * … WHERE symbol = ? ORDER BY ts`` into Arrow;
* postgres ↔ plain psycopg: binary ``COPY`` with ``write_row`` into a table like
  ``bars`` (the rows are turned into Python tuples *before* the clock starts), and
  a binary-cursor ``fetchall`` of the same query as the store's read.

Targets (issue #3): lake writes ≥ 1M rows/s and reads ≤ 2× DuckDB; Postgres
writes ≥ floor/1.3 and reads ≤ 1.3× floor. Run: ``.venv/bin/python bench/store.py``
(``--rows``/``--repeat`` to change the size; ``JONBU_BENCH_PG_ADMIN_URL`` to pick
the PostgreSQL server, default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure, write_result

from jonbu_core import calendar as cal
from jonbu_core.models import BAR_SCHEMA

PG_ADMIN = os.environ.get("JONBU_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
READ_SYMBOL = "S03"


def make_bars(symbols: int, per_symbol: int) -> pa.Table:
    """``symbols`` × ``per_symbol`` valid 1m bars on real session minutes (deterministic)."""
    minutes = cal.expected_minutes(date(2023, 1, 3), date(2024, 12, 31))[:per_symbol].astype("int64")
    rng = np.random.default_rng(7)
    parts = []
    for i in range(symbols):
        n = len(minutes)
        close = 100 + np.cumsum(rng.normal(0, 0.05, n))
        open_ = np.concatenate([[close[0]], close[:-1]])
        spread = np.abs(rng.normal(0, 0.03, n))
        high, low = np.maximum(open_, close) + spread, np.minimum(open_, close) - spread
        parts.append(pa.table({
            "symbol": pa.array([f"S{i:02d}"] * n), "timeframe": pa.array(["1m"] * n),
            "ts": pa.array(minutes, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "open": open_, "high": high, "low": low, "close": close,
            "volume": rng.integers(100, 10_000, n).astype("float64"),
            "trade_count": pa.array(rng.integers(1, 500, n), pa.int64()),
            "vwap": (high + low + close) / 3, "source": pa.array(["mock"] * n),
        }, schema=BAR_SCHEMA))
    return pa.concat_tables(parts).combine_chunks()


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0




def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up
    return statistics.median(timed(fn) for _ in range(repeat)) * 1000


def bench_lake(bars: pa.Table, repeat: int, tmp: Path) -> dict[str, float]:
    import duckdb

    from jonbu_core.stores.lake import LakeStore

    out: dict[str, float] = {}
    write_s, duck_s = [], []
    runs = 3
    for run in range(runs):  # best of three fresh runs each, alternating (the machine is shared)
        store = LakeStore(tmp / f"lake{run}")
        c0, t0 = time.process_time(), time.perf_counter()
        store.write_bars(bars)
        write_s.append(time.perf_counter() - t0)
        out["lake_write_cpu_s"] = min(out.get("lake_write_cpu_s", 1e9), time.process_time() - c0)
        con = duckdb.connect(str(tmp / f"floor{run}.duckdb"))
        con.execute("CREATE TABLE bars (symbol VARCHAR NOT NULL, timeframe VARCHAR NOT NULL, "
                    "ts TIMESTAMPTZ NOT NULL, open DOUBLE NOT NULL, high DOUBLE NOT NULL, low DOUBLE NOT NULL, "
                    "close DOUBLE NOT NULL, volume DOUBLE NOT NULL, trade_count BIGINT, vwap DOUBLE, "
                    "source VARCHAR NOT NULL)")
        con.register("arrow_bars", bars)
        c0, t0 = time.process_time(), time.perf_counter()
        con.execute("INSERT INTO bars SELECT * FROM arrow_bars")
        duck_s.append(time.perf_counter() - t0)
        out["duckdb_insert_cpu_s"] = min(out.get("duckdb_insert_cpu_s", 1e9), time.process_time() - c0)
        if run < runs - 1:
            store.close()
            con.close()
    out["lake_write_rows_s"] = bars.num_rows / min(write_s)
    out["duckdb_insert_rows_s"] = bars.num_rows / min(duck_s)
    query = f"SELECT * FROM bars WHERE symbol = '{READ_SYMBOL}' AND timeframe = '1m' ORDER BY ts"
    got = store.read_bars(READ_SYMBOL, "1m").table
    ref = con.sql(query).to_arrow_table()
    assert got.num_rows == ref.num_rows and got.column("close").equals(ref.column("close"))
    out["read_rows"] = got.num_rows
    lake_ms, duck_ms = [], []
    for _ in range(3):  # interleave to share the machine's noise fairly
        lake_ms.append(median_ms(lambda: store.read_bars(READ_SYMBOL, "1m"), repeat))
        duck_ms.append(median_ms(lambda: con.sql(query).to_arrow_table(), repeat))
    out["lake_read_ms"] = statistics.median(lake_ms)
    out["duckdb_query_ms"] = statistics.median(duck_ms)
    out["lake_read_5m_ms"] = median_ms(lambda: store.read_bars(READ_SYMBOL, "5m"), repeat)
    store.close()
    con.close()
    return out


def bench_postgres(bars: pa.Table, repeat: int) -> dict[str, float]:
    import psycopg

    from jonbu_core.stores import _pgcopy
    from jonbu_core.stores.postgres import PostgresStore

    name = f"jonbu_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    out: dict[str, float] = {}
    try:
        store = PostgresStore(url)
        cols = ", ".join(_pgcopy.COPY_COLUMNS)
        types = ["text", "text", "timestamptz", "float8", "float8", "float8", "float8", "float8", "int8", "float8", "text"]
        rows = list(zip(*(bars.column(c).to_pylist() for c in _pgcopy.COPY_COLUMNS), strict=True))
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE bars_floor (LIKE bars INCLUDING ALL)")
            conn.commit()

            def floor_copy() -> None:
                with conn.cursor() as cur, cur.copy(f"COPY bars_floor ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types)
                    for r in rows:
                        copy.write_row(r)
                conn.commit()

            def store_write() -> None:
                store.write_bars(bars)

            floor_runs: list[float] = []
            store_runs: list[float] = []
            for order in ((floor_copy, store_write), (store_write, floor_copy)):  # alternate who goes first
                for fn in order:
                    conn.execute("TRUNCATE bars_floor" if fn is floor_copy else "TRUNCATE bars")
                    conn.execute("CHECKPOINT")  # neither run pays for the other's WAL
                    conn.commit()
                    (floor_runs if fn is floor_copy else store_runs).append(timed(fn))
            floor_s, store_s = min(floor_runs), min(store_runs)
            conn.execute("ANALYZE bars")
            conn.execute("ANALYZE bars_floor")
            conn.commit()
            out["postgres_write_rows_s"] = bars.num_rows / store_s
            out["psycopg_copy_rows_s"] = bars.num_rows / floor_s
            query = f"SELECT {cols} FROM bars WHERE symbol = %s AND timeframe = '1m' ORDER BY ts"

            def floor_fetch() -> list[Any]:
                with conn.cursor(binary=True) as cur:
                    return cur.execute(query, (READ_SYMBOL,)).fetchall()

            got = store.read_bars(READ_SYMBOL, "1m").table
            assert got.num_rows == len(floor_fetch())
            store_ms, floor_ms = [], []
            for _ in range(3):
                store_ms.append(median_ms(lambda: store.read_bars(READ_SYMBOL, "1m"), max(3, repeat // 3)))
                floor_ms.append(median_ms(floor_fetch, max(3, repeat // 3)))
            out["postgres_read_ms"] = statistics.median(store_ms)
            out["psycopg_fetch_ms"] = statistics.median(floor_ms)
        store.close()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--rows", type=int, default=100_000, help="1m bars per symbol")
    parser.add_argument("--repeat", type=int, default=9, help="timed reads per median")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    bars = make_bars(args.symbols, args.rows)
    n = bars.num_rows
    print(f"store bench: {n:,} bars ({args.symbols} symbols), reading {READ_SYMBOL}", flush=True)
    with tempfile.TemporaryDirectory(prefix="jonbu-bench-") as tmp:
        lake = bench_lake(bars, args.repeat, Path(tmp))
    figures = [
        figure(f"lake write, {n:,} 1m bars", lake["lake_write_rows_s"], "rows/s",
               baseline=("DuckDB native insert", lake["duckdb_insert_rows_s"]), target=(">=", 1_000_000),
               note="write_bars: validation + precedence merge + one Delta commit; best of 3 fresh runs; "
               "CPU seconds used (all threads) are in meta.lake (lake_write_cpu_s vs duckdb_insert_cpu_s)"),
        figure(f"lake read, one symbol ({int(lake['read_rows']):,} rows) into Arrow", lake["lake_read_ms"], "ms",
               baseline=("DuckDB native query", lake["duckdb_query_ms"]), target=("x<=", 2.0), higher_is_better=False),
        figure("lake read rolled up to 5m (same rows)", lake["lake_read_5m_ms"], "ms", higher_is_better=False),
    ]
    meta: dict[str, Any] = {"rows": n, "symbols": args.symbols, "read_symbol": READ_SYMBOL, "lake": lake,
                            "load_average": os.getloadavg()}
    if not args.no_postgres:
        try:
            pg = bench_postgres(bars, args.repeat)
        except Exception as exc:  # no server: report it rather than pretend
            print(f"store bench: postgres skipped: {exc}", file=sys.stderr)
            meta["postgres_skipped"] = str(exc)
        else:
            meta["postgres"] = pg
            figures += [
                figure(f"postgres write, {n:,} 1m bars", pg["postgres_write_rows_s"], "rows/s",
                       baseline=("psycopg binary COPY (write_row)", pg["psycopg_copy_rows_s"]),
                       target=("x>=", 1 / 1.3),
                       note="write_bars: validation + range check + binary COPY; best of 2 runs each, "
                       "alternating order, CHECKPOINT before each"),
                figure(f"postgres read, one symbol ({int(lake['read_rows']):,} rows) into Arrow", pg["postgres_read_ms"],
                       "ms", baseline=("psycopg binary fetchall", pg["psycopg_fetch_ms"]), target=("x<=", 1.3),
                       higher_is_better=False),
            ]
    write_result("store", figures, **meta)
    return 0 if all(f["passed"] is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
