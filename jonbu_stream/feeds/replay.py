"""The replay feed: a past range of trades or stored 1-minute bars, at N× speed.

``source="trades"`` asks the history provider for trades (the mock market has them;
Alpaca too) and feeds them as trades; ``source="bars"`` reads stored 1-minute bars
from the store and feeds them to the aggregator as finished minutes (so the higher
timeframes are rebuilt exactly). Event times are kept; the pace is ``speed``
simulated seconds per wall second (``speed=0``: as fast as possible). When the range
is done the feed closes every bar and :meth:`ReplayFeed.run` returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from jonbu_core.aggregation.types import NS, TradeBatch
from jonbu_core.models import to_utc
from jonbu_stream.feeds.base import FeedSink

logger = logging.getLogger(__name__)


class ReplayFeed:
    """Replay ``[start, end)`` of ``symbols`` (see the module docstring).

    Parameters
    ----------
    chunks : callable
        ``chunks(symbol, start, end)`` → iterator of Arrow tables (trades with
        TRADE_SCHEMA, or 1m bars with BAR_SCHEMA for ``source="bars"``).
    symbols : list of str
    start, end : datetime
    speed : float
        Simulated seconds per wall second; 0 replays as fast as possible.
    source : str
        ``trades`` or ``bars``.
    window : timedelta
        Span of data loaded and merged across symbols at a time.
    """

    name = "replay"
    finite = True

    def __init__(
        self,
        chunks: Callable[[str, datetime, datetime], Iterator[pa.Table]],
        symbols: list[str],
        start: datetime,
        end: datetime,
        *,
        speed: float = 60.0,
        source: str = "trades",
        window: timedelta = timedelta(hours=1),
        tick: float = 0.02,
    ) -> None:
        if source not in ("trades", "bars"):
            raise ValueError(f"replay source must be trades or bars, not {source!r}")
        self.chunks = chunks
        self.symbols = list(symbols)
        self.start, self.end = to_utc(start), to_utc(end)
        self.speed = float(speed)
        self.source = source
        self.window = window
        self.tick = tick
        self._stopped = asyncio.Event()
        self._wall0 = 0.0
        self._sim0 = int(self.start.timestamp() * NS)
        self._pos = self._sim0
        self.delivered = 0
        self.connected = False

    def clock(self) -> int | None:
        """The simulated time reached."""
        if self.speed <= 0 or not self._wall0:
            return self._pos
        return min(int(self.end.timestamp() * NS), self._sim0 + int((time.monotonic() - self._wall0) * self.speed * NS))

    def status(self) -> dict[str, Any]:
        """Progress."""
        return {"kind": self.name, "connected": self.connected, "source": self.source, "speed": self.speed,
                "start": self.start.isoformat(), "end": self.end.isoformat(), "delivered": self.delivered,
                "position": datetime.fromtimestamp(self._pos / NS, tz=UTC).isoformat()}

    async def stop(self) -> None:
        """Stop the replay."""
        self._stopped.set()

    async def set_symbols(self, symbols: list[str], start_prices: dict[str, float] | None = None) -> bool:
        """A replay plays the symbols it started with: always ``False``."""
        return False

    def _window(self, a: datetime, b: datetime) -> pa.Table | None:
        parts = []
        for s in self.symbols:
            for t in self.chunks(s, a, b):
                if t.num_rows:
                    parts.append(t)
        if not parts:
            return None
        return pa.concat_tables([p.select(parts[0].column_names) for p in parts]).sort_by("ts")

    async def run(self, sink: FeedSink) -> None:
        """Deliver the range at the configured pace, then close every bar."""
        for s in self.symbols:
            sink.symbols.add(s)
        self.connected = True
        sink.on_connected()
        self._wall0 = time.monotonic()
        a = self.start
        try:
            while a < self.end and not self._stopped.is_set():
                b = min(self.end, a + self.window)
                table = await asyncio.to_thread(self._window, a, b)
                if table is not None:
                    await self._deliver(table, sink)
                a = b
            if not self._stopped.is_set():
                self._pos = int(self.end.timestamp() * NS)
                end = getattr(sink, "on_end", None)
                if end is not None:
                    end()
        finally:
            self.connected = False

    async def _deliver(self, table: pa.Table, sink: FeedSink) -> None:
        ts = table.column("ts").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy()
        i, n = 0, table.num_rows
        while i < n and not self._stopped.is_set():
            if self.speed > 0:
                now_sim = self._sim0 + int((time.monotonic() - self._wall0) * self.speed * NS)
                j = int(np.searchsorted(ts, now_sim, side="right"))
                if j <= i:
                    wait = (int(ts[i]) - now_sim) / NS / self.speed
                    await asyncio.sleep(min(max(wait, 0.0), self.tick * 10))
                    continue
            else:
                j = min(n, i + 50_000)
            part = table.slice(i, j - i)
            if self.source == "bars":
                hook = getattr(sink, "on_minute_bars", None)
                if hook is not None:
                    hook(part)
            else:
                sink.on_trades(TradeBatch.from_arrow(part, sink.symbols))
            self.delivered += j - i
            self._pos = int(ts[j - 1])
            i = j
            await asyncio.sleep(0 if self.speed <= 0 else self.tick)


__all__ = ["ReplayFeed"]
