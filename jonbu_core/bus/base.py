"""The event bus port: candle updates from the stream to every subscriber.

Backends: :mod:`jonbu_core.bus.memory` (one process) and
:mod:`jonbu_core.bus.redis` (several processes; Redis streams for closed bars and
revisions so a reconnecting subscriber catches up, pub/sub for partial updates).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

import orjson

from jonbu_core.models import Candle, fast_model

EventKind = Literal["partial", "closed", "revision"]


class CandleEvent:
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
    """

    __slots__ = ("_bar", "_candle", "final", "id", "kind", "revision", "symbol", "timeframe")
    __match_args__ = ("symbol", "timeframe", "candle", "final", "revision", "kind", "id")

    symbol: str
    timeframe: str
    final: bool
    revision: int
    kind: EventKind
    id: str | None
    """Bus-assigned id (Redis stream id for closed bars), when there is one."""
    _candle: Candle | None
    _bar: tuple[int, float, float, float, float, float, int | None, float] | None

    def __init__(self, symbol: str, timeframe: str, candle: Candle, final: bool, revision: int = 0,
                 kind: EventKind = "partial", id: str | None = None) -> None:
        _S_SYMBOL(self, symbol)
        _S_TIMEFRAME(self, timeframe)
        _S_CANDLE(self, candle)
        _S_BAR(self, None)
        _S_FINAL(self, final)
        _S_REVISION(self, revision)
        _S_KIND(self, kind)
        _S_ID(self, id)

    @property
    def candle(self) -> Candle:
        """The bar (built from the event's values on first access, then kept)."""
        c = self._candle
        if c is None:
            bar = self._bar
            assert bar is not None
            c = bar_candle(*bar)
            _S_CANDLE(self, c)
            _S_BAR(self, None)
        return c

    @staticmethod
    def from_bars(symbols: Sequence[str], timeframes: Sequence[str], finals: Sequence[bool],
                  kinds: Sequence[EventKind], sym: Iterable[int], tf: Iterable[int], kind: Iterable[int],
                  revision: Iterable[int],
                  bars: Iterable[tuple[int, float, float, float, float, float, int | None, float]]) -> list[CandleEvent]:
        """Events of many bars at once (the aggregator's hot path), their candles built on first access.

        ``sym``, ``tf`` and ``kind`` index ``symbols``, ``timeframes`` and ``finals``/``kinds``;
        each item of ``bars`` is ``(label_ns, open, high, low, close, volume, trade_count, vwap)``
        with a NaN ``vwap`` for none (see :func:`bar_candle`).
        """
        out: list[CandleEvent] = []
        append = out.append
        new = object.__new__
        s_sym, s_tf, s_candle, s_bar, s_final, s_rev, s_kind, s_id = (
            _S_SYMBOL, _S_TIMEFRAME, _S_CANDLE, _S_BAR, _S_FINAL, _S_REVISION, _S_KIND, _S_ID)
        cls = CandleEvent
        for s, t, k, rev, bar in zip(sym, tf, kind, revision, bars, strict=True):
            ev = new(cls)
            s_sym(ev, symbols[s])
            s_tf(ev, timeframes[t])
            s_candle(ev, None)
            s_bar(ev, bar)
            s_final(ev, finals[k])
            s_rev(ev, rev)
            s_kind(ev, kinds[k])
            s_id(ev, None)
            append(ev)
        return out

    def _key(self) -> tuple[Any, ...]:
        return (self.symbol, self.timeframe, self.candle, self.final, self.revision, self.kind, self.id)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._key() == other._key()  # type: ignore[attr-defined, no-any-return]
        return NotImplemented

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


_S_SYMBOL, _S_TIMEFRAME, _S_CANDLE, _S_BAR, _S_FINAL, _S_REVISION, _S_KIND, _S_ID = (
    CandleEvent.__dict__[f].__set__ for f in ("symbol", "timeframe", "_candle", "_bar", "final", "revision", "kind", "id"))

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
