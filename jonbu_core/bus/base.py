"""The event bus port: candle updates from the stream to every subscriber.

Backends: :mod:`jonbu_core.bus.memory` (one process) and
:mod:`jonbu_core.bus.redis` (several processes; Redis streams for closed bars and
revisions so a reconnecting subscriber catches up, pub/sub for partial updates).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import orjson

from jonbu_core.models import Candle

EventKind = Literal["partial", "closed", "revision"]


@dataclass(frozen=True, slots=True)
class CandleEvent:
    """One candle update.

    ``final`` is true for closed bars and revisions of closed bars; ``revision``
    counts revisions of the same bar (0 for the first close).
    """

    symbol: str
    timeframe: str
    candle: Candle
    final: bool
    revision: int = 0
    kind: EventKind = "partial"
    id: str | None = None
    """Bus-assigned id (Redis stream id for closed bars), when there is one."""

    def to_message(self) -> dict[str, Any]:
        """The WebSocket message of CONTRACT.md."""
        return {
            "type": "candle",
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "candle": self.candle.model_dump(mode="json"),
            "final": self.final,
            "revision": self.revision,
        }

    def to_json(self) -> bytes:
        """Serialised form used on the wire between processes."""
        d = self.to_message()
        d["kind"] = self.kind
        return orjson.dumps(d)

    @classmethod
    def from_json(cls, data: bytes | str, id: str | None = None) -> CandleEvent:
        """Inverse of :meth:`to_json`."""
        d = orjson.loads(data)
        return cls(
            symbol=d["symbol"],
            timeframe=d["timeframe"],
            candle=Candle(**d["candle"]),
            final=bool(d["final"]),
            revision=int(d.get("revision", 0)),
            kind=d.get("kind", "closed" if d["final"] else "partial"),
            id=id,
        )


_EVENT_SETTERS = tuple(CandleEvent.__dict__[f].__set__ for f in CandleEvent.__slots__)


def make_event(symbol: str, timeframe: str, candle: Candle, final: bool, revision: int, kind: EventKind,
               id: str | None = None) -> CandleEvent:
    """``CandleEvent(...)`` for the stream's hot path: the same object, built through its slots.

    A frozen dataclass' ``__init__`` goes through ``object.__setattr__`` once per field;
    setting the slots directly is about three times faster (tens of thousands of
    events per second leave the aggregator).
    """
    ev = object.__new__(CandleEvent)
    s_sym, s_tf, s_candle, s_final, s_rev, s_kind, s_id = _EVENT_SETTERS
    s_sym(ev, symbol)
    s_tf(ev, timeframe)
    s_candle(ev, candle)
    s_final(ev, final)
    s_rev(ev, revision)
    s_kind(ev, kind)
    s_id(ev, id)
    return ev


@runtime_checkable
class EventBus(Protocol):
    """Publish/subscribe of :class:`CandleEvent` plus the stream's status object."""

    name: str

    async def start(self) -> None:
        """Open connections."""
        ...

    async def close(self) -> None:
        """Close connections; subscribers' iterators end."""
        ...

    async def publish(self, event: CandleEvent) -> None:
        """Publish one event."""
        ...

    def subscribe(self, *, last_id: str | None = None) -> AsyncIterator[CandleEvent]:
        """Every event from now on (closed bars after ``last_id`` first, where supported)."""
        ...

    async def latest(self, symbol: str, timeframe: str) -> CandleEvent | None:
        """The last event seen for (symbol, timeframe), or ``None``."""
        ...

    async def publish_stats(self, stats: dict[str, Any]) -> None:
        """Store the stream daemon's status object (served by ``/api/v1/stream/stats``)."""
        ...

    async def get_stats(self) -> dict[str, Any] | None:
        """The last status object published, or ``None`` when no stream runs."""
        ...
