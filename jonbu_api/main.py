"""The app factory: :func:`create_app`.

The lifespan opens what the routes share — the store, the event bus (and the
one fan-out hub subscribed to it), the rate limiter and the API key store — and
closes them in reverse order. Whatever the caller passes in (``jonbu-ohlcv up``
passes its store, bus and the stream daemon's ``status``) is used as it is and
left open for the caller to close.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry

from jonbu_api import __version__
from jonbu_api.auth import KeyStore
from jonbu_api.errors import install_error_handlers
from jonbu_api.hub import Hub, HubOptions
from jonbu_api.keystore import close_key_store, open_key_store
from jonbu_api.metrics import ApiMetrics
from jonbu_api.middleware import ObservabilityMiddleware, install_log_redaction
from jonbu_api.ratelimit import RateLimiter, open_rate_limiter
from jonbu_api.reload import Reloader, ReloadHook
from jonbu_api.routers import (
    admin,
    console,
    enriched,
    health,
    logs,
    narrative,
    ohlcv,
    rag,
    stream,
    symbols,
    ws,
)
from jonbu_api.state import AppState
from jonbu_api.static import default_dist, mount_frontend
from jonbu_api.warmup import rag_enabled
from jonbu_core.bus.base import EventBus
from jonbu_core.bus.factory import open_bus
from jonbu_core.rag.embedder import warm as warm_embedder
from jonbu_core.settings import Settings, get_settings
from jonbu_core.stores.base import BarStore

logger = logging.getLogger(__name__)

DESCRIPTION = """\
OHLCV candles of stored history and of the live stream, enriched on demand, with
narratives and semantic search over them.

* Errors are `{"error": {"code", "message"}}` with a 4xx status.
* With auth on, send `X-API-Key: <key>` or `Authorization: Bearer <key>`
  (`jonbu-ohlcv keys create NAME`); admin routes need an admin key.
* Past the rate limit the answer is 429 with `Retry-After`.
* Live candles: WebSocket `/ws` (`{"action": "subscribe", "symbols", "timeframes"}`)
  and `/ws/ohlcv/{symbol}?timeframes=1m,5m`.
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(
    settings: Settings | None = None,
    *,
    store: BarStore | None = None,
    bus: EventBus | None = None,
    stream_status: Callable[[], Any] | None = None,
    keys: KeyStore | None = None,
    limiter: RateLimiter | None = None,
    hub_options: HubOptions | None = None,
    frontend_dist: Path | None = None,
    auth_default: bool = True,
    warm_rag: bool | None = None,
    on_reload: ReloadHook | None = None,
    extra_metrics: Sequence[CollectorRegistry] = (),
) -> FastAPI:
    """Build the FastAPI app.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :func:`jonbu_core.settings.get_settings`.
    store : BarStore, optional
        An open store to use (left open); else one is opened from settings and closed.
    bus : EventBus, optional
        A started bus to use (left open); else one is opened, started and closed.
    stream_status : callable, optional
        The in-process stream daemon's ``status()`` (sync or async); without it the
        stats the daemon publishes on the bus are served.
    keys : KeyStore, optional
        API keys (left open); default :func:`jonbu_api.keystore.open_key_store`: the
        ``api_keys`` table with ``JONBU_STORE=postgres``, else ``$JONBU_DATA_DIR/api_keys.json``.
    limiter : RateLimiter, optional
        Rate limiter (default from ``JONBU_RATE_LIMIT`` and its backend).
    hub_options : HubOptions, optional
        WebSocket queue bounds and heartbeat timing.
    frontend_dist : Path, optional
        The dashboard build to serve at ``/`` (default ``frontend/dist`` when present).
    auth_default : bool
        Whether API keys are required when ``JONBU_AUTH`` is unset.
    warm_rag : bool, optional
        Load the RAG embedder in a background thread at startup (never waited for);
        default: when narratives were exported (``$JONBU_DATA_DIR/lancedb`` exists).
    on_reload : callable, optional
        Called after a configuration reload (``SIGHUP`` or ``POST /api/v1/admin/reload``)
        was applied to the API, e.g. the in-process stream daemon's reload.
    extra_metrics : sequence of CollectorRegistry
        More Prometheus registries served at ``/metrics`` (the in-process stream daemon's).

    Returns
    -------
    FastAPI
    """
    settings = settings or get_settings()
    install_log_redaction()
    metrics = ApiMetrics()
    for registry in extra_metrics:
        metrics.include(registry)
    auth_enabled = settings.auth_enabled(default=auth_default)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        own_bus = bus is None
        if own_store:
            from jonbu_core.stores.factory import open_store

            the_store: BarStore = await anyio.to_thread.run_sync(open_store, settings)
        else:
            assert store is not None
            the_store = store
        the_bus = bus if bus is not None else open_bus(settings)
        the_limiter = limiter or open_rate_limiter(settings)
        hub = Hub(the_bus, metrics, hub_options)
        the_keys: KeyStore | None = keys
        if warm_rag or (warm_rag is None and rag_enabled(settings)):
            app.state.jonbu_rag_warmup = warm_embedder(settings)
        try:
            if the_keys is None:
                the_keys = await anyio.to_thread.run_sync(open_key_store, settings)
            if own_bus:
                await the_bus.start()
            await hub.start()
            app.state.jonbu = AppState(
                settings=settings, store=the_store, bus=the_bus, hub=hub,
                keys=the_keys, limiter=the_limiter,
                metrics=metrics, auth_enabled=auth_enabled, stream_status=stream_status,
            )
            reloader = Reloader(on_reload, own_limiter=limiter is None)
            app.state.jonbu_reloader = reloader
            reloader.install_sighup(app.state.jonbu)
            logger.info(
                "API ready: store=%s bus=%s auth=%s rate_limit=%s (%s)", the_store.name, the_bus.name,
                "on" if auth_enabled else "off", settings.rate_limit, the_limiter.name,
            )
            yield
        finally:
            if getattr(app.state, "jonbu_reloader", None) is not None:
                app.state.jonbu_reloader.remove_sighup()
            await hub.stop()
            jonbu_state = getattr(app.state, "jonbu", None)
            await (jonbu_state.limiter if jonbu_state is not None else the_limiter).close()
            if own_bus:
                await the_bus.close()
            if keys is None and the_keys is not None:
                close_key_store(the_keys)
            if own_store:
                the_store.close()

    app = FastAPI(
        title="jonbu-ohlcv",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        openapi_tags=[
            {"name": "health", "description": "Health and metrics (no key needed)."},
            {"name": "symbols", "description": "The symbol registry."},
            {"name": "ohlcv", "description": "Latest candles and history."},
            {"name": "enriched", "description": "Indicators, patterns and context, on demand."},
            {"name": "narrative", "description": "Narratives of candles."},
            {"name": "rag", "description": "Semantic search over exported narratives."},
            {"name": "stream", "description": "Streaming statistics."},
            {"name": "console", "description": "Whitelisted operations for the dashboard (admin)."},
            {"name": "admin", "description": "API keys and the quarantine (admin)."},
        ],
    )
    install_error_handlers(app)
    for module in (health, symbols, ohlcv, enriched, narrative, rag, stream, console, admin, logs, ws):
        app.include_router(module.router)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "X-Request-ID", "If-None-Match"],
            expose_headers=["X-Request-ID", "Retry-After", "ETag", "X-Next-Cursor", "Content-Disposition"],
            max_age=600,
        )
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    mount_frontend(app, frontend_dist or default_dist())
    return app
