"""In-process event bus (the default; used by ``jonbu-ohlcv up``).

Each subscriber has its own bounded queue. When a subscriber falls behind, the
oldest *partial* updates are dropped first; closed bars and revisions are never
dropped (the queue grows past its soft bound for them instead).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from jonbu_core.bus.base import CandleEvent, event_key

logger = logging.getLogger(__name__)


class _Subscriber:
    __slots__ = ("dropped", "event", "items", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.items: collections.deque[CandleEvent | None] = collections.deque()
        self.event = asyncio.Event()
        self.maxsize = maxsize
        self.dropped = 0

    def put(self, ev: CandleEvent | None) -> None:
        if ev is not None and len(self.items) >= self.maxsize:
            # Drop the oldest partial update, never a closed bar.
            for i, old in enumerate(self.items):
                if old is not None and not old.final:
                    del self.items[i]
                    self.dropped += 1
                    break
            else:
                if not ev.final:
                    self.dropped += 1
                    return
        self.items.append(ev)
        self.event.set()

    def put_many(self, events: Sequence[CandleEvent]) -> None:
        if len(self.items) + len(events) > self.maxsize:
            for ev in events:
                self.put(ev)
            return
        self.items.extend(events)
        self.event.set()


class MemoryBus:
    """A process-local :class:`~jonbu_core.bus.base.EventBus`."""

    name = "memory"

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subs: set[_Subscriber] = set()
        self._latest: dict[tuple[str, str], CandleEvent] = {}
        self._stats: dict[str, Any] | None = None
        self._queue_size = queue_size
        self._seq = 0
        self._closed = False

    async def start(self) -> None:
        """Nothing to open."""
        self._closed = False

    async def close(self) -> None:
        """End every subscription."""
        self._closed = True
        for sub in list(self._subs):
            sub.put(None)

    @property
    def dropped(self) -> int:
        """Partial updates dropped across current subscribers."""
        return sum(s.dropped for s in self._subs)

    async def publish(self, event: CandleEvent) -> None:
        """Deliver ``event`` to every subscriber (never blocks)."""
        self.publish_nowait(event)

    async def publish_many(self, events: Sequence[CandleEvent]) -> None:
        """Deliver several events in order (never blocks)."""
        self.publish_many_nowait(events)

    def publish_many_nowait(self, events: Sequence[CandleEvent]) -> None:
        """Synchronous form of :meth:`publish_many` (one queue operation per subscriber)."""
        if not events:
            return
        self._seq += len(events)
        self._latest.update(zip(map(event_key, events), events, strict=True))
        for sub in self._subs:
            sub.put_many(events)

    def publish_nowait(self, event: CandleEvent) -> None:
        """Synchronous form of :meth:`publish` (for the aggregator's hot path)."""
        self._seq += 1
        self._latest[(event.symbol, event.timeframe)] = event
        for sub in self._subs:
            sub.put(event)

    async def subscribe(self, *, last_id: str | None = None) -> AsyncIterator[CandleEvent]:
        """Every event published from now on (``last_id`` is ignored: nothing is retained)."""
        sub = _Subscriber(self._queue_size)
        self._subs.add(sub)
        try:
            while not self._closed:
                while sub.items:
                    ev = sub.items.popleft()
                    if ev is None:
                        return
                    yield ev
                sub.event.clear()
                await sub.event.wait()
        finally:
            self._subs.discard(sub)

    async def latest(self, symbol: str, timeframe: str) -> CandleEvent | None:
        """Last event for the key, if any."""
        return self._latest.get((symbol, timeframe))

    async def publish_stats(self, stats: dict[str, Any]) -> None:
        """Keep the stream's status object."""
        self._stats = dict(stats)

    async def get_stats(self) -> dict[str, Any] | None:
        """The stream's last status object."""
        return self._stats
