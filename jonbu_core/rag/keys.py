"""Keys and filters of the RAG table: the row key, deduplication, LanceDB SQL filters.

Helpers of :mod:`jonbu_core.rag.lancedb_store`, kept apart to keep that module short.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.errors import InvalidInputError
from jonbu_core.models import TS_TYPE, normalize_symbol
from jonbu_core.rag.base import KEY_COLUMNS, SearchFilter
from jonbu_core.timeframe import parse_timeframe

logger = logging.getLogger(__name__)

_US_PER_DAY = 86_400_000_000


def _ts_literal(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return "TIMESTAMP '" + ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "'"


def where_clause(flt: SearchFilter | None) -> str | None:
    """The LanceDB SQL filter of ``flt`` (values are validated, so quoting is safe).

    Raises
    ------
    InvalidInputError
        For a bad symbol or timeframe.
    """
    if flt is None:
        return None
    parts: list[str] = []
    syms = [normalize_symbol(s) for s in ((flt.symbol,) if flt.symbol else ()) + tuple(flt.symbols)]
    if len(syms) == 1:
        parts.append(f"symbol = '{syms[0]}'")
    elif syms:
        parts.append("symbol IN (" + ", ".join(f"'{s}'" for s in dict.fromkeys(syms)) + ")")
    if flt.timeframe:
        parts.append(f"timeframe = '{parse_timeframe(flt.timeframe).name}'")
    if flt.start is not None:
        parts.append(f"ts >= {_ts_literal(flt.start)}")
    if flt.end is not None:
        parts.append(f"ts < {_ts_literal(flt.end)}")
    return " AND ".join(parts) or None


def _micros(ts: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Timestamps as microseconds since the epoch (one contiguous int64 array)."""
    col = pc.cast(ts, TS_TYPE).cast(pa.int64())
    if isinstance(col, pa.ChunkedArray):  # ChunkedArray.to_numpy goes through pandas
        col = col.combine_chunks()
    out: npt.NDArray[np.int64] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)
    return out


def _ts_int64(rows: pa.Table) -> npt.NDArray[np.int64]:
    return _micros(rows.column("ts"))


def _pair_codes(rows: pa.Table) -> npt.NDArray[np.int64]:
    """One integer per ``(symbol, timeframe)`` pair of each row (equal pair, equal code)."""
    sym = pc.dictionary_encode(rows.column("symbol").combine_chunks())
    tf = pc.dictionary_encode(rows.column("timeframe").combine_chunks())
    s = np.asarray(sym.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    t = np.asarray(tf.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    out: npt.NDArray[np.int64] = s * max(1, len(tf.dictionary)) + t
    return out


def keys_are_unique(rows: pa.Table) -> bool:
    """Whether no key repeats, decided on integer codes (no string hashing).

    An exported batch is one or more ``(symbol, timeframe)`` runs, each strictly
    ascending in ``ts``: one pass proves it. Other batches are sorted by
    ``(pair, ts)`` and their neighbours compared.
    """
    n = rows.num_rows
    if n < 2:
        return True
    codes = _pair_codes(rows)
    ts = _ts_int64(rows)
    same = codes[1:] == codes[:-1]
    if bool(np.all(~same | (ts[1:] > ts[:-1]))):
        runs = int(np.count_nonzero(~same)) + 1
        if runs == len(np.unique(codes)):
            return True
    order = np.lexsort((ts, codes))
    c, t = codes[order], ts[order]
    return not bool(np.any((c[1:] == c[:-1]) & (t[1:] == t[:-1])))


def dedupe_last(rows: pa.Table) -> pa.Table:
    """Keep the last row of each key (``merge_insert`` needs unique source keys)."""
    if rows.num_rows < 2 or keys_are_unique(rows):
        return rows
    idx = pa.array(np.arange(rows.num_rows, dtype=np.int64))
    keyed = rows.select(list(KEY_COLUMNS)).append_column("__i", idx)
    last = keyed.group_by(list(KEY_COLUMNS), use_threads=False).aggregate([("__i", "max")])
    if last.num_rows == rows.num_rows:
        return rows
    logger.warning("dropping %d rows with a repeated key before the upsert", rows.num_rows - last.num_rows)
    keep = pc.sort_indices(last.column("__i_max"))
    return rows.take(pc.take(last.column("__i_max"), keep))


def ts_strings(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``ts`` as ``2024-01-02 14:30:00.000000Z`` strings, as Arrow's cast writes them.

    Faster than casting every value: the dates and the times of day are formatted
    once per distinct value (a few hundred of each in an export) and joined.
    """
    us = _micros(ts)
    if len(us) == 0:
        return pa.array([], pa.string())
    day = us // _US_PER_DAY
    days, day_idx = np.unique(day, return_inverse=True)
    times, time_idx = np.unique(us - day * _US_PER_DAY, return_inverse=True)
    day_str = pc.cast(pa.array(days * _US_PER_DAY, pa.int64()).cast(TS_TYPE), pa.string())
    time_str = pc.cast(pa.array(times, pa.int64()).cast(TS_TYPE), pa.string())
    dates = pc.utf8_slice_codeunits(day_str, 0, -17)  # drop " 00:00:00.000000Z"
    clock = pc.utf8_slice_codeunits(time_str, 11)  # drop "1970-01-01 "
    return pc.binary_join_element_wise(
        pc.take(dates, pa.array(day_idx.reshape(-1))), pc.take(clock, pa.array(time_idx.reshape(-1))), " "
    )


def row_keys(rows: pa.Table) -> pa.ChunkedArray:
    """The ``key`` column of rows: ``symbol|timeframe|ts`` (ts as ``2024-01-02 14:30:00.000000Z``).

    Raises
    ------
    InvalidInputError
        If a key column is missing or null.
    """
    parts = []
    for name in KEY_COLUMNS:
        if name not in rows.column_names:
            raise InvalidInputError(f"RAG rows are missing the column {name!r}")
        col = rows.column(name)
        if col.null_count:
            raise InvalidInputError(f"RAG column {name!r} has {col.null_count} nulls")
        if name == "ts":
            col = ts_strings(col)
        parts.append(col)
    return pc.binary_join_element_wise(*parts, "|")
