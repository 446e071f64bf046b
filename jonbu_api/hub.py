"""The WebSocket fan-out hub: one per process, fed by ``bus.subscribe()``.

Every event is serialised once and offered to the clients subscribed to its
(symbol, timeframe). Offering never awaits: each client has its own bounded
queue drained by its own writer task, so a slow client never slows the others.

Per-client queue
----------------
* A *partial* update replaces the client's still-unsent partial of the same key
  in place (conflation: the client gets the latest partial, in order).
* A closed bar or revision is always queued and makes an unsent partial of the
  same key redundant (it is dropped).
* A client whose queue holds more than ``max_pending`` items, or whose oldest
  item waits longer than ``max_lag`` seconds, is disconnected with close code
  1013 (*try again later*).
* The hub sends ``{"type": "ping"}`` every ``ping_interval`` seconds; a client
  that sends nothing (a ``{"action": "pong"}`` will do) for ``idle_timeout``
  seconds is closed with code 4408.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.websockets import WebSocket

from jonbu_api.metrics import ApiMetrics
from jonbu_core.bus.base import CandleEvent, EventBus

logger = logging.getLogger(__name__)

Key = tuple[str, str]

CLOSE_TOO_SLOW = 1013
CLOSE_GOING_AWAY = 1001
CLOSE_IDLE = 4408
_YIELD_EVERY = 32

_LIVE_HUBS: weakref.WeakSet[Hub] = weakref.WeakSet()
"""The started hubs of this process (for :func:`going_away`)."""


async def going_away(timeout: float = 5.0) -> int:
    """Close every WebSocket client of every started hub of this process with 1001.

    Called by :class:`jonbu_api.server.Server` when the server begins to shut down, before
    uvicorn closes the remaining connections itself (with 1012). Returns how many clients
    were closed.
    """
    hubs = list(_LIVE_HUBS)
    counts = await asyncio.gather(*(h.going_away(timeout) for h in hubs), return_exceptions=True)
    return sum(c for c in counts if isinstance(c, int))


@dataclass(frozen=True)
class HubOptions:
    """Tuning of the hub (defaults suit a dashboard; the bench uses them too)."""

    max_pending: int = 512
    """Items a client may have queued before it is disconnected."""
    max_lag: float = 10.0
    """Seconds the oldest queued item may wait before the client is disconnected."""
    ping_interval: float = 20.0
    idle_timeout: float = 60.0
    """Seconds without any client message (pong included) before closing with 4408."""
    max_keys: int = 1000
    """Subscriptions one client may hold."""
    close_timeout: float = 30.0
    """Seconds to wait for a kicked client's buffer to drain so the close frame gets out."""


class _Item:
    __slots__ = ("key", "partial", "t", "text")

    def __init__(self, key: Key | None, partial: bool, text: str | None, t: float) -> None:
        self.key = key
        self.partial = partial
        self.text = text
        self.t = t


class Client:
    """One connected WebSocket and its queue."""

    __slots__ = (
        "closed", "closing", "hub", "keys", "last_recv", "name", "partials", "queue", "sent", "wake", "writer",
        "ws",
    )

    def __init__(self, hub: Hub, ws: WebSocket, name: str | None) -> None:
        self.hub = hub
        self.ws = ws
        self.name = name
        self.keys: set[Key] = set()
        self.queue: deque[_Item] = deque()
        self.partials: dict[Key, _Item] = {}
        self.wake = asyncio.Event()
        self.closed = False
        self.sent = 0
        self.last_recv = time.monotonic()
        self.writer: asyncio.Task[None] | None = None
        self.closing: asyncio.Task[None] | None = None
        """The background close of a client the hub dropped with a close code."""

    # ------------------------------------------------------------ enqueue
    def offer(self, key: Key, partial: bool, text: str, now: float) -> bool:
        """Queue an update; ``False`` when the client fell too far behind."""
        if partial:
            item = self.partials.get(key)
            if item is not None:
                item.text = text
                self.hub.count_conflated()
                return True
            item = _Item(key, True, text, now)
            self.partials[key] = item
        else:
            stale = self.partials.pop(key, None)
            if stale is not None:
                stale.text = None
                self.hub.count_conflated()
            item = _Item(key, False, text, now)
        q = self.queue
        q.append(item)
        if not self.wake.is_set():
            self.wake.set()
        opts = self.hub.options
        return not (len(q) > opts.max_pending or now - q[0].t > opts.max_lag)

    def send_control(self, message: dict[str, Any]) -> None:
        """Queue a control frame (ack, error, ping) behind the pending updates."""
        if self.closed:
            return
        self.queue.append(_Item(None, False, orjson.dumps(message).decode(), time.monotonic()))
        self.wake.set()

    # ------------------------------------------------------------- writer
    async def run_writer(self) -> None:
        """Drain the queue into the socket until the client is closed.

        A send that does not block does not yield to the event loop, so a long queue
        yields every :data:`_YIELD_EVERY` messages to keep the other clients' writers fair.
        """
        q = self.queue
        ws = self.ws
        hub = self.hub
        burst = 0
        try:
            while not self.closed:
                if not q:
                    burst = 0
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                item = q.popleft()
                if item.partial and item.key is not None and self.partials.get(item.key) is item:
                    del self.partials[item.key]
                if item.text is None:
                    continue
                await ws.send_text(item.text)
                self.sent += 1
                hub.sent += 1  # into jonbu_ws_messages_sent_total when metrics are rendered
                burst += 1
                if burst >= _YIELD_EVERY:
                    burst = 0
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send
            logger.debug("ws writer ended: %s", exc)
            self.hub.drop(self, "send_failed")

    async def close(self, code: int, reason: str, timeout: float) -> None:
        """Stop the writer and close the socket (bounded wait for a stuck peer)."""
        if self.writer is not None and self.writer is not asyncio.current_task():
            self.writer.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=code, reason=reason), timeout)


class Hub:
    """Fan-out of bus events to WebSocket clients.

    Parameters
    ----------
    bus : EventBus
        Source of events (one subscription for the whole process).
    metrics : ApiMetrics
        Where client counts and sent/dropped messages go.
    options : HubOptions, optional
        Queue bounds and heartbeat timing.
    """

    def __init__(self, bus: EventBus, metrics: ApiMetrics, options: HubOptions | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        self.options = options or HubOptions()
        self.clients: set[Client] = set()
        self.by_key: dict[Key, set[Client]] = {}
        self.events = 0
        self.conflated = 0
        self.kicked = 0
        self.sent = 0
        """Messages sent to clients since start, including clients gone since."""
        self.shutting_down = False
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._running = False
        self._conflated_metric = metrics.ws_dropped.labels("conflated")
        self._event_metrics: dict[str, Any] = {}
        self._sent_reported = 0
        metrics.before_render(self._sync_metrics)

    def _sync_metrics(self) -> None:
        """Add the messages sent since the last call to ``jonbu_ws_messages_sent_total``
        (one counter update per scrape instead of one per message)."""
        delta = self.sent - self._sent_reported
        if delta:
            self._sent_reported += delta
            self.metrics.ws_sent.inc(delta)

    def count_conflated(self) -> None:
        """Count a partial update replaced by a newer one before it was sent."""
        self.conflated += 1
        self._conflated_metric.inc()

    # ----------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Subscribe to the bus and start the heartbeat."""
        self._running = True
        self.shutting_down = False
        _LIVE_HUBS.add(self)
        self._tasks = [
            asyncio.create_task(self._consume(), name="ws-hub-consume"),
            asyncio.create_task(self._heartbeat(), name="ws-hub-heartbeat"),
        ]

    async def going_away(self, timeout: float = 5.0) -> int:
        """Close every client with 1001 (*going away*) and refuse new ones; wait up to ``timeout``.

        Returns how many clients were closed.
        """
        self.shutting_down = True
        clients = list(self.clients)
        for c in clients:
            self.drop(c, "shutdown", CLOSE_GOING_AWAY, "server shutting down", timeout=timeout)
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=timeout)
        return len(clients)

    async def stop(self) -> None:
        """Close every client (1001) and stop the tasks."""
        self._running = False
        self.shutting_down = True
        _LIVE_HUBS.discard(self)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        clients = list(self.clients)
        for c in clients:
            self.drop(c, "shutdown", CLOSE_GOING_AWAY, "server shutting down", timeout=2.0)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _consume(self) -> None:
        delay = 0.5
        while self._running:
            try:
                async for ev in self.bus.subscribe():
                    delay = 0.5
                    self.dispatch(ev)
                if not self._running:
                    return
                logger.info("bus subscription ended; resubscribing")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("bus subscription failed (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _heartbeat(self) -> None:
        opts = self.options
        while True:
            await asyncio.sleep(opts.ping_interval)
            now = time.monotonic()
            ping = {"type": "ping", "ts": time.time()}
            for c in list(self.clients):
                if now - c.last_recv > opts.idle_timeout:
                    self.drop(c, "idle", CLOSE_IDLE, "no message (pong) within the idle timeout")
                else:
                    c.send_control(ping)

    # ------------------------------------------------------------- fan-out
    def dispatch(self, ev: CandleEvent) -> int:
        """Offer one event to its subscribers; returns how many got it queued."""
        self.events += 1
        counter = self._event_metrics.get(ev.kind)
        if counter is None:
            counter = self._event_metrics[ev.kind] = self.metrics.bus_events.labels(ev.kind)
        counter.inc()
        subs = self.by_key.get((ev.symbol, ev.timeframe))
        if not subs:
            return 0
        text = orjson.dumps(ev.to_message()).decode()
        key = (ev.symbol, ev.timeframe)
        partial = not ev.final
        now = time.monotonic()
        behind: list[Client] = []
        for c in subs:
            if not c.offer(key, partial, text, now):
                behind.append(c)
        for c in behind:
            self.drop(c, "too_slow", CLOSE_TOO_SLOW, "client too slow: updates were dropped")
        return len(subs) - len(behind)

    # ------------------------------------------------------------- clients
    def register(self, ws: WebSocket, name: str | None = None) -> Client:
        """Track a connected (accepted) socket and start its writer."""
        c = Client(self, ws, name)
        c.writer = asyncio.create_task(c.run_writer(), name="ws-writer")
        self.clients.add(c)
        self.metrics.ws_clients.set(len(self.clients))
        return c

    def subscribe(self, c: Client, keys: list[Key]) -> list[Key]:
        """Add subscriptions; returns the keys that were new."""
        new = [k for k in keys if k not in c.keys]
        if len(c.keys) + len(new) > self.options.max_keys:
            from jonbu_core.errors import InvalidInputError

            raise InvalidInputError(f"too many subscriptions (at most {self.options.max_keys} per connection)")
        for k in new:
            c.keys.add(k)
            self.by_key.setdefault(k, set()).add(c)
        return new

    def unsubscribe(self, c: Client, keys: list[Key]) -> list[Key]:
        """Remove subscriptions; returns the keys that were removed."""
        gone = [k for k in keys if k in c.keys]
        for k in gone:
            c.keys.discard(k)
            subs = self.by_key.get(k)
            if subs is not None:
                subs.discard(c)
                if not subs:
                    del self.by_key[k]
            item = c.partials.pop(k, None)
            if item is not None:
                item.text = None
        return gone

    def drop(
        self, c: Client, reason: str, code: int | None = None, message: str = "", timeout: float | None = None
    ) -> None:
        """Forget a client; with ``code``, close its socket in the background."""
        if c.closed:
            return
        c.closed = True
        self.unsubscribe(c, list(c.keys))
        self.clients.discard(c)
        pending = sum(1 for i in c.queue if i.text is not None)
        c.queue.clear()
        c.wake.set()
        if pending:
            self.metrics.ws_dropped.labels(reason).inc(pending)
        if reason in ("too_slow", "idle"):
            self.kicked += 1
            logger.info("closing a WebSocket client (%s): %s", reason, c.name or "anonymous")
        self.metrics.ws_disconnects.labels(reason).inc()
        self.metrics.ws_clients.set(len(self.clients))
        if code is not None:
            task = asyncio.create_task(c.close(code, message, timeout or self.options.close_timeout))
            c.closing = task
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        elif c.writer is not None and c.writer is not asyncio.current_task():
            c.writer.cancel()

    def stats(self) -> dict[str, Any]:
        """Counters for ``/api/v1/stream/stats``."""
        return {
            "clients": len(self.clients),
            "subscriptions": sum(len(c.keys) for c in self.clients),
            "events": self.events,
            "conflated": self.conflated,
            "kicked": self.kicked,
            "sent": self.sent,
        }

