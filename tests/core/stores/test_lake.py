"""Lake-specific behaviour: commit conflicts, creation, maintenance."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from jonbu_core.settings import load_settings
from jonbu_core.stores.factory import open_store
from jonbu_core.stores.lake import LakeStore
from tests.core.stores._data import session_bars

D1 = date(2024, 1, 2)


def test_factory_opens_the_lake_under_the_data_dir(data_dir: Path) -> None:
    store = open_store(load_settings())
    try:
        assert isinstance(store, LakeStore)
        assert store.root == (data_dir / "lake").resolve()
        for table in ("bars", "quarantine", "symbols"):
            assert DeltaTable.is_deltatable(str(data_dir / "lake" / table))
    finally:
        store.close()


def test_a_commit_conflict_is_retried_with_fresh_data(tmp_path: Path) -> None:
    a, b = LakeStore(tmp_path / "lake"), LakeStore(tmp_path / "lake")
    a.write_bars(session_bars("AAPL", D1, n=100))
    original = a._write_range
    raced: list[int] = []

    def racing_write(data: pa.Table, predicate: str) -> None:
        # Another process commits overlapping rows between A's read and A's commit.
        if not raced:
            raced.append(b.write_bars(session_bars("AAPL", D1, seed=7).slice(50, 100)).written)
        original(data, predicate)

    a._write_range = racing_write  # type: ignore[method-assign]
    stream = session_bars("AAPL", D1, seed=8, source="stream", n=160)
    result = a.write_bars(stream)
    assert raced == [100]
    # Rows 0-149 exist as provider bars (A's first write and B's racing one): stream loses there.
    assert (result.written, result.kept_existing) == (10, 150)
    got = a.read_bars("AAPL", "1m").table
    assert got.num_rows == 160
    assert got.slice(50, 100).equals(session_bars("AAPL", D1, seed=7).slice(50, 100))
    assert got.slice(150).equals(stream.slice(150))


def test_readers_see_other_writers_incrementally(tmp_path: Path) -> None:
    reader, writer = LakeStore(tmp_path / "lake"), LakeStore(tmp_path / "lake")
    assert reader.read_bars("AAPL", "1m").table.num_rows == 0
    writer.write_bars(session_bars("AAPL", D1, n=10))
    assert reader.read_bars("AAPL", "1m").table.num_rows == 10
    writer.write_bars(session_bars("AAPL", D1, n=20))
    assert reader.latest_bar("AAPL", "1m") is not None
    assert reader.read_bars("AAPL", "1m").table.num_rows == 20


def test_compact_and_vacuum_keep_the_data(tmp_path: Path) -> None:
    store = LakeStore(tmp_path / "lake")
    bars = session_bars("AAPL", D1)
    for i in range(0, 390, 30):  # many small commits, like the stream sink
        store.write_bars(bars.slice(i, 30))
    files_before = len(DeltaTable(str(tmp_path / "lake" / "bars")).file_uris())
    assert files_before >= 13
    metrics = store.compact()
    assert set(metrics) == {"bars", "quarantine", "symbols"}
    assert len(DeltaTable(str(tmp_path / "lake" / "bars")).file_uris()) < files_before
    assert len(store.vacuum(retention_hours=0)) >= files_before
    assert store.read_bars("AAPL", "1m").table.equals(bars)


def test_writing_into_a_missing_directory_creates_it(tmp_path: Path) -> None:
    store = LakeStore(tmp_path / "deep" / "er" / "lake")
    assert store.write_bars(session_bars("AAPL", D1, n=5)).written == 5


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_batches(tmp_path: Path, n: int) -> None:
    store = LakeStore(tmp_path / "lake")
    assert store.write_bars(session_bars("AAPL", D1, n=n)).written == n
    assert store.read_bars("AAPL", "1m").table.num_rows == n


def test_many_small_writes_compact_their_partition(tmp_path: Path) -> None:
    store = LakeStore(tmp_path / "lake")
    store.compact_after = 8
    bars = session_bars("AAPL", D1)
    for i in range(30):  # one bar per commit, like the stream sink
        store.write_bars(bars.slice(i, 1))
    files = DeltaTable(str(tmp_path / "lake" / "bars")).file_uris(
        file_pruning_predicate="timeframe = '1m' AND symbol = 'AAPL'"
    )
    assert len(files) <= store.compact_after + 1
    assert store.read_bars("AAPL", "1m").table.equals(bars.slice(0, 30))


def test_one_store_shared_by_threads(tmp_path: Path) -> None:
    """The API calls one store from a thread pool: writes and reads must not trip each other."""
    import threading

    from jonbu_core import calendar as cal

    store = LakeStore(tmp_path / "lake")
    days = cal.sessions(date(2024, 3, 4), date(2024, 3, 8))
    errors: list[BaseException] = []
    done = threading.Event()

    def write(symbol: str) -> None:
        try:
            for d in days:
                store.write_bars(session_bars(symbol, d))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            while not done.is_set():
                for symbol in ("A", "B"):
                    assert store.read_bars(symbol, "1m").table.num_rows % 390 == 0
                    store.latest_bar(symbol, "5m")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(s,)) for s in ("A", "B")]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join(60)
    done.set()
    for t in readers:
        t.join(60)
    assert errors == []
    assert [store.read_bars(s, "1m").table.num_rows for s in ("A", "B")] == [390 * len(days)] * 2


def test_a_read_that_races_a_vacuum_lists_the_files_again(tmp_path: Path) -> None:
    store = LakeStore(tmp_path / "lake")
    bars = session_bars("AAPL", D1, n=10)
    store.write_bars(bars)
    original = store._read_files
    calls: list[int] = []

    def flaky(paths: list[str], columns: list[str], where: object = None) -> object:
        calls.append(len(paths))
        if len(calls) == 1:
            raise FileNotFoundError(paths[0])
        return original(paths, columns, where)  # type: ignore[arg-type]

    store._read_files = flaky  # type: ignore[method-assign,assignment]
    assert store.read_bars("AAPL", "1m").table.equals(bars)
    assert len(calls) == 2
