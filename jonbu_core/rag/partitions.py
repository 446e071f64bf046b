"""Partitions of a RAG write and the inter-process locks that make the append path safe.

A *partition* is one ``(symbol, timeframe)`` pair; an exported batch covers a ``ts``
range of one or a few of them. :meth:`LanceRagStore.upsert
<jonbu_core.rag.lancedb_store.LanceRagStore.upsert>` locks the batch's partitions
(an exclusive ``flock`` on one small file per pair under ``<lancedb dir>/.locks``),
re-reads the latest table version and counts the stored rows in the batch's ranges:
none → a plain append (a fraction of ``merge_insert``'s cost); some → ``merge_insert``.
Writers of the same partition therefore run one after the other (the second one sees
the first one's rows and updates them), writers of different partitions never wait
for each other. Without ``fcntl`` (Windows) no lock is taken and every write takes
the ``merge_insert`` path, which is safe on its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.models import TS_TYPE

logger = logging.getLogger(__name__)

#: Directory (inside the LanceDB directory) of the partition lock files; LanceDB only
#: lists ``*.lance`` directories as tables, so it ignores this one.
LOCK_DIR = ".locks"
#: Above this many partitions in one batch the range filter is coarsened to
#: ``symbol IN (…) AND timeframe IN (…) AND ts BETWEEN …`` (still exact enough: a
#: false "rows exist" only sends the batch down the ``merge_insert`` path).
MAX_EXACT_PARTITIONS = 32


@dataclass(frozen=True)
class Partition:
    """One ``(symbol, timeframe)`` pair of a batch and its ``ts`` range (µs, inclusive)."""

    symbol: str
    timeframe: str
    first_us: int
    last_us: int


def partitions(rows: pa.Table) -> list[Partition]:
    """The partitions of ``rows`` (sorted by symbol, timeframe)."""
    if rows.num_rows == 0:
        return []
    keyed = rows.select(["symbol", "timeframe"]).append_column(
        "us", pc.cast(rows.column("ts"), TS_TYPE).cast(pa.int64())
    )
    agg = keyed.group_by(["symbol", "timeframe"], use_threads=False).aggregate(
        [("us", "min"), ("us", "max")]
    )
    out = [
        Partition(str(s), str(t), int(lo), int(hi))
        for s, t, lo, hi in zip(
            agg.column("symbol").to_pylist(),
            agg.column("timeframe").to_pylist(),
            agg.column("us_min").to_pylist(),
            agg.column("us_max").to_pylist(),
            strict=True,
        )
    ]
    return sorted(out, key=lambda p: (p.symbol, p.timeframe))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ts(us: int) -> str:
    day = np.datetime64(us, "us")
    return "TIMESTAMP '" + str(day).replace("T", " ") + "'"


def range_filter(parts: list[Partition]) -> str:
    """LanceDB SQL filter matching the stored rows inside the ranges of ``parts``."""
    if not parts:
        return "false"
    if len(parts) <= MAX_EXACT_PARTITIONS:
        return " OR ".join(
            f"(symbol = {_quote(p.symbol)} AND timeframe = {_quote(p.timeframe)} "
            f"AND ts >= {_ts(p.first_us)} AND ts <= {_ts(p.last_us)})"
            for p in parts
        )
    syms = ", ".join(_quote(s) for s in sorted({p.symbol for p in parts}))
    tfs = ", ".join(_quote(t) for t in sorted({p.timeframe for p in parts}))
    lo = min(p.first_us for p in parts)
    hi = max(p.last_us for p in parts)
    return f"symbol IN ({syms}) AND timeframe IN ({tfs}) AND ts >= {_ts(lo)} AND ts <= {_ts(hi)}"


def lock_name(symbol: str, timeframe: str) -> str:
    """File name of a partition's lock (readable, and unique through a short hash)."""
    raw = f"{symbol}|{timeframe}"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", raw)[:60]
    return f"{safe}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}.lock"


class PartitionLock:
    """Exclusive inter-process locks of partitions, taken in sorted order (no deadlock).

    Used as a context manager; ``__enter__`` returns ``True`` when the locks are held
    and ``False`` when locking is unavailable (no ``fcntl``, or the lock directory
    cannot be written) — the caller must then not rely on them. ``flock`` locks belong
    to the open file, so threads of one process exclude each other as well.
    """

    def __init__(self, directory: Path, parts: list[Partition]) -> None:
        self.directory = directory
        self.names = sorted({lock_name(p.symbol, p.timeframe) for p in parts})
        self._files: list[IO[bytes]] = []

    def __enter__(self) -> bool:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for name in self.names:
                fh = open(self.directory / name, "ab")  # closed in _release
                self._files.append(fh)
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except OSError as exc:
            logger.warning("RAG partition lock unavailable (%s); using merge_insert", exc)
            self._release()
            return False
        return True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        for fh in reversed(self._files):
            with contextlib.suppress(OSError):
                fh.close()  # closing the file releases its flock
        self._files.clear()


def lock_dir(uri: Path) -> Path:
    """The lock directory of a LanceDB directory."""
    return Path(os.fspath(uri)) / LOCK_DIR
