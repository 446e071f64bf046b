"""``GET /api/v1/health`` (per-component status) and ``GET /metrics`` (Prometheus); no auth."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from jonbu_api import __version__
from jonbu_api.deps import StateDep
from jonbu_api.schemas import ComponentStatus, HealthOut

router = APIRouter(tags=["health"])

_TIMEOUT = 3.0


def _comp(status: str, **extra: Any) -> ComponentStatus:
    return ComponentStatus.model_validate({"status": status, **extra})


async def _store_status(state: Any) -> ComponentStatus:
    t0 = time.perf_counter()
    try:
        symbols = await asyncio.wait_for(state.run_store("health", state.store.list_symbols), _TIMEOUT)
    except TimeoutError:
        return _comp("down", detail=f"no answer within {_TIMEOUT:.0f}s", backend=state.store.name)
    except Exception as exc:
        return _comp("down", detail=str(exc)[:300], backend=state.store.name)
    return _comp(
        "ok", backend=state.store.name, symbols=len(symbols), latency_ms=round((time.perf_counter() - t0) * 1000, 2)
    )


async def _bus_status(state: Any) -> ComponentStatus:
    try:
        await asyncio.wait_for(state.bus.get_stats(), _TIMEOUT)
    except Exception as exc:
        return _comp("down", detail=str(exc)[:300] or type(exc).__name__, backend=state.bus.name)
    return _comp("ok", backend=state.bus.name)


async def _stream_status(state: Any) -> ComponentStatus:
    source, stats = await state.stream_state()
    if stats is None:
        return _comp("off", detail="no streaming daemon reports to this API", source=source)
    if stats.get("error") and stats.get("status") not in ("ok", "degraded", "down"):
        return _comp("degraded", detail=str(stats["error"])[:300], source=source)
    running = stats.get("running", True)
    raw = stats.get("status")
    status = raw if raw in ("ok", "degraded", "down") else ("ok" if running else "down")
    extra = {k: v for k, v in stats.items() if k not in ("status", "source", "detail")}
    detail = str(stats["error"])[:300] if stats.get("error") else None
    return _comp(status, source=source, detail=detail, **extra)


async def compute_health(state: Any) -> HealthOut:
    """The health document of an app's state."""
    store, bus, stream = await asyncio.gather(_store_status(state), _bus_status(state), _stream_status(state))
    components = {
        "store": store,
        "bus": bus,
        "stream": stream,
        "ws": _comp("ok", **state.hub.stats()),
        "auth": _comp(
            "ok", enabled=state.auth_enabled, rate_limit=state.settings.rate_limit, rate_limiter=state.limiter.name
        ),
    }
    if store.status == "down":
        overall = "down"
    elif bus.status == "down" or stream.status in ("degraded", "down"):
        overall = "degraded"
    else:
        overall = "ok"
    return HealthOut.model_validate(
        {"status": overall, "components": components, "version": __version__,
         "uptime_s": round(time.time() - state.started_at, 3)}
    )


@router.get(
    "/api/v1/health",
    response_model=HealthOut,
    summary="Service health",
    responses={503: {"model": HealthOut, "description": "The store is down."}},
)
async def get_health(state: StateDep) -> Response:
    """Per-component status: store, bus, stream, WebSocket hub and auth (no key needed).

    ``status`` is ``down`` (HTTP 503) when the store is down, ``degraded`` when the bus
    or the stream report trouble, else ``ok``. A stream that is not running is ``off``
    and does not degrade the service.
    """
    out = await compute_health(state)
    overall = out.status
    return Response(
        out.model_dump_json(), status_code=503 if overall == "down" else 200,
        media_type="application/json", headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Text format 0.0.4."}},
)
async def get_metrics(state: StateDep) -> Response:
    """Request latency per route, WebSocket clients and messages, store query time (no key needed)."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
