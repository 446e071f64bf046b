"""Keys and filters of the RAG table: the row key, deduplication, LanceDB SQL filters.

Helpers of :mod:`jonbu_core.rag.lancedb_store`, kept apart to keep that module short.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.errors import InvalidInputError
from jonbu_core.models import TS_TYPE, normalize_symbol
from jonbu_core.rag.base import KEY_COLUMNS, SearchFilter
from jonbu_core.timeframe import parse_timeframe

logger = logging.getLogger(__name__)


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


def dedupe_last(rows: pa.Table) -> pa.Table:
    """Keep the last row of each key (``merge_insert`` needs unique source keys)."""
    if rows.num_rows < 2:
        return rows
    idx = pa.array(np.arange(rows.num_rows, dtype=np.int64))
    keyed = rows.select(list(KEY_COLUMNS)).append_column("__i", idx)
    last = keyed.group_by(list(KEY_COLUMNS), use_threads=False).aggregate([("__i", "max")])
    if last.num_rows == rows.num_rows:
        return rows
    logger.warning("dropping %d rows with a repeated key before the upsert", rows.num_rows - last.num_rows)
    keep = pc.sort_indices(last.column("__i_max"))
    return rows.take(pc.take(last.column("__i_max"), keep))


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
            col = pc.cast(pc.cast(col, TS_TYPE), pa.string())
        parts.append(col)
    return pc.binary_join_element_wise(*parts, "|")
