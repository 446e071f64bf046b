"""Hybrid semantic search over exported narratives.

A query is embedded with the export's model and run twice against the RAG store,
both under the same filters (symbol, timeframe, time range):

* vector search: cosine similarity of the query to each narrative;
* full-text search: BM25 over the narrative text (stemmed, stop words removed).

The candidate lists are merged by key and scored

``score = VECTOR_WEIGHT * cosine + TEXT_WEIGHT * bm25 / best_bm25``

so a narrative that is both semantically close and uses the query's words ranks
first. Full-text hits are scored against the query vector exactly (their vectors
come with them); a vector hit outside the full-text candidates gets no text score.
Ties break by key, so results are deterministic.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from jonbu_core.errors import InvalidInputError
from jonbu_core.models import normalize_symbol
from jonbu_core.rag.base import RagStore, SearchFilter
from jonbu_core.rag.models import SearchResult
from jonbu_core.timeframe import parse_timeframe
from jonbu_core.timeutil import parse_end, parse_start

if TYPE_CHECKING:
    from jonbu_core.rag.embedder import Embedder
    from jonbu_core.settings import Settings

logger = logging.getLogger(__name__)

VECTOR_WEIGHT = 0.6
TEXT_WEIGHT = 0.4
MAX_K = 200
MAX_QUERY_CHARS = 1000
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rag-fts")


def _candidates(k: int) -> int:
    return min(1000, max(4 * k, 50))


def make_filter(
    symbol: str | None = None,
    timeframe: str | None = None,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
) -> SearchFilter:
    """Validate user filters into a :class:`SearchFilter`.

    Dates follow :mod:`jonbu_core.timeutil`: a date ``end`` includes that whole day.

    Raises
    ------
    InvalidInputError
        For a bad symbol, timeframe or range.
    """
    s = parse_start(start) if start is not None else None
    e = parse_end(end) if end is not None else None
    if s is not None and e is not None and s >= e:
        raise InvalidInputError(f"start ({s.isoformat()}) must be before end ({e.isoformat()})")
    return SearchFilter(
        symbol=normalize_symbol(symbol) if symbol else None,
        timeframe=parse_timeframe(timeframe).name if timeframe else None,
        start=s,
        end=e,
    )


def hybrid_search(
    store: RagStore,
    embedder: Embedder,
    q: str,
    flt: SearchFilter,
    k: int = 10,
) -> list[SearchResult]:
    """Hybrid vector + full-text search with explicit dependencies.

    Parameters
    ----------
    store : RagStore
        Where the narratives are.
    embedder : Embedder
        The model that embedded them (same dimension).
    q : str
        The query.
    flt : SearchFilter
        Filters applied to both searches before ranking.
    k : int
        Results wanted.

    Returns
    -------
    list of SearchResult
        At most ``k`` hits, best first.
    """
    query = " ".join(str(q).split())
    if not query:
        raise InvalidInputError("empty search query")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"search query too long ({len(query)} > {MAX_QUERY_CHARS} characters)")
    if not 1 <= k <= MAX_K:
        raise InvalidInputError(f"k must be between 1 and {MAX_K} (got {k})")
    dim = store.dimension()
    if dim is None:
        return []
    if dim != embedder.dimension:
        raise InvalidInputError(
            f"the RAG table holds {dim}-d vectors but the configured model makes "
            f"{embedder.dimension}-d ones"
        )
    n = _candidates(k)
    # the full-text search needs no vector: it runs while the query is embedded
    text_future = _POOL.submit(store.text_search, query, flt, n, with_vector=True)
    try:
        qvec = embedder.embed_query(query)
        vec_rows = store.vector_search(qvec, flt, n).to_pylist()
    finally:
        txt = text_future.result()
    hits: dict[tuple[str, str, Any], dict[str, Any]] = {}

    for row in vec_rows:
        key = (row["symbol"], row["timeframe"], row["ts"])
        sim = max(0.0, min(1.0, 1.0 - float(row["_distance"])))
        hits[key] = {"row": row, "vector": sim, "text": None}

    if txt.num_rows:
        scores = np.asarray(txt.column("_score").to_numpy(zero_copy_only=False), dtype=np.float64)
        best = float(scores.max()) if scores.size else 0.0
        vecs = np.asarray(txt.column("vector").combine_chunks().flatten().to_numpy(), dtype=np.float32)
        sims = vecs.reshape(txt.num_rows, -1) @ qvec.astype(np.float32)
        for i, row in enumerate(txt.drop_columns(["vector"]).to_pylist()):
            key = (row["symbol"], row["timeframe"], row["ts"])
            tscore = float(scores[i]) / best if best > 0 else 0.0
            entry = hits.get(key)
            if entry is None:
                sim = max(0.0, min(1.0, float(sims[i])))
                hits[key] = {"row": row, "vector": sim, "text": tscore}
            else:
                entry["text"] = tscore

    ranked = sorted(
        hits.items(),
        key=lambda kv: (
            -(VECTOR_WEIGHT * (kv[1]["vector"] or 0.0) + TEXT_WEIGHT * (kv[1]["text"] or 0.0)),
            kv[0],
        ),
    )
    out: list[SearchResult] = []
    for (symbol, timeframe, ts), h in ranked[:k]:
        score = VECTOR_WEIGHT * (h["vector"] or 0.0) + TEXT_WEIGHT * (h["text"] or 0.0)
        out.append(
            SearchResult(
                symbol=symbol,
                timeframe=timeframe,
                ts=ts,
                text=h["row"]["text"],
                score=round(score, 6),
                vector_score=None if h["vector"] is None else round(h["vector"], 6),
                text_score=None if h["text"] is None else round(h["text"], 6),
            )
        )
    return out


def search(
    settings: Settings,
    q: str,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    k: int = 10,
) -> list[SearchResult]:
    """Semantic search over the narratives exported to LanceDB.

    Parameters
    ----------
    settings : Settings
        Supplies the LanceDB directory and the embedding model options.
    q : str
        What to look for, e.g. ``"hammer reversal with oversold RSI"``.
    symbol, timeframe : str, optional
        Filters.
    start, end : str, date or datetime, optional
        Time filter on the candle's open time (``end`` exclusive; a date includes the day).
    k : int
        Number of results (1-200).

    Returns
    -------
    list of SearchResult
        Best first; empty when nothing has been exported yet.

    Raises
    ------
    InvalidInputError
        For an empty query, a bad filter or ``k`` out of range.
    """
    from jonbu_core.rag.embedder import get_embedder
    from jonbu_core.rag.factory import open_rag_store

    flt = make_filter(symbol, timeframe, start, end)
    store = open_rag_store(settings)
    if store.dimension() is None:
        if not str(q).strip():
            raise InvalidInputError("empty search query")
        return []
    return hybrid_search(store, get_embedder(settings), q, flt, k)
