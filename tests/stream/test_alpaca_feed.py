"""Our Alpaca client against the fake stream: reconnects, gap backfill, error codes, watchdog."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from jonbu_core.aggregation.types import KIND_PARTIAL, ns_to_datetime
from jonbu_core.bus.memory import MemoryBus
from jonbu_core.errors import ProviderAuthError
from jonbu_core.stores.factory import open_store
from jonbu_stream.daemon import StreamDaemon
from jonbu_stream.feeds.alpaca import AlpacaFeed
from tests.fakes.alpaca_rest import FakeAlpacaServer
from tests.fakes.alpaca_stream import DEFAULT_KEY, DEFAULT_SECRET, FakeAlpacaStream
from tests.stream.conftest import (
    DAY,
    START,
    SYMBOLS,
    alpaca_settings,
    assert_stored_equals_reference,
)

MINUTES = 8
END = START + timedelta(minutes=MINUTES)
SPEED = 120.0
LATENESS = 2.0


async def run_until_done(daemon: StreamDaemon, ws: FakeAlpacaStream, timeout: float = 60.0,
                         until: datetime | None = None, lateness: float = LATENESS) -> None:
    """Run the daemon until its event clock is past ``until`` (END) and every gap was recovered."""
    task = asyncio.create_task(daemon.run())
    t0 = time.monotonic()
    done_at = int((until or END).timestamp() * 1e9) + int((lateness + 1.5) * 1e9)
    try:
        while time.monotonic() - t0 < timeout:
            await asyncio.sleep(0.2)
            if task.done():
                break
            st = daemon.status()
            pending = st["backfill"]["pending"] if st["backfill"]["enabled"] else 0
            clock = daemon.event_clock()
            if (clock is not None and clock >= done_at and pending == 0
                    and st["queues"]["store"] == 0 and not daemon.agg.pool.dirty.any()):
                await asyncio.sleep(0.5)
                break
        else:
            raise AssertionError(f"daemon did not finish: {daemon.status()}")
    finally:
        await daemon.stop()
        await task


def make(tmp_path: Path, rest: FakeAlpacaServer, ws: FakeAlpacaStream, lateness: float = LATENESS,
         always_market_hours: bool = False, **extra: Any) -> tuple[StreamDaemon, Any]:
    """A daemon on the fakes; ``always_market_hours``: its feed's watchdog does not look at the wall
    clock (the fakes replay a past session at any time of day)."""
    s = alpaca_settings(tmp_path / "data", rest.url, ws.url, allowed_lateness_seconds=lateness, **extra)
    store = open_store(s)
    feed = None
    if always_market_hours:
        feed = AlpacaFeed(ws.url, DEFAULT_KEY, DEFAULT_SECRET, SYMBOLS, source="alpaca-iex",
                          watchdog=s.stream_watchdog_seconds, market_hours=lambda _wall: True)
    daemon = StreamDaemon(s, store, MemoryBus(), feed, timer_delay=0.2, backfill_settle=0.5, flush_interval=0.3)
    return daemon, store


async def test_connection_killed_mid_stream_reconnects_and_backfills(tmp_path: Path, rest: FakeAlpacaServer) -> None:
    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START) as ws:
        ws.faults.disconnect_after = 150  # abort without a close frame, mid-minute
        daemon, store = make(tmp_path, rest, ws, stream_watchdog_seconds=60)
        await run_until_done(daemon, ws)
        st = daemon.status()
        assert st["feed"]["reconnects"] >= 1 and ws.stats.disconnects >= 1
        assert st["backfill"]["runs"] >= 1 and st["backfill"]["bars"] > 0
        sources = assert_stored_equals_reference(store, START, END)
        assert sources.get("stream", 0) > 0 and sources.get("alpaca-iex", 0) > 0
        assert any(r.path.endswith("/bars") for r in rest.log)
        # The live 1h bar includes the minutes recovered from REST (rebuilt from its 1m bars): its trade count
        # and volume are those of its stored 1m bars (streamed and recovered) plus its still-open minute.
        assert st["backfill"]["higher_bars_rebuilt"] > 0 and st["backfill"]["higher_bars_inexact"] == 0
        live = daemon.agg.open_bars()
        hour = daemon.agg.tf_names.index("1h")
        for sym in SYMBOLS:
            sid = daemon.symbols.id(sym)
            (i,) = np.flatnonzero((live.sym == sid) & (live.tf == hour))
            h0 = int(live.label[i])
            stored = store.read_bars(sym, "1m", ns_to_datetime(h0), ns_to_datetime(h0 + 3600 * 10**9)).table
            still_open = (live.sym == sid) & (live.tf == 0) & (live.kind == KIND_PARTIAL) & (live.label >= h0)
            count = sum(stored.column("trade_count").to_pylist()) + int(live.count[still_open].sum())
            volume = sum(stored.column("volume").to_pylist()) + float(live.volume[still_open].sum())
            assert int(live.count[i]) == count, sym
            assert abs(float(live.volume[i]) - volume) < 1e-6, sym
        store.close()


async def test_silent_feed_is_detected_by_the_watchdog(tmp_path: Path, rest: FakeAlpacaServer) -> None:
    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START) as ws:
        ws.faults.silence_after, ws.faults.silence_for = 200, 2.0
        daemon, store = make(tmp_path, rest, ws, always_market_hours=True, stream_watchdog_seconds=0.6)
        await run_until_done(daemon, ws)
        st = daemon.status()
        assert st["feed"]["reconnects"] >= 1
        assert "watchdog" in (st["feed"]["last_error"] or "") or st["backfill"]["runs"] >= 1
        assert_stored_equals_reference(store, START, END)
        store.close()


async def test_out_of_order_and_late_trades_within_lateness(tmp_path: Path, rest: FakeAlpacaServer) -> None:
    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START) as ws:
        ws.faults.swap_pairs = True
        ws.faults.late_every, ws.faults.late_by = 10, 4.0  # 4 s late: within the 5 s lateness
        daemon, store = make(tmp_path, rest, ws, lateness=5.0, stream_watchdog_seconds=60)
        await run_until_done(daemon, ws, lateness=5.0)
        st = daemon.status()
        assert st["trades"]["late"] == 0 and st["revisions"] > 0
        sources = assert_stored_equals_reference(store, START, END)
        assert set(sources) == {"stream"}
        store.close()


async def test_trades_later_than_the_lateness_are_dropped_and_counted(tmp_path: Path, rest: FakeAlpacaServer) -> None:
    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START) as ws:
        ws.faults.late_every, ws.faults.late_by = 30, 20.0
        daemon, store = make(tmp_path, rest, ws, stream_watchdog_seconds=60)
        await run_until_done(daemon, ws, until=START + timedelta(minutes=3))
        assert daemon.status()["trades"]["late"] > 0
        store.close()


async def test_auth_failure_stops_with_a_clear_error(tmp_path: Path, rest: FakeAlpacaServer) -> None:
    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START) as ws:
        ws.faults.reject_auth = True
        daemon, store = make(tmp_path, rest, ws)
        with pytest.raises(ProviderAuthError, match="402"):
            await asyncio.wait_for(daemon.run(), 30)
        assert ws.stats.errors_sent == {402: 1}
        assert daemon.status()["status"] == "down"
        store.close()


async def test_connection_limit_406_waits_then_connects() -> None:
    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START, end=END, max_connections=1) as ws:
        from websockets.asyncio.client import connect

        async with connect(ws.url) as rogue:  # another client holds the only connection
            await rogue.recv()
            await rogue.send(msgpack.packb({"action": "auth", "key": DEFAULT_KEY, "secret": DEFAULT_SECRET}))
            await rogue.recv()
            feed = AlpacaFeed(ws.url, DEFAULT_KEY, DEFAULT_SECRET, SYMBOLS, limit_backoff=0.5, watchdog=60)
            sink = _Sink()
            task = asyncio.create_task(feed.run(sink))
            await asyncio.sleep(0.3)
            assert feed.errors.get(406) == 1 and not feed.connected
        for _ in range(50):
            await asyncio.sleep(0.1)
            if feed.connected:
                break
        assert feed.connected and sink.connected == 1
        await feed.stop()
        await asyncio.wait_for(task, 5)


async def test_insufficient_subscription_409_is_fatal() -> None:
    from jonbu_stream.feeds.base import FeedFatalError

    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START) as ws:
        ws.faults.insufficient_subscription = True
        feed = AlpacaFeed(ws.url, DEFAULT_KEY, DEFAULT_SECRET, SYMBOLS)
        with pytest.raises(FeedFatalError, match="409"):
            await asyncio.wait_for(feed.run(_Sink()), 10)


async def test_symbol_limit_405_halves_the_subscription() -> None:
    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START) as ws:
        ws.faults.symbol_limit = 1
        feed = AlpacaFeed(ws.url, DEFAULT_KEY, DEFAULT_SECRET, SYMBOLS, watchdog=60)
        task = asyncio.create_task(feed.run(_Sink()))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if feed.connected:
                break
        assert feed.connected and feed.symbols == ["AAPL"] and feed.excluded == ["MSFT"]
        await feed.stop()
        await asyncio.wait_for(task, 5)


class _Sink:
    def __init__(self) -> None:
        from jonbu_core.aggregation import SymbolTable

        self.symbols = SymbolTable()
        self.trades = 0
        self.connected = 0

    def on_trades(self, batch: Any) -> None:
        self.trades += len(batch)

    def on_bars(self, bars: Any) -> None:
        pass

    def on_correction(self, *args: Any) -> None:
        pass

    def on_connected(self) -> None:
        self.connected += 1

    def on_disconnected(self, reason: str) -> None:
        pass


async def test_a_failing_frame_handler_reconnects_with_the_reason() -> None:
    """Frames are handled from ``data_received``: an exception there drops the connection, and the feed
    reconnects (as when its ``recv()`` loop raised), with the reason in ``last_error``."""
    with FakeAlpacaStream(day=DAY, speed=SPEED, start=START) as ws:
        feed = AlpacaFeed(ws.url, DEFAULT_KEY, DEFAULT_SECRET, SYMBOLS, watchdog=60, backoff_base=0.05)
        sink = _Sink()
        boom = [True]
        on_trades = sink.on_trades

        def flaky(batch: Any) -> None:
            if boom[0]:
                boom[0] = False
                raise RuntimeError("sink exploded")
            on_trades(batch)

        sink.on_trades = flaky  # type: ignore[method-assign]
        task = asyncio.create_task(feed.run(sink))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if feed.connects >= 2 and sink.trades > 0:
                break
        assert feed.connects >= 2 and feed.reconnects >= 1 and sink.trades > 0
        assert feed.last_error is not None and "sink exploded" in feed.last_error
        await feed.stop()
        await asyncio.wait_for(task, 5)


async def test_direct_frames_and_queued_messages_keep_their_order() -> None:
    """Binary messages go to the handler from ``data_received``; text and fragmented ones through
    ``recv()``, and while one of those waits, the binary ones after it too: one order in all."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    from jonbu_stream.feeds.alpaca import _direct_connection_class

    sent: list[bytes | str] = [b"a", b"b", "text", b"c", b"fragmented", b"d", b"e"]

    async def handler(conn: Any) -> None:
        await conn.recv()  # "go": the client's handler is in place
        for m in sent:
            if m == b"fragmented":
                await conn.send([b"frag", b"mented"])  # one message in two frames
            else:
                await conn.send(m)
        await asyncio.sleep(0.5)

    got: list[bytes | str] = []
    direct: list[bytes] = []

    def on_frames(frames: list[bytes]) -> None:
        direct.extend(frames)
        got.extend(frames)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", create_connection=_direct_connection_class()) as conn:
            conn.on_frames = on_frames
            await conn.send("go")

            async def receive() -> None:
                while True:
                    got.append(await conn.recv())

            reader = asyncio.create_task(receive())
            for _ in range(100):  # bounded: 5 s
                if len(got) >= len(sent):
                    break
                await asyncio.sleep(0.05)
            reader.cancel()
    assert got == sent
    assert direct[:2] == [b"a", b"b"] and "text" not in direct and b"fragmented" not in direct
