"""The ``RagStore`` port: a table of RAG-ready candles with vector and full-text search.

One backend: :mod:`jonbu_core.rag.lancedb_store` (LanceDB under
``$JONBU_DATA_DIR/lancedb``); :func:`jonbu_core.rag.factory.open_rag_store` opens it.

Semantics every backend keeps
-----------------------------
* Key ``(symbol, timeframe, ts)``; :meth:`RagStore.upsert` replaces rows with the same
  key (a re-export never duplicates) and may run in several processes at once, even
  on the same keys.
* Rows follow :func:`rag_schema`; the vector length is fixed when the table is created.
* Searches take a :class:`SearchFilter`; results carry the key, the narrative text and
  a raw score (cosine distance for vectors, BM25 for text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from jonbu_core.models import TS_TYPE

#: Name of the LanceDB table of RAG-ready candles.
TABLE_NAME = "rag_candles"
#: The key of a row.
KEY_COLUMNS: tuple[str, ...] = ("symbol", "timeframe", "ts")
#: The key as one string column, ``AAPL|15m|2024-01-02 14:30:00.000000Z`` (the table's
#: primary key: ``merge_insert`` joins on it and detects concurrent writes of a key).
ROW_KEY = "key"


def rag_schema(dimension: int) -> pa.Schema:
    """The columns of the RAG table for vectors of length ``dimension``.

    Parameters
    ----------
    dimension : int
        Embedding length (384 for all-MiniLM-L6-v2).

    Returns
    -------
    pyarrow.Schema
        Key, narrative fields, scalar filter columns and the vector. (The Markdown form
        of a narrative is not stored here; the narrative Parquet files and
        :func:`jonbu_core.narrative.narrate` have it.)
    """
    return pa.schema(
        [
            pa.field(ROW_KEY, pa.string(), nullable=False),
            pa.field("symbol", pa.string(), nullable=False),
            pa.field("timeframe", pa.string(), nullable=False),
            pa.field("ts", TS_TYPE, nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("summary", pa.string()),
            pa.field("pattern_explanation", pa.string()),
            pa.field("keywords", pa.list_(pa.string())),
            pa.field("patterns", pa.list_(pa.string())),
            pa.field("regime", pa.string()),
            pa.field("trend", pa.string()),
            pa.field("rsi_state", pa.string()),
            pa.field("rsi_14", pa.float64()),
            pa.field("change_pct", pa.float64()),
            pa.field("open", pa.float64()),
            pa.field("high", pa.float64()),
            pa.field("low", pa.float64()),
            pa.field("close", pa.float64()),
            pa.field("volume", pa.float64()),
            pa.field("confidence", pa.float64()),
            pa.field("model", pa.string()),
            pa.field("exported_at", TS_TYPE),
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
        ]
    )


@dataclass(frozen=True)
class SearchFilter:
    """Filters of a search (all optional; ``start`` inclusive, ``end`` exclusive)."""

    symbol: str | None = None
    timeframe: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    symbols: tuple[str, ...] = ()
    """Several symbols (OR); combined with ``symbol`` when both are given."""


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did."""

    inserted: int
    updated: int
    attempts: int = 1
    seconds: float = 0.0
    appended: bool = False
    """``True`` when no key was stored yet and the rows were simply appended."""


@dataclass
class IndexReport:
    """Index work done by :meth:`RagStore.ensure_indexes`."""

    actions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@runtime_checkable
class RagStore(Protocol):
    """Storage and search of RAG-ready candles."""

    def dimension(self) -> int | None:
        """The table's vector length, ``None`` when the table does not exist yet."""
        ...

    def upsert(self, rows: pa.Table) -> UpsertResult:
        """Insert or replace rows (key ``(symbol, timeframe, ts)``)."""
        ...

    def count(self, flt: SearchFilter | None = None) -> int:
        """Rows matching ``flt`` (all rows when ``None``)."""
        ...

    def duplicate_keys(self, flt: SearchFilter | None = None) -> int:
        """Keys that occur more than once (should always be 0)."""
        ...

    def read(self, flt: SearchFilter | None = None, columns: list[str] | None = None) -> pa.Table:
        """Rows matching ``flt`` (ascending by symbol, timeframe, ts)."""
        ...

    def ensure_indexes(self) -> IndexReport:
        """Create or refresh the scalar, full-text and (when large enough) vector indexes."""
        ...

    def vector_search(
        self, vector: npt.NDArray[np.float32], flt: SearchFilter, limit: int
    ) -> pa.Table:
        """Nearest rows by cosine distance (column ``_distance``), filtered."""
        ...

    def text_search(
        self, query: str, flt: SearchFilter, limit: int, *, with_vector: bool = False
    ) -> pa.Table:
        """Best BM25 matches of ``query`` in ``text`` (column ``_score``), filtered."""
        ...
