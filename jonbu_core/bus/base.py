"""The event bus port: candle updates from the stream to every subscriber.

Backends: :mod:`jonbu_core.bus.memory` (one process) and
:mod:`jonbu_core.bus.redis` (several processes; Redis streams for closed bars and
revisions so a reconnecting subscriber catches up, pub/sub for partial updates).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import orjson

from jonbu_core.models import Candle, fast_model

EventKind = Literal["partial", "closed", "revision"]


class BarRows(Protocol):
    """Where the events of :meth:`CandleEvent.from_bars` get their candles."""

    def candle(self, i: int) -> Candle:
        """Row ``i``'s candle (built once)."""
        ...

    def built(self, i: int) -> Candle | None:
        """Row ``i``'s candle if it was built already, else ``None``."""
        ...


class CandleEvent(tuple):  # type: ignore[type-arg]
    """One candle update (immutable).

    ``final`` is true for closed bars and revisions of closed bars; ``revision``
    counts revisions of the same bar (0 for the first close). Built like a frozen
    dataclass (``CandleEvent(symbol, timeframe, candle, final, revision=0,
    kind="partial", id=None)``; equality, hashing, ``repr``, immutability), with one
    difference: the aggregator's events (:meth:`from_bars`) carry their bar's values
    and build the :class:`~jonbu_core.models.Candle` on first access of
    :attr:`candle` — about half the cost of an event, which the stream daemon
    publishes some hundred times per received frame, often to subscribers that
    conflate partials or only read the key.

    An event is a tuple underneath ``(symbol, timeframe, final, revision, kind, id,
    candle, None)`` or, from :meth:`from_bars`, ``(…, id, rows, i)`` where ``rows``
    builds (and keeps) the candle of its row ``i`` on first access: one allocation,
    about a third of the cost of a slotted object whose eight fields are set one by
    one (the daemon builds ~20k events a second at 50k trades/s). Use the fields by
    name; :data:`event_key` is the ``(symbol, timeframe)`` key.
    """

    __slots__ = ()
    __match_args__ = ("symbol", "timeframe", "candle", "final", "revision", "kind", "id")

    if TYPE_CHECKING:
        symbol: str
        timeframe: str
        final: bool
        revision: int
        kind: EventKind
        id: str | None
        """Bus-assigned id (Redis stream id for closed bars), when there is one."""
    else:
        symbol = property(itemgetter(0), doc="The symbol.")
        timeframe = property(itemgetter(1), doc="The timeframe (``1m``…).")
        final = property(itemgetter(2), doc="Closed bar or revision (not a partial).")
        revision = property(itemgetter(3), doc="Revisions of the same closed bar (0 for the first close).")
        kind = property(itemgetter(4), doc="``partial``, ``closed`` or ``revision``.")
        id = property(itemgetter(5), doc="Bus-assigned id (Redis stream id for closed bars), when there is one.")

    def __new__(cls, symbol: str, timeframe: str, candle: Candle, final: bool, revision: int = 0,
                kind: EventKind = "partial", id: str | None = None) -> CandleEvent:
        return _NEW(cls, (symbol, timeframe, final, revision, kind, id, candle, None))

    @property
    def candle(self) -> Candle:
        """The bar (built from the event's row on first access, then kept)."""
        i = self[7]
        return self[6] if i is None else self[6].candle(i)  # type: ignore[no-any-return]

    @property
    def _candle(self) -> Candle | None:
        """The candle if it is built already (else ``None``)."""
        i = self[7]
        return self[6] if i is None else self[6].built(i)  # type: ignore[no-any-return]

    @staticmethod
    def from_bars(symbols: Sequence[str], timeframes: Sequence[str], finals: Sequence[bool],
                  kinds: Sequence[EventKind], sym: Sequence[int], tf: Iterable[int], kind: Iterable[int],
                  revision: Iterable[int], rows: BarRows) -> list[CandleEvent]:
        """Events of many bars at once (the aggregator's hot path), their candles built on first access.

        ``sym``, ``tf`` and ``kind`` index ``symbols``, ``timeframes`` and ``finals``/``kinds``;
        the candle of event ``i`` is ``rows.candle(i)``.
        """
        new, cls = _NEW, CandleEvent
        return [new(cls, (symbols[s], timeframes[t], finals[k], rev, kinds[k], None, rows, i))
                for i, s, t, k, rev in zip(range(len(sym)), sym, tf, kind, revision, strict=True)]

    def _key(self) -> tuple[Any, ...]:
        return (self.symbol, self.timeframe, self.candle, self.final, self.revision, self.kind, self.id)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._key() == other._key()  # type: ignore[attr-defined, no-any-return]
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __lt__(self, other: object) -> bool:
        return NotImplemented

    __le__ = __gt__ = __ge__ = __lt__

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"CandleEvent(symbol={self.symbol!r}, timeframe={self.timeframe!r}, candle={self.candle!r}, "
                f"final={self.final!r}, revision={self.revision!r}, kind={self.kind!r}, id={self.id!r})")

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (CandleEvent, self._key())

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


_NEW = tuple.__new__
event_key: Callable[[CandleEvent], tuple[str, str]] = itemgetter(0, 1)
"""``(symbol, timeframe)`` of an event (what a bus keeps its latest event by)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LABELS: dict[int, datetime] = {}


def label_datetime(ns: int) -> datetime:
    """Epoch nanoseconds as an aware UTC datetime (µs precision), cached (bar labels repeat)."""
    dt = _LABELS.get(ns)
    if dt is None:
        if len(_LABELS) > 100_000:
            _LABELS.clear()
        dt = _LABELS[ns] = _EPOCH + timedelta(microseconds=ns // 1000)
    return dt


def bar_candle(label_ns: int, o: float, h: float, lo: float, c: float, v: float, n: int | None,
               vwap: float | None) -> Candle:
    """A :class:`Candle` from the aggregator's trusted values, without validation.

    Equivalent to ``Candle(ts=<label_ns as UTC datetime>, open=o, …)`` (a NaN ``vwap`` is
    ``None``) at a fraction of its cost: the values are already typed and checked.
    """
    return fast_model(Candle, {"ts": label_datetime(label_ns), "open": o, "high": h, "low": lo, "close": c,
                               "volume": v, "trade_count": n, "vwap": vwap if vwap == vwap else None})


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
