"""What the app's lifespan opens and every request shares."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from jonbu_api.auth import KeyStore
from jonbu_api.hub import Hub
from jonbu_api.metrics import ApiMetrics
from jonbu_api.ratelimit import RateLimiter
from jonbu_core.bus.base import EventBus
from jonbu_core.settings import Settings
from jonbu_core.stores.base import BarStore

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TTLCache:
    """A small LRU cache whose entries expire (for recent enriched windows, latest bars)."""

    def __init__(self, maxsize: int, ttl: float) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any) -> Any | None:
        """The cached value, or ``None`` when missing or expired."""
        hit = self._data.get(key)
        if hit is None:
            return None
        t, value = hit
        if time.monotonic() - t > self.ttl:
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        """Store a value (evicting the least recently used past ``maxsize``)."""
        self._data[key] = (time.monotonic(), value)
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()


@dataclass
class AppState:
    """Shared by the routes of one app (``app.state.jonbu``)."""

    settings: Settings
    store: BarStore
    bus: EventBus
    hub: Hub
    keys: KeyStore
    limiter: RateLimiter
    metrics: ApiMetrics
    auth_enabled: bool
    stream_status: Callable[[], Any] | None = None
    started_at: float = field(default_factory=time.time)
    store_threads: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(8))
    latest_cache: TTLCache = field(default_factory=lambda: TTLCache(4096, 1.0))
    enrich_cache: TTLCache = field(default_factory=lambda: TTLCache(64, 300.0))
    inflight: dict[Any, asyncio.Future[Any]] = field(default_factory=dict)
    """Store reads in progress, shared by concurrent requests for the same thing."""

    async def run_store(self, op: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call in a worker thread, timed as ``op``."""

        def call() -> T:
            with self.metrics.store_timer(op):
                return fn(*args, **kwargs)

        return await anyio.to_thread.run_sync(call, limiter=self.store_threads)

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run any other blocking call (enrichment, search) in a worker thread."""
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def stream_state(self) -> tuple[str, dict[str, Any] | None]:
        """``(source, status)`` of the streaming daemon: in-process, over the bus, or none."""
        if self.stream_status is not None:
            try:
                value = self.stream_status()
                if inspect.isawaitable(value):
                    value = await value
                return "in-process", _as_dict(value)
            except Exception as exc:
                logger.warning("stream status failed: %s", exc)
                return "in-process", {"status": "degraded", "running": False, "error": str(exc)}
        try:
            stats = await self.bus.get_stats()
        except Exception as exc:
            logger.warning("bus stats failed: %s", exc)
            return "none", None
        return ("bus", stats) if stats is not None else ("none", None)


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        out = dump(mode="json")
        return out if isinstance(out, dict) else {"status": out}
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    return {"status": str(value)}
