"""``GET /api/v1/ohlcv/{symbol}/narrative``: the narrative of one candle."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from jonbu_api.deps import DateQuery, ReadAccess, StateDep, SymbolPath, TimeframeQuery
from jonbu_api.errors import UnavailableError, error_responses
from jonbu_api.routers.enriched import enriched_candles
from jonbu_api.schemas import NarrativeFormat, NarrativeOut
from jonbu_core.errors import NotFoundError
from jonbu_core.models import Bar, iso_z
from jonbu_core.timeframe import parse_timeframe
from jonbu_core.timeutil import parse_start

router = APIRouter(prefix="/api/v1/ohlcv", tags=["narrative"])

_MEDIA = {"text": "text/plain; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}


@router.get(
    "/{symbol}/narrative",
    response_model=NarrativeOut,
    summary="Narrative of one candle",
    responses={
        200: {
            "description": "The narrative: JSON for `format=json`, else text or Markdown.",
            "content": {"text/plain": {"schema": {"type": "string"}}, "text/markdown": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 404, 422, 429, 503),
    },
)
async def get_narrative(
    symbol: SymbolPath,
    _: ReadAccess,
    state: StateDep,
    timeframe: TimeframeQuery = "1d",
    at: DateQuery = None,
    format: Annotated[NarrativeFormat, Query(description="Answer format.")] = "text",
) -> Response:
    """The narrative (text, Markdown or JSON) of the candle that contains ``at``.

    Without ``at``, the latest stored candle. 404 when there is no such candle.
    """
    try:
        from jonbu_core.narrative import narrate
    except ImportError as exc:
        raise UnavailableError(f"narratives are not available in this build ({exc})") from exc
    tf = parse_timeframe(timeframe)
    if at is None:
        bar: Bar | None = await state.run_store("latest_bar", state.store.latest_bar, symbol, timeframe)
        if bar is None:
            raise NotFoundError(f"no {timeframe} bars stored for {symbol}")
        label: datetime = bar.ts
    else:
        label = tf.bucket(parse_start(at))
    candles = await enriched_candles(state, symbol, timeframe, label, tf.next_open(label), None, True)
    wanted = iso_z(label)
    match = [c for c in candles if _ts_of(c) == label]
    if not match:
        raise NotFoundError(f"no {timeframe} candle of {symbol} at {wanted}")
    enriched = match[-1]
    result: Any = await state.run_blocking(narrate, enriched, symbol, timeframe, format)
    if format == "json":
        doc = dict(result) if isinstance(result, dict) else {"text": str(result)}
        doc.setdefault("symbol", symbol)
        doc.setdefault("timeframe", timeframe)
        doc.setdefault("ts", wanted)
        return Response(orjson.dumps(doc), media_type="application/json")
    return Response(str(result), media_type=_MEDIA[format])


def _ts_of(candle: Any) -> datetime | None:
    ohlcv = getattr(candle, "ohlcv", None)
    ts = getattr(ohlcv, "ts", None)
    return ts if isinstance(ts, datetime) else None
