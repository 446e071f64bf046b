"""REST gap backfill: after a reconnect or a restart, recover the minutes the feed missed.

A gap opens at the minute of the last trade seen before the disconnect (on a
restart: at the latest stored 1m bar) and closes at the end of the minute of the
first trade after the reconnect — both edge minutes were seen only in part. Once
the event clock is past that end (plus a settle delay, so the provider's bars are
final), the provider's 1m bars of every symbol in the gap are written to the store
(their ``source`` is the provider's, and a provider bar wins over a ``stream`` bar
with the same key, so partial streamed bars are replaced) and published on the bus
as revisions; the daemon also puts them into its aggregator
(:meth:`~jonbu_core.aggregation.CandleAggregator.replace_minutes`), so the live
5m/15m/1h/1d bars after a reconnect include the recovered minutes. A failed fetch is retried with backoff; a gap longer than
``max_gap`` is clipped to its most recent part (logged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from jonbu_core.aggregation.types import NS, ns_to_datetime
from jonbu_core.bus.base import CandleEvent
from jonbu_core.models import Candle, conform_bars

logger = logging.getLogger(__name__)
MINUTE = 60 * NS


@dataclass
class Gap:
    """A range of minutes to recover, ``[start, end)`` in epoch ns (``end`` unknown until data flows)."""

    start: int
    end: int | None
    opened: float
    reason: str
    attempts: int = 0
    not_before: float = 0.0


class GapBackfiller:
    """Recovers gaps from a history provider (see the module docstring)."""

    def __init__(
        self,
        provider_factory: Callable[[], Any] | None,
        symbols: Callable[[], list[str]],
        store_sink: Any,
        bus_sink: Any,
        *,
        settle: float = 5.0,
        max_gap: float = 72 * 3600.0,
        first_trade_timeout: float = 30.0,
        on_bars: Callable[[pa.Table], None] | None = None,
    ) -> None:
        self.provider_factory = provider_factory
        self.symbols = symbols
        self.store_sink = store_sink
        self.bus_sink = bus_sink
        self.settle_ns = int(settle * NS)
        self.max_gap_ns = int(max_gap * NS)
        self.first_trade_timeout = first_trade_timeout
        self.on_bars = on_bars
        """Called with every recovered table (the daemon rebuilds its live higher-timeframe bars)."""
        self.gaps: list[Gap] = []
        self.runs = 0
        self.bars = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_gap: dict[str, str] | None = None
        self._provider: Any = None

    @property
    def enabled(self) -> bool:
        """Whether a provider is configured."""
        return self.provider_factory is not None

    def open_gap(self, start_ns: int, reason: str) -> None:
        """Open a gap from the minute of ``start_ns``."""
        if not self.enabled:
            return
        start = start_ns - start_ns % MINUTE
        for g in self.gaps:
            if g.end is None:
                g.start = min(g.start, start)
                return
        self.gaps.append(Gap(start, None, time.monotonic(), reason))
        logger.info("gap opened at %s (%s)", ns_to_datetime(start).isoformat(), reason)

    def data_resumed(self, first_ts_ns: int) -> None:
        """Close open gaps at the end of the minute of the first trade after a reconnect."""
        end = first_ts_ns - first_ts_ns % MINUTE + MINUTE
        for g in self.gaps:
            if g.end is None:
                g.end = max(end, g.start + MINUTE)

    def status(self) -> dict[str, Any]:
        """Counters and pending gaps."""
        return {"enabled": self.enabled, "runs": self.runs, "bars": self.bars, "errors": self.errors,
                "last_error": self.last_error, "pending": len(self.gaps), "last_gap": self.last_gap}

    async def run(self, clock: Callable[[], int | None]) -> None:
        """Recover due gaps until cancelled."""
        while True:
            await asyncio.sleep(0.2)
            await self.step(clock())

    async def step(self, now_ns: int | None) -> None:
        """Recover every gap that is due at event time ``now_ns``."""
        for g in list(self.gaps):
            if g.end is None:
                if now_ns is None or time.monotonic() - g.opened < self.first_trade_timeout:
                    continue
                g.end = now_ns - now_ns % MINUTE + MINUTE
            if now_ns is None or now_ns < g.end + self.settle_ns or time.monotonic() < g.not_before:
                continue
            try:
                await self._recover(g)
            except Exception as exc:
                g.attempts += 1
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                wait = min(60.0, 0.5 * 2 ** g.attempts)
                g.not_before = time.monotonic() + wait
                logger.warning("gap backfill failed (%s); retrying in %.1fs", self.last_error, wait)
                continue
            self.gaps.remove(g)

    async def _recover(self, g: Gap) -> None:
        assert g.end is not None and self.provider_factory is not None
        start = max(g.start, g.end - self.max_gap_ns) if self.max_gap_ns else g.start
        if start > g.start:
            logger.warning("gap of %.1f h clipped to the last %.1f h", (g.end - g.start) / NS / 3600,
                           self.max_gap_ns / NS / 3600)
        a, b = ns_to_datetime(start), ns_to_datetime(g.end)
        syms = self.symbols()
        table = await asyncio.to_thread(self._fetch, syms, a, b)
        self.runs += 1
        self.last_gap = {"start": a.isoformat(), "end": b.isoformat(), "reason": g.reason,
                         "bars": str(table.num_rows), "at": datetime.now(UTC).isoformat()}
        if table.num_rows == 0:
            logger.info("gap %s → %s: the provider has no bars", a.isoformat(), b.isoformat())
            return
        self.bars += table.num_rows
        self.store_sink.add(table)
        self.bus_sink.offer_events(_events(table))
        if self.on_bars is not None:
            self.on_bars(table)
        logger.info("gap %s → %s recovered: %d 1m bars from REST", a.isoformat(), b.isoformat(), table.num_rows)

    def _fetch(self, symbols: list[str], a: datetime, b: datetime) -> pa.Table:
        if self._provider is None:
            assert self.provider_factory is not None
            self._provider = self.provider_factory()
        batches = [pa.Table.from_batches([x]) for x in self._provider.bars(symbols, "1m", a, b)]
        if not batches:
            return conform_bars(pa.table({"symbol": pa.array([], pa.string()), "timeframe": pa.array([], pa.string()),
                                          "ts": pa.array([], pa.timestamp("us", tz="UTC")),
                                          **{c: pa.array([], pa.float64()) for c in ("open", "high", "low", "close", "volume")}}))
        return pa.concat_tables([conform_bars(t) for t in batches])

    def close(self) -> None:
        """Release the provider."""
        if self._provider is not None:
            self._provider.close()
            self._provider = None


def _events(table: pa.Table) -> list[CandleEvent]:
    out = []
    for r in table.to_pylist():
        if r["ts"] is None or r["open"] is None or r["close"] is None:
            continue
        c = Candle.model_construct(ts=r["ts"], open=r["open"], high=r["high"], low=r["low"], close=r["close"],
                                   volume=r["volume"], trade_count=r["trade_count"], vwap=r["vwap"])
        out.append(CandleEvent(r["symbol"], r["timeframe"], c, final=True, revision=1, kind="revision"))
    return out


__all__ = ["Gap", "GapBackfiller"]
