"""Configuration reload of a running stream: symbols follow the registry without a restart."""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path
from typing import Any

from jonbu_core.aggregation import SymbolTable
from jonbu_core.bus.memory import MemoryBus
from jonbu_core.settings import load_settings
from jonbu_core.stores.factory import open_store
from jonbu_stream.daemon import StreamDaemon
from jonbu_stream.feeds.alpaca import AlpacaFeed
from jonbu_stream.feeds.mock import MockLiveFeed
from tests.fakes.alpaca_stream import DEFAULT_KEY, DEFAULT_SECRET, FakeAlpacaStream


async def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_reload_follows_the_symbol_registry(data_dir: Path) -> None:
    s = load_settings(data_dir=data_dir)
    store = open_store(s)
    store.add_symbols(["AAPL", "MSFT"])
    bus = MemoryBus()
    await bus.start()
    feed = MockLiveFeed(s, ["AAPL", "MSFT"], speed=2000)
    daemon = StreamDaemon(s, store, bus, feed, stats_interval=0.2)
    task = asyncio.create_task(daemon.run())
    try:
        await _wait(lambda: set(daemon.status()["last_trade"]) == {"AAPL", "MSFT"}, 20, "trades of both symbols")
        assert await daemon.reload(s) == {"symbols": ["AAPL", "MSFT"], "added": [], "removed": []}
        store.add_symbols(["NVDA"])
        store.deactivate_symbol("MSFT")
        out = await daemon.reload(s)
        assert out == {"symbols": ["AAPL", "NVDA"], "added": ["NVDA"], "removed": ["MSFT"]}
        await _wait(lambda: "NVDA" in daemon.status()["last_trade"], 20, "trades of the added symbol")
        msft = daemon.status()["last_trade"]["MSFT"]["ts"]
        aapl = daemon.status()["last_trade"]["AAPL"]["ts"]
        await _wait(lambda: daemon.status()["last_trade"]["AAPL"]["ts"] > aapl, 20, "AAPL trading on")
        await asyncio.sleep(0.3)
        assert daemon.status()["last_trade"]["MSFT"]["ts"] == msft  # no more MSFT trades
        assert daemon.status()["symbols"] == ["AAPL", "NVDA"] and feed.symbols == ["AAPL", "NVDA"]
    finally:
        await daemon.stop()
        await task
        await bus.close()
        store.close()


async def test_symbols_fixed_on_the_command_line_do_not_change(data_dir: Path) -> None:
    s = load_settings(data_dir=data_dir)
    store = open_store(s)
    store.add_symbols(["AAPL", "MSFT"])
    daemon = StreamDaemon(s, store, MemoryBus(), MockLiveFeed(s, ["AAPL"], speed=100), symbols=["AAPL"])
    daemon.active = ["AAPL"]
    out = await daemon.reload(s)
    assert out["added"] == [] and "--symbols" in out["note"]
    store.close()


class _Sink:
    def __init__(self) -> None:
        self.symbols = SymbolTable()
        self.by_symbol: collections.Counter[str] = collections.Counter()

    def on_trades(self, batch: Any) -> None:
        for sid in batch.sym.tolist():
            self.by_symbol[self.symbols.name(sid)] += 1

    def on_bars(self, bars: Any) -> None:
        pass

    def on_correction(self, *args: Any) -> None:
        pass

    def on_connected(self) -> None:
        pass

    def on_disconnected(self, reason: str) -> None:
        pass


async def test_alpaca_feed_subscribes_and_unsubscribes_on_the_open_connection() -> None:
    with FakeAlpacaStream(live=True, rate=2000, frame_size=20, tick=0.01) as ws:
        feed = AlpacaFeed(ws.url, DEFAULT_KEY, DEFAULT_SECRET, ["AAPL", "MSFT"], watchdog=60)
        sink = _Sink()
        task = asyncio.create_task(feed.run(sink))
        try:
            await _wait(lambda: sink.by_symbol["AAPL"] > 0 and sink.by_symbol["MSFT"] > 0, 20, "first trades")
            assert await feed.set_symbols(["AAPL", "NVDA"])
            await _wait(lambda: sink.by_symbol["NVDA"] > 0, 20, "trades of the added symbol")
            await asyncio.sleep(0.3)  # frames already on the wire when the unsubscribe landed
            msft = sink.by_symbol["MSFT"]
            await asyncio.sleep(0.5)
            assert sink.by_symbol["MSFT"] == msft  # unsubscribed
            assert feed.connects == 1 and feed.reconnects == 0  # same connection throughout
            assert feed.symbols == ["AAPL", "NVDA"]
        finally:
            await feed.stop()
            await asyncio.wait_for(task, 5)
