"""Day-partitioned Parquet files (narratives, training sets), written atomically.

A data set directory holds ``symbol=<SYMBOL>/<YYYY-MM-DD>.parquet``: one file per
symbol and exchange day, so re-exporting a day replaces exactly its file and several
processes may export different days at once. Files are written to a temporary name
and renamed into place, so readers never see half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jonbu_core.timeframe import EXCHANGE_TZ


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def day_path(root: Path, symbol: str, day: date) -> Path:
    """``<root>/symbol=<SYMBOL>/<YYYY-MM-DD>.parquet``."""
    return root / f"symbol={symbol}" / f"{day.isoformat()}.parquet"


def exchange_days(table: pa.Table, column: str = "ts") -> list[date]:
    """The exchange-local date of every row's timestamp."""
    return [t.astimezone(EXCHANGE_TZ).date() for t in table.column(column).to_pylist()]


def write_day_files(
    root: Path, symbol: str, table: pa.Table, days: Iterable[date] = ()
) -> list[Path]:
    """Write ``table`` as one file per exchange day of its ``ts``.

    Parameters
    ----------
    root : Path
        The data set directory.
    symbol : str
        The symbol (the ``symbol=`` directory).
    table : pyarrow.Table
        Rows with a UTC ``ts`` column.
    days : iterable of date
        Days that were exported: a day without rows loses its old file.

    Returns
    -------
    list of Path
        The files written.
    """
    by_day: dict[date, list[int]] = defaultdict(list)
    for i, d in enumerate(exchange_days(table)):
        by_day[d].append(i)
    written: list[Path] = []
    for day in sorted(set(days) | set(by_day)):
        path = day_path(root, symbol, day)
        idx = by_day.get(day)
        if not idx:
            path.unlink(missing_ok=True)
            continue
        part = table.take(pa.array(idx))

        def write(tmp: str, part: pa.Table = part) -> None:
            pq.write_table(part, tmp, compression="zstd")

        atomic_write(path, write)
        written.append(path)
    return written


def read_day_files(root: Path, symbol: str, days: Iterable[date]) -> pa.Table | None:
    """Concatenate the files of ``days`` (missing days are skipped; ``None`` if none exist)."""
    parts = [pq.read_table(p) for d in sorted(set(days)) if (p := day_path(root, symbol, d)).exists()]
    if not parts:
        return None
    return pa.concat_tables(parts, promote_options="default")
