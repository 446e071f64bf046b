"""The daemon with the mock and replay feeds: bus events, status, graceful shutdown, CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import polars as pl

from jonbu_core.bus.memory import MemoryBus
from jonbu_core.providers.mock import MockMarket
from jonbu_core.settings import load_settings
from jonbu_core.stores.factory import open_store
from jonbu_stream.daemon import StreamDaemon
from jonbu_stream.feeds import open_feed
from jonbu_stream.feeds.mock import MockLiveFeed


async def test_mock_feed_streams_partials_and_reports_status(data_dir) -> None:  # type: ignore[no-untyped-def]
    s = load_settings(data_dir=data_dir)
    store = open_store(s)
    bus = MemoryBus()
    await bus.start()
    feed = MockLiveFeed(s, ["AAPL", "MSFT"], speed=2000, start_prices={"AAPL": 100.0})
    daemon = StreamDaemon(s, store, bus, feed, symbols=["AAPL", "MSFT"], stats_interval=0.2)
    got = []

    async def listen() -> None:
        async for ev in bus.subscribe():
            got.append(ev)

    lt = asyncio.create_task(listen())
    task = asyncio.create_task(daemon.run())
    for _ in range(200):  # bounded: up to 20 s on a loaded machine
        await asyncio.sleep(0.1)
        st = daemon.status()
        if st["trades"]["accepted"] > 1000 and len(st["last_trade"]) == 2 and len({e.timeframe for e in got}) == 5:
            break
    assert st["status"] == "ok" and st["feed"]["connected"] and st["trades"]["accepted"] > 1000
    assert set(st["last_trade"]) == {"AAPL", "MSFT"} and st["latency_ms"]["p99"] < 1000
    assert 80 < st["last_trade"]["AAPL"]["price"] < 120  # continues from the start price
    stats = await bus.get_stats()
    assert stats is not None and stats["running"]
    assert {e.timeframe for e in got} == {"1m", "5m", "15m", "1h", "1d"}
    ev = await bus.latest("AAPL", "1m")
    assert ev is not None and not ev.final and ev.candle.low <= ev.candle.close <= ev.candle.high
    await daemon.stop()
    await task
    assert not daemon.status()["running"]
    assert daemon.metrics.render().count(b"jonbu_stream_trades_total") >= 1
    lt.cancel()
    await bus.close()
    store.close()


async def test_replay_of_trades_stores_every_minute_and_closes_everything(data_dir) -> None:  # type: ignore[no-untyped-def]
    s = load_settings(data_dir=data_dir)
    store = open_store(s)
    bus = MemoryBus()
    await bus.start()
    start = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
    end = start + timedelta(minutes=30)
    feed = open_feed(s, "replay", symbols=["AAPL"], start=start, end=end, speed=0)
    daemon = StreamDaemon(s, store, bus, feed, symbols=["AAPL"])
    closed = []

    async def listen() -> None:
        async for ev in bus.subscribe():
            if ev.final:
                closed.append(ev)

    lt = asyncio.create_task(listen())
    await asyncio.wait_for(daemon.run(), 60)  # returns by itself at the end of the range
    await asyncio.sleep(0.05)
    got = pl.from_arrow(store.read_bars("AAPL", "1m", start, end).table)
    ref = pl.from_arrow(MockMarket(42).session_bars("AAPL", start.date()))
    ref = ref.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    assert got["ts"].to_list() == ref["ts"].to_list()
    assert (got["volume"] - ref["volume"]).abs().max() == 0
    assert set(got["source"].to_list()) == {"stream"}
    by_tf = {tf: sum(1 for e in closed if e.timeframe == tf) for tf in ("1m", "5m", "15m", "1h", "1d")}
    assert by_tf == {"1m": 30, "5m": 6, "15m": 2, "1h": 1, "1d": 1}
    lt.cancel()
    await bus.close()
    store.close()


def test_stream_command_help() -> None:
    from typer.testing import CliRunner

    from jonbu_cli.main import app

    res = CliRunner().invoke(app, ["stream", "--help"])
    assert res.exit_code == 0 and "--feed" in res.output


def test_latency_histogram_batched_equals_one_observe_per_value() -> None:
    import numpy as np
    from prometheus_client import generate_latest

    from jonbu_stream.metrics import StreamMetrics

    vals = np.array([0.00005, 0.0001, 0.00025, 0.0003, 0.001, 0.002, 0.05, 7.0, -1.0])
    batched, one_by_one = StreamMetrics(), StreamMetrics()
    batched.observe_latency(vals[:4])
    batched.observe_latency(vals[4:])
    for v in vals.tolist():
        one_by_one.latency.observe(max(0.0, v))

    def lines(m: StreamMetrics) -> list[str]:
        return [x for x in m.render().decode().splitlines() if "trade_to_bus" in x and "_created" not in x]

    assert lines(batched) == lines(one_by_one) and len(lines(batched)) > 10
    assert generate_latest(batched.registry)  # rendering flushed: nothing left queued
    assert not batched._latency_pending


async def test_busy_poll_keeps_the_loop_polling_while_trades_flow_then_parks(data_dir) -> None:  # type: ignore[no-untyped-def]
    """``stream_busy_poll_seconds``: the loop never sleeps while trades flow; it parks once they stop."""
    import time

    import numpy as np

    from jonbu_core.aggregation import TradeBatch

    s = load_settings(data_dir=data_dir, stream_busy_poll_seconds=0.3)
    store = open_store(s)
    bus = MemoryBus()
    await bus.start()
    daemon = StreamDaemon(s, store, bus, None, symbols=["AAPL"], partial_interval=0.0)
    assert daemon.busy_poll_ns == 300_000_000 and daemon._spin_wake is not None
    daemon.symbols.add("AAPL")
    wake = daemon._spin_wake
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    timeouts: list[float | None] = []
    select = selector.select

    def recording_select(timeout: float | None = None) -> list[object]:
        timeouts.append(timeout)
        return select(timeout)  # type: ignore[no-any-return]

    selector.select = recording_select
    try:
        spin = asyncio.create_task(daemon._busy_poll(wake))
        daemon.on_trades(TradeBatch.from_lists([0], [time.time_ns()], [100.0], [10.0]))
        assert wake.is_set()
        await asyncio.sleep(0.1)  # trades "flow": the loop polls (timeout 0) instead of sleeping 0.1 s
        busy = list(timeouts)
        assert len(busy) > 100 and all(t == 0 for t in busy[1:]), busy[:10]
        await asyncio.sleep(0.5)  # no trade for longer than the window: parked
        assert not wake.is_set()
        timeouts.clear()
        await asyncio.sleep(0.1)
        assert 1 <= len(timeouts) <= 5 and max(t or 0 for t in timeouts) > 0.05  # sleeping again
    finally:
        selector.select = select
    daemon.on_trades(TradeBatch.from_lists([0], [time.time_ns()], [101.0], [10.0]))  # the next trade wakes it
    assert wake.is_set() and daemon.status()["hot_path"]["busy_poll_s"] == 0.3
    assert daemon.agg.batches == 2 and not spin.done()
    spin.cancel()
    await bus.close()
    store.close()
    assert np.isfinite(daemon.agg.last_price[0])


async def test_trades_stamped_too_far_in_the_future_are_dropped_and_counted(data_dir) -> None:  # type: ignore[no-untyped-def]
    import time

    from jonbu_core.aggregation import TradeBatch

    s = load_settings(data_dir=data_dir)
    store = open_store(s)
    bus = MemoryBus()
    await bus.start()
    daemon = StreamDaemon(s, store, bus, None, symbols=["AAPL"], partial_interval=0.0, future_tolerance=60.0)
    daemon.symbols.add("AAPL")
    now = time.time_ns()
    hour = 3600 * 1_000_000_000
    daemon.on_trades(TradeBatch.from_lists([0, 0, 0], [now, now + hour, now + 1], [100.0, 999.0, 101.0], [1.0] * 3))
    daemon.on_trades(TradeBatch.from_lists([0], [now + 2 * hour], [999.0], [1.0]))  # nothing left
    st = daemon.status()
    assert st["trades"]["invalid"] == 2 and st["trades"]["accepted"] == 2 and daemon.agg.trades == 2
    assert daemon.agg.last_price[0] == 101.0
    await bus.close()
    store.close()
