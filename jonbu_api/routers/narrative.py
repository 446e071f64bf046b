"""``GET /api/v1/ohlcv/{symbol}/narrative``: the narrative of one candle."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from jonbu_api.deps import DateQuery, ReadAccess, StateDep, SymbolPath, TimeframeQuery
from jonbu_api.errors import UnavailableError, error_responses
from jonbu_api.schemas import NarrativeFormat, NarrativeOut
from jonbu_core.models import iso_z

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
            "headers": {
                "X-Candle-Ts": {"description": "Open time of the narrated candle.", "schema": {"type": "string"}},
                "X-Candle-Exact": {"description": "`false` when it is the last candle before `at`.",
                                   "schema": {"type": "string", "enum": ["true", "false"]}},
            },
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
    """The narrative (text, Markdown or JSON) of the candle whose interval contains ``at``
    (a date means the start of that exchange day), or of the last candle before it;
    without ``at``, of the latest stored candle. The change is measured from the previous
    close. ``X-Candle-Ts`` names the candle; ``X-Candle-Exact: false`` says it is the last
    one before ``at``. 404 when no candle is stored at or before ``at``.
    """
    try:
        from jonbu_core.narrative.service import narrative_at
    except ImportError as exc:
        raise UnavailableError(f"narratives are not available in this build ({exc})") from exc

    def run() -> tuple[Any, Any, bool]:
        with state.metrics.store_timer("narrative_at"):
            return narrative_at(state.store, symbol, timeframe, at, format)

    candle, result, exact = await state.run_blocking(run)
    ts = iso_z(candle.ohlcv.ts)
    headers = {"X-Candle-Ts": ts, "X-Candle-Exact": "true" if exact else "false"}
    if format == "json":
        doc = dict(result) if isinstance(result, dict) else {"text": str(result)}
        doc.update({"symbol": symbol, "timeframe": timeframe, "ts": ts, "exact": exact})
        return Response(orjson.dumps(doc), media_type="application/json", headers=headers)
    return Response(str(result), media_type=_MEDIA[format], headers=headers)
