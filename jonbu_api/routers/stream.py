"""``GET /api/v1/stream/stats``: the streaming daemon's status and this process's fan-out."""

from __future__ import annotations

from fastapi import APIRouter

from jonbu_api.deps import ReadAccess, StateDep
from jonbu_api.errors import error_responses
from jonbu_api.schemas import StreamStatsOut, WsStats

router = APIRouter(prefix="/api/v1/stream", tags=["stream"])


@router.get("/stats", response_model=StreamStatsOut, summary="Stream statistics", responses=error_responses(401, 429))
async def get_stream_stats(_: ReadAccess, state: StateDep) -> StreamStatsOut:
    """Live throughput, lag and feed state of the streaming daemon (in this process, or as
    published on the bus by a separate one), plus this API's WebSocket clients and messages.
    """
    source, stats = await state.stream_state()
    running = stats is not None and bool(stats.get("running", True)) and not stats.get("error")
    return StreamStatsOut(
        running=running, source=source if source != "none" else "none", stream=stats,  # type: ignore[arg-type]
        ws=WsStats(**state.hub.stats()), bus=state.bus.name,
    )
