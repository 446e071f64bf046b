"""Graceful shutdown under load: SIGTERM to ``serve``, ``stream`` and ``up`` loses nothing and exits 0."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
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

logger = logging.getLogger(__name__)

CLOSE_CODES = (1001,)  # "going away": the hub closes every client before uvicorn would (1012)


def _count_1m(pg_url: str, symbol: str, source: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*) FROM bars WHERE symbol = %s AND timeframe = '1m' AND source = %s",
                           (symbol, source)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.timeout(120)
async def test_serve_sigterm_drains_requests_and_closes_websockets(
    procs: Procs, stack_env: dict[str, str], data_dir: Path, fresh_pg_url: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = procs.start("api", ["serve", "--port", str(port)], base_env(data_dir, **stack_env))
    await wait_healthy(url, api)
    clients = [WsClient(f"c{j}", f"ws://127.0.0.1:{port}/ws") for j in range(3)]
    await asyncio.gather(*(c.connect(["AAPL", "MSFT"], ["1m", "5m"]) for c in clients))

    # Two long requests in flight: console fetches (ndjson). The answer starts at once; the
    # provider and the store writes take a few seconds more, with the progress at the end.
    symbols = ["AAPL", "MSFT"]
    started = {s: asyncio.Event() for s in symbols}
    ended: dict[str, float] = {}

    async def fetch(http: httpx.AsyncClient, sym: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        body = {"command": f"fetch {sym} --start 2024-01-02 --end 2024-01-12 --provider mock"}
        async with http.stream("POST", url + "/api/v1/console", json=body) as r:
            assert r.status_code == 200, await r.aread()
            async for line in r.aiter_lines():
                if not line:
                    continue
                events.append(json.loads(line))
                if events[-1]["type"] == "start":
                    started[sym].set()
                elif events[-1]["type"] == "end":
                    ended[sym] = time.monotonic()
        return events

    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as http:
        tasks = [asyncio.create_task(fetch(http, s)) for s in symbols]
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 60)
        except TimeoutError:
            raise AssertionError(f"the fetches did not start\n{api.tail()}") from None
        assert not ended, "a fetch finished before the signal: nothing was in flight"
        signalled = time.monotonic()
        api.send(signal.SIGTERM)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        codes = [await c.wait_closed(15) for c in clients]
        rc = await api.await_exit(20)
        stopped = time.monotonic() - signalled
    assert rc == 0, api.tail()
    assert codes == [codes[0]] * len(codes) and codes[0] in CLOSE_CODES, (codes, api.tail())
    assert stopped < 20
    for sym, events in zip(symbols, results, strict=True):
        end = events[-1]
        assert end["type"] == "end" and end["ok"] is True and end["exit_code"] == 0, (sym, events[-3:])
        steps = [e for e in events if e["type"] == "progress"]
        assert steps[-1]["done"] == steps[-1]["total"] == 9, (sym, steps[-1])
        assert ended[sym] > signalled
        line = next(e["text"] for e in events if e["type"] == "line" and e["text"].startswith("received"))
        m = re.search(r"stored ([\d,]+), quarantined", line)
        assert m is not None, line
        stored = int(m.group(1).replace(",", ""))
        assert stored == 9 * 390 == _count_1m(fresh_pg_url, sym, "mock"), (sym, line)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/api/v1/health", timeout=2)
    logger.info("serve stopped %.1fs after SIGTERM with 2 fetches in flight; WS close %s", stopped, codes[0])


@pytest.mark.timeout(120)
async def test_stream_sigterm_flushes_every_closed_bar(
    procs: Procs, stack_env: dict[str, str], data_dir: Path, redis_url: str, redis_prefix: str, fresh_pg_url: str
) -> None:
    symbols = ["AAPL", "MSFT", "NVDA"]
    daemon = procs.start("stream", ["stream", "--feed", "replay", "--symbols", ",".join(symbols),
                                    "--start", "2024-01-02T14:30:00Z", "--end", "2024-01-02T21:00:00Z",
                                    "--speed", "300"], base_env(data_dir, **stack_env))
    await until(lambda: len(stored_1m(fresh_pg_url)) >= 30, 60, "closed bars in the store", procs)
    closed_before = {(k[0], k[2]) for k, _c in bus_finals(redis_url, redis_prefix) if k[1] == "1m"}
    stored_before = len(stored_1m(fresh_pg_url))
    signalled = time.monotonic()
    daemon.send(signal.SIGTERM)
    rc = await daemon.await_exit(20)
    stopped = time.monotonic() - signalled
    assert rc == 0, daemon.tail()
    out = daemon.output()
    assert "stream stopped cleanly" in out, daemon.tail()

    stored = stored_1m(fresh_pg_url)
    bus = bus_finals(redis_url, redis_prefix)
    assert closed_before <= set(stored), f"closed before SIGTERM but not stored: {sorted(closed_before - set(stored))[:5]}"
    # Everything the daemon closed and published (before and during shutdown) is stored, with the same values.
    assert_same_bars(last_revisions(bus), stored, "bus vs store")
    summary = stream_summary(out)
    assert summary["trades"] > 0 and summary["bars_closed"] == sum(1 for k, _c in bus if k[3] == 0), summary
    assert summary["stored"] >= len(stored), summary
    assert len(stored) < 3 * 390, "the replay ended before the signal: nothing was stopped mid-stream"
    logger.info("stream stopped %.1fs after SIGTERM: %d 1m bars stored (%d when signalled), %s",
                stopped, len(stored), stored_before, summary)


@pytest.mark.timeout(150)
async def test_up_sigterm_stops_cleanly(procs: Procs, data_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    up = procs.start("up", ["up", "--no-dagster", "--history-days", "2", "--port", str(port),
                            "--symbols", "AAPL,MSFT"], base_env(data_dir))
    await wait_healthy(url, up, timeout=100)
    client = WsClient("c0", f"ws://127.0.0.1:{port}/ws")
    await client.connect(["AAPL"], ["1m"])
    try:
        await until(lambda: client.partials > 0, 30, "live candles from the in-process stream", procs)
        signalled = time.monotonic()
        up.send(signal.SIGTERM)
        code = await client.wait_closed(15)
        rc = await up.await_exit(30)
        stopped = time.monotonic() - signalled
    finally:
        await client.close()
    assert rc == 0, up.tail()
    assert code in CLOSE_CODES, (code, up.tail())
    assert "stopped cleanly" in up.output(), up.tail()
    assert stopped < 30
    logger.info("up stopped %.1fs after SIGTERM; WS close %s", stopped, code)
