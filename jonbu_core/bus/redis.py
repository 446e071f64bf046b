"""Redis event bus: several processes (stream daemon, API replicas) share candle updates.

Keys under ``settings.redis_prefix`` (``jonbu`` by default):

``<prefix>:bars``
    A Redis stream of closed bars and revisions (``XADD``, trimmed to about
    ``stream_maxlen`` entries). A subscriber that passes the id of the last event it
    saw (``CandleEvent.id``) to :meth:`RedisBus.subscribe` first receives every entry
    after it, so reconnecting loses and repeats nothing.
``<prefix>:partials``
    A pub/sub channel of partial (still open) bars: fire and forget.
``<prefix>:latest``
    A hash ``"SYMBOL|tf"`` → the last event of that key (:meth:`RedisBus.latest`).
``<prefix>:stream:stats``
    The stream daemon's status object as JSON, expiring after ``stats_ttl`` seconds
    so a dead daemon stops being reported as running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from jonbu_core.bus.base import CandleEvent

logger = logging.getLogger(__name__)

_END = object()


class RedisBus:
    """An :class:`~jonbu_core.bus.base.EventBus` over Redis streams and pub/sub.

    Parameters
    ----------
    url : str
        ``redis://host:port/db``.
    prefix : str
        Key prefix (``JONBU_REDIS_PREFIX``).
    stream_maxlen : int
        Approximate number of closed-bar entries kept for catch-up.
    stats_ttl : float
        Seconds the stream status stays readable after its last update.
    queue_size : int
        Per-subscriber bound on buffered partial updates (oldest dropped first;
        closed bars are never dropped).
    """

    name = "redis"

    def __init__(
        self,
        url: str,
        prefix: str = "jonbu",
        *,
        stream_maxlen: int = 100_000,
        stats_ttl: float = 30.0,
        queue_size: int = 10_000,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.stream_key = f"{prefix}:bars"
        self.channel = f"{prefix}:partials"
        self.latest_key = f"{prefix}:latest"
        self.stats_key = f"{prefix}:stream:stats"
        self.stream_maxlen = stream_maxlen
        self.stats_ttl = stats_ttl
        self.queue_size = queue_size
        self.dropped = 0
        self._client: Any = None
        self._closed = False
        self._subs: set[asyncio.Queue[Any]] = set()

    # ------------------------------------------------------------ lifecycle
    @property
    def client(self) -> Any:
        """The ``redis.asyncio.Redis`` client (created on first use)."""
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=5, socket_timeout=None, health_check_interval=15
            )
        return self._client

    async def start(self) -> None:
        """Connect (and check the server answers)."""
        self._closed = False
        await self.client.ping()

    async def close(self) -> None:
        """End every subscription and close the connections."""
        self._closed = True
        for q in list(self._subs):
            q.put_nowait(_END)
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.aclose()

    # -------------------------------------------------------------- publish
    async def publish(self, event: CandleEvent) -> None:
        """Publish one event."""
        await self.publish_many([event])

    async def publish_many(self, events: Sequence[CandleEvent]) -> None:
        """Publish several events in one round trip (closed bars and revisions in order)."""
        if not events:
            return
        pipe = self.client.pipeline(transaction=False)
        latest: dict[str, bytes] = {}
        for ev in events:
            data = ev.to_json()
            if ev.final:
                pipe.xadd(self.stream_key, {"e": data}, maxlen=self.stream_maxlen, approximate=True)
            else:
                pipe.publish(self.channel, data)
            latest[f"{ev.symbol}|{ev.timeframe}"] = data
        pipe.hset(self.latest_key, mapping=latest)
        await pipe.execute()

    async def latest(self, symbol: str, timeframe: str) -> CandleEvent | None:
        """The last event published for (symbol, timeframe)."""
        data = await self.client.hget(self.latest_key, f"{symbol}|{timeframe}")
        return None if data is None else CandleEvent.from_json(data)

    async def publish_stats(self, stats: dict[str, Any]) -> None:
        """Store the stream daemon's status (expires after ``stats_ttl``)."""
        await self.client.set(self.stats_key, orjson.dumps(stats, default=str),
                              px=max(1, int(self.stats_ttl * 1000)))

    async def get_stats(self) -> dict[str, Any] | None:
        """The last status published (``None`` when no daemon reported recently)."""
        data = await self.client.get(self.stats_key)
        if data is None:
            return None
        out = orjson.loads(data)
        return out if isinstance(out, dict) else None

    async def last_id(self) -> str:
        """The id of the newest closed-bar entry (``0-0`` when the stream is empty)."""
        rows = await self.client.xrevrange(self.stream_key, count=1)
        if not rows:
            return "0-0"
        rid = rows[0][0]
        return rid.decode() if isinstance(rid, bytes) else str(rid)

    # ------------------------------------------------------------ subscribe
    def _offer(self, q: asyncio.Queue[Any], ev: CandleEvent) -> None:
        if not ev.final and q.qsize() >= self.queue_size:
            self.dropped += 1
            return
        q.put_nowait(ev)

    async def _read_stream(self, q: asyncio.Queue[Any], cursor: str) -> None:
        client = self.client
        while not self._closed:
            resp = await client.xread({self.stream_key: cursor}, count=1000, block=1000)
            for _key, entries in resp or []:
                for rid, fields in entries:
                    cursor = rid.decode() if isinstance(rid, bytes) else str(rid)
                    data = fields.get(b"e") if b"e" in fields else fields.get("e")
                    if data is None:
                        continue
                    try:
                        q.put_nowait(CandleEvent.from_json(data, id=cursor))
                    except (ValueError, KeyError, TypeError) as exc:
                        logger.warning("skipping unreadable bus entry %s: %s", cursor, exc)

    async def _read_partials(self, q: asyncio.Queue[Any], ready: asyncio.Event) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            ready.set()
            while not self._closed:
                msg = await pubsub.get_message(timeout=1.0)
                if msg is None or msg.get("type") != "message":
                    continue
                try:
                    self._offer(q, CandleEvent.from_json(msg["data"]))
                except (ValueError, KeyError, TypeError) as exc:
                    logger.warning("skipping unreadable partial update: %s", exc)
        finally:
            ready.set()
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def subscribe(self, *, last_id: str | None = None) -> AsyncIterator[CandleEvent]:
        """Every event from now on; with ``last_id``, first every closed bar after it.

        Closed bars and revisions carry their stream id in ``CandleEvent.id``; pass
        the last one seen to resume without a gap or a repeat. Connection errors end
        the iteration with the exception (the caller resubscribes).
        """
        cursor = last_id if last_id else await self.last_id()
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._subs.add(q)
        ready = asyncio.Event()
        partials = asyncio.create_task(self._read_partials(q, ready), name="redis-bus-partials")
        await ready.wait()
        closed = asyncio.create_task(self._read_stream(q, cursor), name="redis-bus-stream")

        def _done(t: asyncio.Task[None]) -> None:
            if not t.cancelled():
                q.put_nowait(t.exception() or _END)

        partials.add_done_callback(_done)
        closed.add_done_callback(_done)
        try:
            while True:
                item = await q.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._subs.discard(q)
            for t in (partials, closed):
                t.cancel()
            for t in (partials, closed):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t


__all__ = ["RedisBus"]
