"""Multi-process proof: two API processes and one stream daemon over Postgres and the Redis bus.

Every WebSocket client, on either API, receives every closed bar (and revision) exactly
once and in publication order; they equal what the daemon stored in Postgres. After a
``kill -9`` of one API mid-stream, the clients of the other one still receive everything.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

import pytest

from tests.system.support import (
    Procs,
    WsClient,
    assert_same_bars,
    base_env,
    bus_finals,
    free_port,
    last_revisions,
    stored_1m,
    stream_summary,
    until,
    wait_healthy,
)

SYMBOLS = ["AAPL", "MSFT", "NVDA"]
TIMEFRAMES = ["1m", "5m"]
START, END = "2024-01-02T14:30:00Z", "2024-01-02T15:30:00Z"
SPEED = 240.0  # simulated seconds per wall second: the hour replays in 15 s, a 1m bar closes every 0.25 s
CLIENTS_PER_API = 3

logger = logging.getLogger(__name__)


@pytest.mark.timeout(150)
async def test_two_apis_one_daemon_every_client_gets_every_closed_bar_once(
    procs: Procs, stack_env: dict[str, str], data_dir: Path, redis_url: str, redis_prefix: str, fresh_pg_url: str
) -> None:
    t0 = time.monotonic()
    env = base_env(data_dir, **stack_env)
    ports = [free_port(), free_port()]
    apis = [procs.start(f"api{i}", ["serve", "--port", str(p)], env) for i, p in enumerate(ports)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    await asyncio.gather(*(wait_healthy(u, a) for u, a in zip(urls, apis, strict=True)))
    logger.info("APIs healthy after %.1fs", time.monotonic() - t0)
    clients = [[WsClient(f"api{i}-c{j}", url.replace("http://", "ws://") + "/ws") for j in range(CLIENTS_PER_API)]
               for i, url in enumerate(urls)]
    everyone = [c for cs in clients for c in cs]
    try:
        # Subscribed before the daemon publishes anything: nothing can come twice (live + latest).
        await asyncio.gather(*(c.connect(SYMBOLS, TIMEFRAMES) for c in everyone))
        daemon = procs.start("stream", ["stream", "--feed", "replay", "--symbols", ",".join(SYMBOLS),
                                        "--start", START, "--end", END, "--speed", str(SPEED)], env)

        def published() -> list[tuple[str, str, str, int]]:
            return [k for k, _c in bus_finals(redis_url, redis_prefix) if k[0] in SYMBOLS and k[1] in TIMEFRAMES]

        # --- both APIs serving: every client sees the same closed bars, in the bus's order.
        await until(lambda: all(len(c.finals) >= 24 for c in everyone), 60, "closed bars on every client", procs)
        seen = min(len(c.finals) for c in everyone)
        logger.info("%d closed bars on every client after %.1fs", seen, time.monotonic() - t0)
        bus_now = published()
        for c in everyone:
            assert c.finals[:seen] == bus_now[:seen], f"{c.name} differs from the bus"
        assert daemon.alive(), daemon.tail()

        # --- kill -9 one API mid-stream.
        apis[0].send(signal.SIGKILL)
        assert apis[0].wait(10) == -signal.SIGKILL
        at_kill = len(published())
        for c in clients[0]:
            assert await c.wait_closed(10) == 1006, f"{c.name}: expected an abnormal close (1006)"

        assert await daemon.await_exit(60) == 0, daemon.tail()
        logger.info("daemon done after %.1fs", time.monotonic() - t0)
        bus = bus_finals(redis_url, redis_prefix)
        everything = [k for k, _c in bus if k[0] in SYMBOLS and k[1] in TIMEFRAMES]
        assert len(everything) > at_kill, "the kill was not mid-stream: nothing was published after it"
        await until(lambda: all(len(c.finals) >= len(everything) for c in clients[1]), 20,
                     "every closed bar on the surviving API's clients", procs)
        await asyncio.sleep(0.5)  # a duplicate would arrive now

        # The survivors got everything exactly once, in order; the dead API's clients a clean prefix.
        for c in clients[1]:
            assert c.finals == everything, f"{c.name}: lost, repeated or reordered closed bars"
            assert c.partials > 0, f"{c.name}: no partial update came through"
        for c in clients[0]:
            assert c.finals == everything[: len(c.finals)], f"{c.name}: not a prefix of the bus"
            assert seen <= len(c.finals) < len(everything)

        # The closed bars equal what the daemon stored in Postgres (newest revision of each 1m bar).
        stored = stored_1m(fresh_pg_url)
        assert len(stored) >= 50 * len(SYMBOLS), f"only {len(stored)} 1m bars stored"
        assert_same_bars(last_revisions(bus), stored, "bus vs store")
        for c in clients[1]:
            got = [(k, c.candles[k]) for k in c.finals]
            assert_same_bars(last_revisions(got), stored, f"{c.name} vs store")
        summary = stream_summary(daemon.output())
        assert summary["bars_closed"] == sum(1 for k, _c in bus if k[3] == 0), summary
        assert summary["stored"] >= len(stored), summary

        # The surviving API shuts down cleanly: close frames, exit 0.
        apis[1].send(signal.SIGTERM)
        for c in clients[1]:
            assert await c.wait_closed(15) == 1001, f"{c.name}: close code {c.close_code}"
        assert await apis[1].await_exit(20) == 0, apis[1].tail()
    finally:
        await asyncio.gather(*(c.close() for c in everyone))
    logger.info(f"multi-process proof: {len(everything)} closed bars x {len(clients[1])} clients, "
          f"{len(stored)} stored, kill at {at_kill}, {time.monotonic() - t0:.1f}s")
