"""Four processes (spawn) writing different symbol-days while a fifth reads, against each adapter.

One set of processes serves both adapters (every writer writes each batch to the
lake and to Postgres in turn) to keep the test's start-up cost down.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from jonbu_core import calendar as cal
from tests.core.stores import _workers
from tests.core.stores._data import session_bars, sort_bars

DAYS = [d.isoformat() for d in cal.sessions(date(2024, 3, 4), date(2024, 3, 8))]
# Each writer has a symbol of its own (three days) and one day of SHARED, so writers
# also race on the same (symbol, timeframe) partition.
JOBS = [[(f"W{i}", d) for d in DAYS[:3]] + [("SHARED", DAYS[i])] for i in range(4)]


@pytest.mark.timeout(240)
def test_four_writers_and_a_reader(tmp_path: Path, fresh_pg_url: str) -> None:
    targets: list[_workers.Target] = [("lake", str(tmp_path / "lake")), ("postgres", fresh_pg_url)]
    symbols = sorted({s for jobs in JOBS for s, _ in jobs})
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        start, stop = manager.Event(), manager.Event()
        with ProcessPoolExecutor(max_workers=5, mp_context=ctx) as pool:
            read = pool.submit(_workers.reader, targets, symbols, start, stop)
            writes = [pool.submit(_workers.writer, targets, jobs, start) for jobs in JOBS]
            start.set()
            written = [w.result(timeout=200) for w in writes]
            stop.set()
            seen = read.result(timeout=60)
    assert written == [[390 * len(jobs)] * 2 for jobs in JOBS]
    for (kind, _), counts in zip(targets, seen, strict=True):
        assert counts, f"the reader never read {kind}"
        # Every read saw whole symbol-days: a batch is committed atomically.
        assert all(n % 390 == 0 for n in counts), (kind, sorted(set(counts)))

    for target in targets:
        store = _workers.open_store(target)
        try:
            for symbol in symbols:
                want = sort_bars(pa.concat_tables(
                    [session_bars(s, date.fromisoformat(d)) for jobs in JOBS for s, d in jobs if s == symbol]
                ))
                got = store.read_bars(symbol, "1m").table
                assert got.equals(want), (target[0], symbol)  # nothing lost, nothing duplicated
            assert [s.symbol for s in store.list_symbols()] == symbols, target[0]
        finally:
            store.close()
