"""``GET /api/v1/ohlcv/{symbol}/enriched``: indicators, patterns and context, on demand."""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from jonbu_api.deps import (
    MAX_ENRICH_SPAN,
    DateQuery,
    ReadAccess,
    StateDep,
    SymbolPath,
    TimeframeQuery,
    resolve_range,
)
from jonbu_api.errors import UnavailableError, error_responses
from jonbu_api.schemas import EnrichedOut
from jonbu_api.state import AppState

router = APIRouter(prefix="/api/v1/ohlcv", tags=["enriched"])


def enrich_module() -> Any:
    """The enrichment service (``jonbu_core.enrich.service``), or 503 when it is not installed."""
    try:
        return importlib.import_module("jonbu_core.enrich.service")
    except ImportError as exc:
        raise UnavailableError(f"enrichment is not available in this build ({exc})") from exc


async def enriched_candles(
    state: AppState, symbol: str, timeframe: str, start: Any, end: Any, indicators: str | None, cacheable: bool
) -> list[Any]:
    """Enriched candles (``EnrichedCandle`` models) of ``[start, end)``; closed windows are cached."""
    service = enrich_module()
    key = (symbol, timeframe, start, end, indicators)
    if cacheable:
        hit = state.enrich_cache.get(key)
        if hit is not None:
            out: list[Any] = hit
            return out

    def run() -> list[Any]:
        with state.metrics.store_timer("enrich_range"):
            return list(service.enrich_range(state.store, symbol, timeframe, start, end, indicators))

    result = await state.run_blocking(run)
    if cacheable:
        state.enrich_cache.put(key, result)
    return result


@router.get(
    "/{symbol}/enriched",
    response_model=EnrichedOut,
    summary="Enriched candles",
    responses=error_responses(401, 422, 429, 503),
)
async def get_enriched(
    symbol: SymbolPath,
    _: ReadAccess,
    state: StateDep,
    timeframe: TimeframeQuery = "1d",
    start: DateQuery = None,
    end: DateQuery = None,
    indicators: Annotated[
        str | None,
        Query(
            max_length=500,
            description="Indicators to compute, e.g. `rsi:14,ema:50,macd` (default: the standard set).",
        ),
    ] = None,
) -> Response:
    """Candles of ``[start, end)`` with indicators, candlestick and chart patterns, market
    context, ML features in [0, 1] and a confidence score, computed on demand (never stored).

    ``end`` defaults to now and ``start`` to ``end`` minus the longest span allowed (1m: 31
    days, 5m: 93 days, 15m: 183 days, 30m: 1 year, 1h: 2 years, 4h: 5 years, 1d: 30 years).
    Values inside an indicator's warm-up are null.
    """
    rng = resolve_range(timeframe, start, end, MAX_ENRICH_SPAN)
    if indicators is not None:
        importlib.import_module("jonbu_core.enrich").parse_indicator_spec(indicators)
    closed = rng.closed(timeframe, state.settings.allowed_lateness_seconds)
    candles = await enriched_candles(state, symbol, timeframe, rng.start, rng.end, indicators, closed)

    def dump() -> bytes:
        rows = [c.model_dump(mode="json") for c in candles]
        return orjson.dumps({"symbol": symbol, "timeframe": timeframe, "candles": rows})

    body = await state.run_blocking(dump)
    return Response(
        body, media_type="application/json",
        headers={"Cache-Control": "private, max-age=300" if closed else "no-cache"},
    )
