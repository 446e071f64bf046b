"""Row keys, cheap uniqueness checks, partition ranges and the partition locks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.models import TS_TYPE
from jonbu_core.rag.keys import dedupe_last, keys_are_unique, row_keys, ts_strings
from jonbu_core.rag.partitions import PartitionLock, lock_name, partitions, range_filter

Rows = Callable[..., pa.Table]


def test_ts_strings_match_arrow_cast() -> None:
    rng = np.random.default_rng(0)
    us = np.concatenate([
        rng.integers(-5 * 10**15, 5 * 10**15, 5000),
        [0, -1, 1, 86_400_000_000 - 1, -86_400_000_000, 1_704_205_800_000_000],
    ])
    ts = pa.array(us, pa.int64()).cast(TS_TYPE)
    assert ts_strings(ts).to_pylist() == pc.cast(ts, pa.string()).to_pylist()
    chunked = pa.chunked_array([ts.slice(0, 10), ts.slice(10)])
    assert ts_strings(chunked).to_pylist() == pc.cast(ts, pa.string()).to_pylist()
    assert ts_strings(ts.slice(0, 0)).to_pylist() == []


def test_row_keys_format(make_rows: Rows) -> None:
    keys = row_keys(make_rows("AAPL", 2))
    assert keys.to_pylist() == ["AAPL|15m|2024-01-02 14:30:00.000000Z", "AAPL|15m|2024-01-02 14:45:00.000000Z"]


def test_keys_are_unique(make_rows: Rows) -> None:
    a, b = make_rows("AAPL", 20), make_rows("MSFT", 20)
    assert keys_are_unique(pa.concat_tables([a, b]))
    # interleaved runs of one partition, still unique
    assert keys_are_unique(pa.concat_tables([a.slice(10), b, a.slice(0, 10)]))
    assert not keys_are_unique(pa.concat_tables([a, a.slice(5, 1)]))
    assert keys_are_unique(a.slice(0, 1))
    shuffled = pa.concat_tables([a, b]).take(pa.array(np.random.default_rng(1).permutation(40)))
    assert keys_are_unique(shuffled)
    assert dedupe_last(shuffled).num_rows == 40
    assert dedupe_last(pa.concat_tables([a, a.slice(5, 1)])).num_rows == 20


def test_partitions_and_range_filter(make_rows: Rows) -> None:
    rows = pa.concat_tables([make_rows("MSFT", 4), make_rows("AAPL", 3, timeframe="1h")])
    parts = partitions(rows)
    assert [(p.symbol, p.timeframe) for p in parts] == [("AAPL", "1h"), ("MSFT", "15m")]
    first = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert parts[1].first_us == int(first.timestamp() * 1_000_000)
    where = range_filter(parts)
    assert "(symbol = 'MSFT' AND timeframe = '15m' AND ts >= TIMESTAMP '2024-01-02 14:30:00.000000'" in where
    assert "ts <= TIMESTAMP '2024-01-02 15:15:00.000000')" in where
    assert range_filter([]) == "false"
    assert "''" in range_filter(partitions(make_rows("O'X", 1)))  # quotes are escaped


def test_lock_excludes_other_holders(tmp_path: Path, make_rows: Rows) -> None:
    parts = partitions(make_rows("AAPL", 2))
    assert lock_name("BRK/B", "1m") != lock_name("BRK_B", "1m")
    events: list[str] = []
    with PartitionLock(tmp_path, parts) as held:
        assert held

        def other() -> None:
            with PartitionLock(tmp_path, parts):
                events.append("other")

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.2)
        events.append("first done")
    t.join(10)
    assert events == ["first done", "other"]
    # different partitions do not wait
    with PartitionLock(tmp_path, parts), PartitionLock(tmp_path, partitions(make_rows("MSFT", 2))) as held:
        assert held
