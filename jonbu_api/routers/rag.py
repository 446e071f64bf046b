"""``GET /api/v1/rag/search``: semantic search over the exported narratives."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from jonbu_api.deps import DateQuery, ReadAccess, SettingsDep, StateDep, SymbolQuery
from jonbu_api.errors import UnavailableError, error_responses
from jonbu_api.schemas import SearchOut, SearchResultOut, TimeframeName

router = APIRouter(prefix="/api/v1/rag", tags=["rag"])


@router.get("/search", response_model=SearchOut, summary="Semantic search", responses=error_responses(401, 422, 429, 503))
async def rag_search(
    _: ReadAccess,
    state: StateDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="What to look for.")],
    symbol: SymbolQuery = None,
    timeframe: Annotated[TimeframeName | None, Query(description="Only this timeframe.")] = None,
    start: DateQuery = None,
    end: DateQuery = None,
    k: Annotated[int, Query(ge=1, le=100, description="Number of results.")] = 10,
) -> SearchOut:
    """Hybrid (vector + full-text) search over narratives exported with
    ``jonbu-ohlcv export rag``; empty when nothing has been exported yet.
    """
    try:
        from jonbu_core.rag.search import search
    except ImportError as exc:
        raise UnavailableError(f"RAG search is not available in this build ({exc})") from exc
    hits = await state.run_blocking(
        search, settings, q, symbol=symbol.upper() if symbol else None, timeframe=timeframe,
        start=start, end=end, k=k,
    )
    return SearchOut(
        results=[
            SearchResultOut(**{k: v for k, v in h.model_dump(mode="json").items() if k in SearchResultOut.model_fields})
            for h in hits
        ]
    )
