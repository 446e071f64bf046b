"""The feed port: a live source of trades (and provider bars) pushed into a sink.

A feed owns its connection, reconnects by itself and calls the sink synchronously
from its receive loop, one batch per received frame (or tick; the Alpaca feed
gives one batch for a burst of frames already buffered), so there is no queue and
no copy between the socket and the aggregator.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from jonbu_core.aggregation.types import SymbolTable, TradeBatch


class FeedFatalError(Exception):
    """A feed error that retrying cannot fix (bad credentials, feed not in the plan)."""


@runtime_checkable
class FeedSink(Protocol):
    """What a feed delivers to (the daemon)."""

    symbols: SymbolTable

    def on_trades(self, batch: TradeBatch) -> None:
        """A batch of trades in arrival order."""
        ...

    def on_bars(self, bars: pa.Table) -> None:
        """Finished minute bars sent by the provider itself (BAR_SCHEMA, provider ``source``)."""
        ...

    def on_correction(self, sid: int, trade_id: int | None, ts_ns: int, price: float, size: float,
                      new_price: float | None, new_size: float | None) -> None:
        """A correction (``new_price``/``new_size`` given) or cancel of a trade."""
        ...

    def on_connected(self) -> None:
        """The feed is (re)connected and subscribed."""
        ...

    def on_disconnected(self, reason: str) -> None:
        """The feed lost its connection (it will reconnect unless stopped)."""
        ...


@runtime_checkable
class Feed(Protocol):
    """A live source of trades."""

    name: str
    """``alpaca``, ``mock`` or ``replay``."""
    finite: bool
    """Whether :meth:`run` returns by itself when the data ends (replay)."""

    async def run(self, sink: FeedSink) -> None:
        """Deliver data to ``sink`` until :meth:`stop` (or the end of a finite feed)."""
        ...

    async def stop(self) -> None:
        """Stop delivering and close connections."""
        ...

    def clock(self) -> int | None:
        """The feed's current event time (epoch ns) when it knows it better than the wall clock."""
        ...

    def status(self) -> dict[str, Any]:
        """Connection state and counters (part of the daemon's status)."""
        ...

    async def set_symbols(self, symbols: list[str], start_prices: dict[str, float] | None = None) -> bool:
        """Follow a new symbol list from now on (a configuration reload).

        ``start_prices`` (latest stored closes of added symbols) matter only to a feed
        that makes up prices (mock); others ignore them.

        Returns
        -------
        bool
            ``False`` when this feed cannot change its symbols while running (replay).
        """
        ...


__all__ = ["Feed", "FeedFatalError", "FeedSink"]
