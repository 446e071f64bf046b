"""Event buses: the Redis bus against the real Redis, the memory bus, the factory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from jonbu_core.bus.base import CandleEvent
from jonbu_core.bus.factory import open_bus
from jonbu_core.bus.memory import MemoryBus
from jonbu_core.bus.redis import RedisBus
from jonbu_core.errors import ConfigError
from jonbu_core.models import Candle
from jonbu_core.settings import load_settings

T0 = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)


def closed(i: int, symbol: str = "AAPL") -> CandleEvent:
    c = Candle(ts=T0 + timedelta(minutes=i), open=1.0 + i, high=2.0 + i, low=0.5 + i, close=1.5 + i, volume=10.0 * i,
               trade_count=i, vwap=1.2 + i)
    return CandleEvent(symbol, "1m", c, final=True, revision=0, kind="closed")


def partial(i: int) -> CandleEvent:
    ev = closed(i)
    return CandleEvent(ev.symbol, ev.timeframe, ev.candle, final=False, kind="partial")


async def collect(bus: RedisBus, n: int, last_id: str | None = None, stop_after: int | None = None) -> list[CandleEvent]:
    got: list[CandleEvent] = []
    agen = bus.subscribe(last_id=last_id)
    try:
        async for ev in agen:
            if ev.final:
                got.append(ev)
            if len(got) >= (stop_after or n):
                break
    finally:
        await agen.aclose()
    return got


async def test_redis_subscriber_reconnecting_gets_every_closed_bar_once(redis_url: str, redis_prefix: str) -> None:
    pub = RedisBus(redis_url, redis_prefix)
    sub_bus = RedisBus(redis_url, redis_prefix)
    await pub.start()
    await sub_bus.start()
    try:
        first = asyncio.create_task(collect(sub_bus, 0, stop_after=10))
        await asyncio.sleep(0.3)
        for i in range(10):
            await pub.publish(closed(i))
            await pub.publish(partial(i))
        got1 = await asyncio.wait_for(first, 10)
        last_id = got1[-1].id
        assert last_id is not None
        # The subscriber is gone; bars keep coming while it is away.
        await pub.publish_many([closed(i) for i in range(10, 25)] + [partial(99)])
        # It reconnects from its last id: it receives bars 10..24 exactly once, then live ones.
        second = asyncio.create_task(collect(sub_bus, 20, last_id=last_id))
        await asyncio.sleep(0.3)
        await pub.publish_many([closed(i) for i in range(25, 30)])
        got2 = await asyncio.wait_for(second, 10)
        minutes = [int((e.candle.ts - T0).total_seconds() // 60) for e in got1 + got2]
        assert minutes == list(range(30))
        assert len({e.id for e in got1 + got2}) == 30
        assert got2[0].candle == closed(10).candle
        latest = await pub.latest("AAPL", "1m")
        assert latest is not None and latest.candle.ts == closed(29).candle.ts
        await pub.publish_stats({"running": True, "trades": {"total": 5}})
        assert (await sub_bus.get_stats()) == {"running": True, "trades": {"total": 5}}
    finally:
        await pub.close()
        await sub_bus.close()


async def test_redis_partials_reach_live_subscribers(redis_url: str, redis_prefix: str) -> None:
    bus = RedisBus(redis_url, redis_prefix)
    await bus.start()
    try:
        agen = bus.subscribe()
        task = asyncio.ensure_future(agen.__anext__())
        await asyncio.sleep(0.3)
        await bus.publish(partial(1))
        ev = await asyncio.wait_for(task, 5)
        assert ev.kind == "partial" and not ev.final and ev.id is None
        await agen.aclose()
    finally:
        await bus.close()


async def test_redis_down_raises_cleanly(redis_prefix: str) -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", redis_prefix)
    with pytest.raises(Exception):  # noqa: B017 - the redis client's ConnectionError
        await asyncio.wait_for(bus.start(), 10)
    await bus.close()


async def test_memory_bus_keeps_closed_bars_when_a_subscriber_lags() -> None:
    bus = MemoryBus(queue_size=5)
    await bus.start()
    agen = bus.subscribe()
    first = asyncio.ensure_future(agen.__anext__())
    await asyncio.sleep(0)
    await bus.publish_many([partial(i) for i in range(20)] + [closed(i) for i in range(10)])
    got = [await asyncio.wait_for(first, 1)]
    while len([e for e in got if e.final]) < 10:
        got.append(await asyncio.wait_for(agen.__anext__(), 1))
    assert [e.candle.ts for e in got if e.final] == [closed(i).candle.ts for i in range(10)]
    assert bus.dropped > 0
    await agen.aclose()
    await bus.close()


def test_factory() -> None:
    assert open_bus(load_settings()).name == "memory"
    assert open_bus(load_settings(bus="redis")).name == "redis"
    with pytest.raises(ConfigError):
        open_bus(load_settings(), "kafka")


def test_aggregator_events_build_their_candle_on_first_access_and_equal_eager_ones() -> None:
    import copy
    import pickle
    from dataclasses import FrozenInstanceError

    import numpy as np

    from jonbu_core.aggregation.types import KIND_CLOSED, KIND_PARTIAL, BarSnapshot, SymbolTable

    label = int(T0.timestamp()) * 1_000_000_000
    f = np.array
    snap = BarSnapshot(f([0, 1], np.int32), f([0, 1], np.int8), f([label, label], np.int64), f([1.0, 5.0]),
                       f([2.0, 6.0]), f([0.5, 4.0]), f([1.5, 5.5]), f([10.0, 0.0]), f([3, 0], np.int64),
                       f([1.2, np.nan]), f([0, 2], np.int32), f([KIND_PARTIAL, KIND_CLOSED], np.int8))
    a, b = snap.to_events(SymbolTable(["AAPL", "MSFT"]), ["1m", "5m"])
    assert a._candle is None and b._candle is None  # nothing built yet
    assert a == CandleEvent("AAPL", "1m", Candle(ts=T0, open=1.0, high=2.0, low=0.5, close=1.5, volume=10.0,
                                                 trade_count=3, vwap=1.2), final=False, kind="partial")
    assert b == CandleEvent("MSFT", "5m", Candle(ts=T0, open=5.0, high=6.0, low=4.0, close=5.5, volume=0.0,
                                                 trade_count=0, vwap=None), final=True, revision=2, kind="closed")
    assert a.candle is a.candle and a.candle.model_dump() == Candle(**a.candle.model_dump()).model_dump()
    assert CandleEvent.from_json(b.to_json()) == b and pickle.loads(pickle.dumps(b)) == b == copy.copy(b)
    assert hash(a) == hash(copy.deepcopy(a)) and repr(a).startswith("CandleEvent(symbol='AAPL', timeframe='1m'")
    with pytest.raises(FrozenInstanceError):
        a.final = True  # type: ignore[misc]
