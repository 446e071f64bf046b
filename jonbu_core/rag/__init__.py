"""RAG exports: embeddings of candle narratives in LanceDB, hybrid search, training sets.

* :mod:`jonbu_core.rag.embedder` — sentence-transformers (all-MiniLM-L6-v2, offline).
* :mod:`jonbu_core.rag.lancedb_store` — the table of RAG-ready candles (``merge_insert``).
* :mod:`jonbu_core.rag.search` — :func:`~jonbu_core.rag.search.search` (vector + full text).
* :mod:`jonbu_core.rag.export` — :func:`~jonbu_core.rag.export.export_rag` (bars → LanceDB).
* :mod:`jonbu_core.rag.training` — feature/target Parquet datasets for model training.

Heavy libraries (torch, lancedb) are imported only when used.
"""

from __future__ import annotations

from jonbu_core.rag.base import TABLE_NAME, RagStore, SearchFilter
from jonbu_core.rag.models import ExportSummary, SearchResult

__all__ = ["TABLE_NAME", "ExportSummary", "RagStore", "SearchFilter", "SearchResult"]
