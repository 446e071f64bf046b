"""The LanceDB table of RAG-ready candles: upserts, filters, indexes, concurrency."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from jonbu_core.errors import ConfigError, InvalidInputError
from jonbu_core.rag.base import SearchFilter, rag_schema
from jonbu_core.rag.keys import where_clause
from jonbu_core.rag.lancedb_store import LanceRagStore

Rows = Callable[..., pa.Table]


def test_upsert_twice_keeps_the_row_count(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db")
    assert store.dimension() is None and store.count() == 0
    rows = make_rows("AAPL", 50)
    first = store.upsert(rows)
    assert (first.inserted, first.updated) == (50, 0)
    again = store.upsert(make_rows("AAPL", 50, seed=1, text="rewritten {i}"))
    assert (again.inserted, again.updated) == (0, 50)
    assert store.count() == 50
    assert store.duplicate_keys() == 0
    assert store.read().column("text")[0].as_py() == "rewritten 0"
    assert store.dimension() == 8
    assert store.schema() == rag_schema(8)


def test_overlapping_upsert_inserts_only_new_keys(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db")
    store.upsert(make_rows("AAPL", 30))
    res = store.upsert(make_rows("AAPL", 40).slice(20))
    assert (res.inserted, res.updated) == (10, 10)
    assert store.count() == 40


def test_repeated_keys_in_one_batch_keep_the_last(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db")
    a = make_rows("AAPL", 5, text="old {i}")
    b = make_rows("AAPL", 5, text="new {i}")
    store.upsert(pa.concat_tables([a, b]))
    assert store.count() == 5
    assert store.read().column("text").to_pylist() == [f"new {i}" for i in range(5)]


def test_filters(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db")
    store.upsert(make_rows("AAPL", 20))
    store.upsert(make_rows("MSFT", 10))
    store.upsert(make_rows("MSFT", 10, timeframe="1h"))
    assert store.count(SearchFilter(symbol="AAPL")) == 20
    assert store.count(SearchFilter(symbol="msft", timeframe="15m")) == 10
    assert store.count(SearchFilter(symbols=("AAPL", "MSFT"), timeframe="1h")) == 10
    start = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)  # the third bar
    end = datetime(2024, 1, 2, 16, 0, tzinfo=UTC)
    got = store.read(SearchFilter(symbol="AAPL", start=start, end=end))
    assert got.num_rows == 4
    assert got.column("ts")[0].as_py() == start
    assert store.delete(SearchFilter(symbol="MSFT", timeframe="1h")) == 10
    assert store.count() == 30


def test_where_clause_validates_values() -> None:
    assert where_clause(None) is None
    assert where_clause(SearchFilter()) is None
    w = where_clause(
        SearchFilter(symbol="aapl", timeframe="1D", start=datetime(2024, 1, 2, tzinfo=UTC))
    )
    assert w == "symbol = 'AAPL' AND timeframe = '1d' AND ts >= TIMESTAMP '2024-01-02 00:00:00.000000'"
    with pytest.raises(InvalidInputError):
        where_clause(SearchFilter(symbol="x'; DROP"))
    with pytest.raises(InvalidInputError):
        where_clause(SearchFilter(timeframe="2x"))


def test_dimension_mismatch_is_refused(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db")
    store.upsert(make_rows("AAPL", 3, dim=8))
    with pytest.raises(ConfigError, match="8-d"):
        store.upsert(make_rows("AAPL", 3, dim=16))


def test_bad_rows_are_refused(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db")
    rows = make_rows("AAPL", 3)
    with pytest.raises(InvalidInputError, match="vector"):
        store.upsert(rows.drop_columns(["vector"]))
    with pytest.raises(InvalidInputError, match="text"):
        store.upsert(rows.drop_columns(["text"]))
    assert store.upsert(rows.slice(0, 0)).inserted == 0
    assert store.count() == 0


def test_indexes_and_search(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db", vector_index_min_rows=300)
    rows = make_rows("AAPL", 200, text="plain candle {i}")
    store.upsert(rows)
    assert store.text_search("hammer", SearchFilter(), 5).num_rows == 0  # no FTS index yet
    report = store.ensure_indexes()
    assert {"btree:ts", "bitmap:symbol", "bitmap:timeframe", "fts:text"} <= set(report.actions)
    assert "ivf_flat:vector" not in report.actions
    store.upsert(make_rows("MSFT", 200, seed=3, text="hammer candle {i}"))
    # rows written after the index are searched too
    hits = store.text_search("hammer", SearchFilter(symbol="MSFT"), 5)
    assert hits.num_rows == 5 and set(hits.column("symbol").to_pylist()) == {"MSFT"}
    report = store.ensure_indexes()
    assert "ivf_flat:vector" in report.actions
    assert set(store.index_names()) >= {"ts", "symbol", "timeframe", "text", "vector"}
    # the nearest row to a stored vector is that row, with the filters applied
    target = rows.slice(17, 1)
    vec = np.asarray(target.column("vector")[0].as_py(), dtype=np.float32)
    got = store.vector_search(vec, SearchFilter(symbol="AAPL"), 3)
    assert got.column("text")[0].as_py() == "plain candle 17"
    assert got.column("_distance")[0].as_py() == pytest.approx(0.0, abs=1e-4)
    assert store.vector_search(vec, SearchFilter(symbol="NVDA"), 3).num_rows == 0


def _export_partition(uri: str, symbol: str, seed: int, barrier: Any) -> None:
    import numpy as np
    import pyarrow as pa

    from jonbu_core.models import TS_TYPE
    from jonbu_core.rag.lancedb_store import LanceRagStore

    rng = np.random.default_rng(seed)
    n = 150
    ts = np.datetime64("2024-01-02T14:30") + np.arange(n) * np.timedelta64(15, "m")
    store = LanceRagStore(uri)
    store.count()  # open the table before waiting
    barrier.wait(60)  # both processes also write the same keys, at the same moment
    _shared_keys(store, seed)
    for lo in range(0, n, 30):  # several commits each, interleaving with the other process
        hi = lo + 30
        vec = rng.standard_normal((30, 8)).astype(np.float32)
        store.upsert(
            pa.table(
                {
                    "symbol": [symbol] * 30,
                    "timeframe": ["15m"] * 30,
                    "ts": pa.array(ts[lo:hi].astype("datetime64[us]")).cast(TS_TYPE),
                    "text": [f"{symbol} {i}" for i in range(lo, hi)],
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.ravel()), 8),
                }
            )
        )


def _shared_keys(store: LanceRagStore, seed: int) -> None:
    import numpy as np
    import pyarrow as pa

    from jonbu_core.models import TS_TYPE

    n = 200
    vec = np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)
    ts = np.datetime64("2024-01-02T14:30") + np.arange(n) * np.timedelta64(15, "m")
    store.upsert(pa.table({
        "symbol": ["SPY"] * n,
        "timeframe": ["15m"] * n,
        "ts": pa.array(ts.astype("datetime64[us]")).cast(TS_TYPE),
        "text": [f"writer {seed} {i}" for i in range(n)],
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.ravel()), 8),
    }))


def test_parallel_processes_lose_nothing(tmp_path: Path, make_rows: Rows) -> None:
    uri = str(tmp_path / "db")
    LanceRagStore(uri).upsert(make_rows("NVDA", 5))  # the table exists; both processes merge into it
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_export_partition, args=(uri, s, i, barrier))
             for i, s in enumerate(["AAPL", "MSFT"])]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    store = LanceRagStore(uri)
    assert store.count(SearchFilter(symbol="AAPL")) == 150
    assert store.count(SearchFilter(symbol="MSFT")) == 150
    # the keys both processes wrote at once exist once (the primary key made the later an update)
    assert store.count(SearchFilter(symbol="SPY")) == 200
    assert store.count() == 505
    assert store.duplicate_keys() == 0


def test_write_paths(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db", atomic_replace=False)
    first = store.upsert(make_rows("AAPL", 40))
    assert first.appended and (first.inserted, first.updated) == (40, 0)
    # a re-export of a stored range: delete + append, counted as updates
    again = store.upsert(make_rows("AAPL", 40, text="again {i}"))
    assert again.appended and (again.inserted, again.updated) == (0, 40)
    # a batch that leaves stored keys of its range out: merge_insert keeps them
    sparse = make_rows("AAPL", 40, text="sparse {i}").filter(pa.array([i % 2 == 0 for i in range(40)]))
    res = store.upsert(sparse)
    assert not res.appended and (res.inserted, res.updated) == (0, 20)
    texts = store.read().column("text").to_pylist()
    assert texts[:2] == ["sparse 0", "again 1"] and len(texts) == 40
    # the atomic default always merges
    atomic = LanceRagStore(tmp_path / "db")
    res = atomic.upsert(make_rows("AAPL", 40))
    assert not res.appended and (res.inserted, res.updated) == (0, 40)
    assert store.count() == 40 and store.duplicate_keys() == 0
    # other partitions are untouched; the lock files live outside the tables
    store.upsert(make_rows("MSFT", 10))
    store.upsert(make_rows("AAPL", 10, timeframe="1h"))
    assert store.count() == 60
    assert (tmp_path / "db" / ".locks").is_dir()
    assert store._db.table_names() == ["rag_candles"]


def test_indexes_stay_current_after_appends(tmp_path: Path, make_rows: Rows) -> None:
    store = LanceRagStore(tmp_path / "db")
    store.upsert(make_rows("AAPL", 100, text="plain candle {i}"))
    store.ensure_indexes()
    store.upsert(make_rows("MSFT", 50, text="hammer candle {i}"))  # appended, not indexed yet
    assert store.text_search("hammer", SearchFilter(), 100).num_rows == 50
    store.upsert(make_rows("MSFT", 50, text="doji candle {i}"))  # replaced by delete + append
    assert store.text_search("hammer", SearchFilter(), 100).num_rows == 0
    assert store.text_search("doji", SearchFilter(symbol="MSFT"), 100).num_rows == 50


def test_small_fragments_are_compacted(tmp_path: Path, make_rows: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    import jonbu_core.rag.lancedb_store as mod

    monkeypatch.setattr(mod, "OPTIMIZE_SMALL_FRAGMENTS", 4)
    store = LanceRagStore(tmp_path / "db")
    store.upsert(make_rows("AAPL", 10))
    store.ensure_indexes()
    for i, sym in enumerate(["MSFT", "NVDA", "SPY", "QQQ", "IWM"]):
        store.upsert(make_rows(sym, 10, seed=i))  # one small fragment each
    assert "optimize" in store.ensure_indexes().actions
    assert store.count() == 60 and store.duplicate_keys() == 0
    assert store.text_search("candle", SearchFilter(symbol="IWM"), 20).num_rows == 10
