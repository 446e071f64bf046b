"""Benchmark of the API: history formats, ``latest`` throughput, WebSocket fan-out.

Run: ``.venv/bin/python bench/api.py`` (about a minute on 2 cores).

1. **History**: one symbol-year of 1m bars (2023, 97,500 bars) written to a lake store,
   then ``GET /history`` of the whole year in json, csv, arrow and parquet from a real
   uvicorn (median of 3 after a warm-up; time to the last byte), next to the store's
   own ``read_bars`` of the same range in-process (the floor).
2. **latest**: requests/s at concurrency 50 from a separate load process (a minimal
   keep-alive HTTP/1.1 client on loopback), for a symbol served from the store and one
   whose live bar comes from the bus; the baseline is a trivial FastAPI route in the
   same server answering a constant candle (the framework's floor).
3. **WebSocket fan-out**: 1,000 clients (each subscribed to one of 200 symbols) while
   the server's in-process bus gets 2,000 updates/s (5 % closed bars), first with 1,000
   normal clients (baseline), then with 990 normal and 10 slow clients (tiny receive
   buffer, one message read per 100 ms, subscribed to every symbol). Delivery latency
   is receive time minus publish time (``time.monotonic`` is system-wide on Linux; the
   publisher writes it into the candle's ``volume``).

   Also reported per phase: CPU of the server process (publisher included) and of the
   client process, and the server's GC collections and longest pause while publishing.

The server runs with auth on (one key), a rate limit too high to trigger, log level
WARNING, WebSocket per-message compression off and under :class:`jonbu_api.server.Server`
(as ``jonbu-ohlcv serve``: GC frozen and its thresholds raised after startup;
``JONBU_BENCH_GC_FREEZE=0`` runs plain ``uvicorn.Server`` for comparison,
``JONBU_BENCH_WS=wsproto|websockets`` another WebSocket implementation), and a 64 KiB
socket send buffer (see :func:`serve`). Every figure is sensitive to other work on the
machine: the load average is recorded next to each phase. Writes ``bench/results/api.json``
and ``api.png`` (delivery latency percentiles of both fan-out phases).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import figure, write_result

SYMBOL = "BENCH"
YEAR = (date(2023, 1, 1), date(2023, 12, 31))
WS_SYMBOLS = 200
WS_RATE = 2000
WS_SECONDS = 10.0
WS_FINAL_EVERY = 20
LOAD_SECONDS = 5.0
CONCURRENCY = 50
PERCENTILES = (50, 75, 90, 95, 99, 99.9)


# ---------------------------------------------------------------------- data
def year_of_bars() -> Any:
    import numpy as np
    import pyarrow as pa

    from jonbu_core import calendar as cal
    from jonbu_core.models import BAR_SCHEMA

    ts = cal.expected_minutes(*YEAR).astype("datetime64[us]").astype("int64")
    n = len(ts)
    rng = np.random.default_rng(3)
    close = 150.0 * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))
    open_ = np.concatenate([[150.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.02, n))
    return pa.table(
        {
            "symbol": [SYMBOL] * n, "timeframe": ["1m"] * n,
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "open": open_, "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
            "close": close, "volume": rng.integers(100, 50_000, n).astype("float64"),
            "trade_count": rng.integers(1, 500, n), "vwap": (open_ + close) / 2, "source": ["mock"] * n,
        },
        schema=BAR_SCHEMA,
    )


# -------------------------------------------------------------------- server
def serve(port: int, data_dir: str) -> None:
    """The server process: the real app plus a few bench-only routes."""
    import uvicorn
    from fastapi import FastAPI
    from starlette.responses import Response

    from jonbu_api.main import create_app
    from jonbu_api.server import Server
    from jonbu_core.bus.base import CandleEvent
    from jonbu_core.bus.memory import MemoryBus
    from jonbu_core.logging import setup_logging
    from jonbu_core.models import Candle
    from jonbu_core.settings import load_settings

    settings = load_settings(data_dir=Path(data_dir), rate_limit="1000000000/minute", auth="on",
                             log_level="WARNING")
    setup_logging("WARNING")
    bus = MemoryBus(queue_size=200_000)
    app: FastAPI = create_app(settings, bus=bus, frontend_dist=Path("/nonexistent"))
    constant = json.dumps({"symbol": SYMBOL, "timeframe": "1m", "candle": {
        "ts": "2023-12-29T20:59:00Z", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0,
        "trade_count": 1, "vwap": 1.0}, "final": True, "source": "store"}).encode()
    tasks: set[asyncio.Task[None]] = set()
    gc_stats: dict[str, float] = {"collections": 0, "gen2": 0, "pause_total_ms": 0.0, "pause_max_ms": 0.0,
                                  "cpu_total_ms": 0.0, "cpu_max_ms": 0.0, "gen2_cpu_max_ms": 0.0}
    gc_t0 = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        """How long the interpreter stops for GC: wall time (includes being descheduled on a
        busy machine) and the thread's CPU time (the collection's own cost)."""
        if phase == "start":
            gc_t0[0], gc_t0[1] = time.perf_counter(), time.thread_time()
            return
        ms = (time.perf_counter() - gc_t0[0]) * 1000
        cpu = (time.thread_time() - gc_t0[1]) * 1000
        gc_stats["collections"] += 1
        gc_stats["pause_total_ms"] += ms
        gc_stats["pause_max_ms"] = max(gc_stats["pause_max_ms"], ms)
        gc_stats["cpu_total_ms"] += cpu
        gc_stats["cpu_max_ms"] = max(gc_stats["cpu_max_ms"], cpu)
        if info.get("generation") == 2:
            gc_stats["gen2"] += 1
            gc_stats["gen2_cpu_max_ms"] = max(gc_stats["gen2_cpu_max_ms"], cpu)

    gc.callbacks.append(on_gc)

    async def baseline() -> Response:
        return Response(constant, media_type="application/json")

    async def publish(rate: int, seconds: float, symbols: int, final_every: int) -> dict[str, Any]:
        names = [f"S{i:03d}" for i in range(symbols)]
        total = int(rate * seconds)
        for k in gc_stats:  # GC figures per publishing phase
            gc_stats[k] = 0

        async def run() -> None:
            t0 = time.monotonic()
            sent = 0
            bar = datetime(2024, 1, 2, 15, tzinfo=UTC)
            while sent < total:
                due = min(total, int((time.monotonic() - t0) * rate) + 1)
                while sent < due:
                    final = (sent // symbols) % final_every == final_every - 1
                    c = Candle(ts=bar, open=100.0, high=101.0, low=99.0, close=100.5, volume=time.monotonic(),
                               trade_count=sent)
                    bus.publish_nowait(CandleEvent(names[sent % symbols], "1m", c, final=final,
                                                   kind="closed" if final else "partial"))
                    sent += 1
                await asyncio.sleep(0.002)

        task = asyncio.create_task(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return {"events": total}

    async def live() -> dict[str, Any]:
        c = Candle(ts=datetime(2024, 1, 2, 15, tzinfo=UTC), open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0)
        await bus.publish(CandleEvent("LIVE", "1m", c, final=False))
        return {"ok": True}

    async def stats() -> dict[str, Any]:
        return {**app.state.jonbu.hub.stats(), "gc": {**gc_stats, "frozen": gc.get_freeze_count()}}

    app.add_api_route("/bench/baseline", baseline, include_in_schema=False)
    app.add_api_route("/bench/publish", publish, methods=["POST"], include_in_schema=False)
    app.add_api_route("/bench/live", live, methods=["POST"], include_in_schema=False)
    app.add_api_route("/bench/stats", stats, include_in_schema=False)
    # Accepted sockets inherit SO_SNDBUF from the listener: 64 KiB instead of Linux's loopback
    # autotuning (up to 4 MiB per connection), so a stalled client's backlog reaches the hub's
    # queue (conflation, then close 1013) within seconds rather than after 4 MiB of kernel buffer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    config = uvicorn.Config(app, log_level="warning", access_log=False, log_config=None,
                            ws_per_message_deflate=False, ws=os.environ.get("JONBU_BENCH_WS", "auto"))  # type: ignore[arg-type]
    # jonbu_api's Server, as `jonbu-ohlcv serve`: GC frozen after startup, 1001 on shutdown.
    # JONBU_BENCH_GC_FREEZE=0 measures plain uvicorn.Server instead.
    server_cls = Server if os.environ.get("JONBU_BENCH_GC_FREEZE", "1") != "0" else uvicorn.Server
    server_cls(config).run(sockets=[sock])


# ------------------------------------------------------------ load: latest
async def load_latest(port: int, path: str, key: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """Requests/s of ``GET path`` with ``concurrency`` keep-alive connections."""
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n".encode()
    statuses: dict[int, int] = {}
    lat: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                i = head.lower().find(b"content-length:")
                length = int(head[i + 15: head.find(b"\r\n", i)]) if i >= 0 else 0
                await reader.readexactly(length)
                lat.append(time.perf_counter() - t0)
                status = int(head[9:12])
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - t0
    lat.sort()
    return {"rps": sum(statuses.values()) / elapsed, "statuses": statuses,
            "p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000}


# ---------------------------------------------------------------- load: ws
class WsClient(asyncio.Protocol):
    """A lean WebSocket client (RFC 6455 framing by hand) so 1,000 of them fit in one
    Python process without the client becoming the bottleneck being measured."""

    def __init__(self, path: str, subscribe: bytes, kind: str, stats: dict[str, Any]) -> None:
        self.path, self.subscribe, self.kind, self.stats = path, subscribe, kind, stats
        self.buf = bytearray()
        self.handshaken = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def send_text(self, payload: bytes, opcode: int = 1) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(head + mask + masked)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buf += data
        if not self.handshaken:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(self.buf[:200]).decode(errors="replace")))
                return
            del self.buf[: end + 4]
            self.handshaken = True
            self.send_text(self.subscribe)
        buf = self.buf
        while len(buf) >= 2:
            opcode, n, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                return
            payload = bytes(buf[off: off + n])
            del buf[: off + n]
            if opcode == 1:
                self.on_message(payload, now)
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.closed.done():
                    self.closed.set_result(code)
            elif opcode == 9:
                self.send_text(payload, opcode=10)

    def on_message(self, payload: bytes, now: float) -> None:
        import orjson

        d = orjson.loads(payload)
        kind = d.get("type")
        if kind == "subscribed" and not self.ready.done():
            self.ready.set_result(None)
        elif kind == "candle":
            st = self.stats
            st["received"][self.kind] += 1
            if self.kind == "normal" and st["t0"] is not None and now - st["t0"] > 1.0:
                st["lat"].append(now - d["candle"]["volume"])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(1006)


async def load_ws(port: int, key: str, normal: int, slow: int) -> dict[str, Any]:
    """Connect the clients, start the publisher, measure delivery latency.

    Normal clients read everything as it comes; slow ones stop reading (their kernel
    buffers fill, then the server's queue) until the end, when they read again to
    see how the server closed them.
    """
    import httpx
    import orjson

    loop = asyncio.get_running_loop()
    names = [f"S{i:03d}" for i in range(WS_SYMBOLS)]
    stats: dict[str, Any] = {"received": {"normal": 0, "slow": 0}, "lat": [], "t0": None}
    sem = asyncio.Semaphore(64)

    async def open_client(symbols: list[str], kind: str) -> WsClient:
        msg = orjson.dumps({"action": "subscribe", "symbols": symbols, "timeframes": ["1m"]})
        async with sem:
            _, proto = await loop.create_connection(
                lambda: WsClient(f"/ws?api_key={key}", msg, kind, stats), "127.0.0.1", port
            )
            await asyncio.wait_for(proto.ready, 30)
            if kind == "slow":
                proto.transport.pause_reading()
            return proto

    normals = await asyncio.gather(*(open_client([names[i % WS_SYMBOLS]], "normal") for i in range(normal)))
    slows = await asyncio.gather(*(open_client(names, "slow") for _ in range(slow)))
    cpu0 = time.process_time()
    wait0 = _run_queue_wait_s(os.getpid())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        stats["t0"] = time.monotonic()
        r = await http.post("/bench/publish", params={"rate": WS_RATE, "seconds": WS_SECONDS,
                                                      "symbols": WS_SYMBOLS, "final_every": WS_FINAL_EVERY})
        r.raise_for_status()
        await asyncio.sleep(WS_SECONDS + 1.0)
        hub = (await http.get("/bench/stats")).json()
    client_cpu = time.process_time() - cpu0
    client_wait = _run_queue_wait_s(os.getpid()) - wait0
    for c in slows:  # read again: the server's close frame is behind whatever was buffered
        c.transport.resume_reading()

    async def close_code(c: WsClient) -> int:
        try:
            return await asyncio.wait_for(asyncio.shield(c.closed), 15)
        except TimeoutError:
            return 0  # never closed

    codes = list(await asyncio.gather(*(close_code(c) for c in slows)))
    normal_closed = sum(1 for c in normals if c.closed.done())
    for c in [*normals, *slows]:
        c.transport.abort()
    lat = sorted(stats["lat"])
    pick = (lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] * 1000) if lat else (lambda q: float("nan"))
    received = stats["received"]
    return {
        "normal": normal, "slow": slow, "samples": len(lat), "p50_ms": pick(0.5), "p99_ms": pick(0.99),
        "percentiles_ms": {str(q): pick(q / 100) for q in PERCENTILES},
        "max_ms": lat[-1] * 1000 if lat else float("nan"), "received": received,
        "normal_closed": normal_closed, "slow_closed": codes, "client_cpu_s": client_cpu,
        "client_run_queue_wait_s": client_wait,
        "delivered_per_s": received["normal"] / WS_SECONDS, "hub": hub,
    }


# --------------------------------------------------------------- orchestration
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_queue_wait_s(pid: int) -> float:
    """Seconds the threads of a process spent runnable but waiting for a CPU (Linux
    ``schedstat``): time other work on the machine took from it. 0 where unavailable."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    except OSError:
        return 0.0
    return total / 1e9


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sub(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load process failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _median_ms(fn: Any, runs: int = 3) -> tuple[float, Any]:
    fn()
    times, last = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        last = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), last


def main() -> None:
    import httpx

    from jonbu_api.auth import FileKeyStore, key_file
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store

    data_dir = Path(tempfile.mkdtemp(prefix="jonbu-bench-api-"))
    figures: list[dict[str, Any]] = []
    meta: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    server = None
    try:
        settings = load_settings(data_dir=data_dir)
        store = open_store(settings)
        table = year_of_bars()
        store.write_bars(table)
        n = table.num_rows
        start, end = "2023-01-01", "2023-12-31"
        from jonbu_core.timeutil import parse_end, parse_start

        raw_ms, page = _median_ms(lambda: store.read_bars(SYMBOL, "1m", parse_start(start), parse_end(end)))
        assert page.table.num_rows == n
        store.close()
        _, key = FileKeyStore(key_file(data_dir)).create("bench", "admin")
        figures.append(figure(f"store read_bars, 1 symbol-year of 1m bars ({n:,})", raw_ms, "ms",
                              higher_is_better=False, note="in-process, lake store: the floor of every format"))

        port = _free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(data_dir)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + (server.stderr.read().decode() if server.stderr else ""))
            time.sleep(0.2)

        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as http:
            for fmt in ("json", "csv", "arrow", "parquet"):
                def get(fmt: str = fmt) -> int:
                    r = http.get(f"/api/v1/ohlcv/{SYMBOL}/history",
                                 params={"start": start, "end": end, "format": fmt})
                    r.raise_for_status()
                    return len(r.content)

                ms, size = _median_ms(get)
                mb = size / 1e6
                meta[f"history_{fmt}_bytes"] = size
                figures.append(figure(f"history {fmt}, 1 symbol-year 1m ({n:,} bars, {mb:.1f} MB)", ms, "ms",
                                      baseline=("store read_bars", raw_ms), target=("<=", 1000.0),
                                      higher_is_better=False, note=f"{mb / (ms / 1000):.0f} MB/s, real uvicorn"))
                figures.append(figure(f"history {fmt} throughput", mb / (ms / 1000), "MB/s"))
            http.post("/bench/live").raise_for_status()

        res = {name: _sub("--load-latest", str(port), path, key)
               for name, path in (("baseline", "/bench/baseline"), ("store", f"/api/v1/ohlcv/{SYMBOL}"),
                                  ("live", "/api/v1/ohlcv/LIVE"))}
        meta["latest"] = res
        for name in ("store", "live"):
            assert set(res[name]["statuses"]) == {"200"}, res[name]
        figures.append(figure("latest rps, c=50, bar from the store", res["store"]["rps"], "req/s",
                              baseline=("trivial FastAPI route, same server", res["baseline"]["rps"]),
                              target=(">=", 1000.0),
                              note=f"p50 {res['store']['p50_ms']:.1f} ms, p99 {res['store']['p99_ms']:.1f} ms; "
                                   "stored bars are cached 1 s"))
        figures.append(figure("latest rps, c=50, live bar from the bus", res["live"]["rps"], "req/s",
                              baseline=("trivial FastAPI route, same server", res["baseline"]["rps"]),
                              target=(">=", 1000.0),
                              note=f"p50 {res['live']['p50_ms']:.1f} ms, p99 {res['live']['p99_ms']:.1f} ms"))

        load0 = os.getloadavg()[0]
        cpu0, wait0 = _cpu_seconds(server.pid), _run_queue_wait_s(server.pid)
        calm = _sub("--load-ws", str(port), key, "1000", "0")
        cpu1, wait1 = _cpu_seconds(server.pid), _run_queue_wait_s(server.pid)
        load1 = os.getloadavg()[0]
        mixed = _sub("--load-ws", str(port), key, "990", "10")
        calm["server_cpu_s"], mixed["server_cpu_s"] = cpu1 - cpu0, _cpu_seconds(server.pid) - cpu1
        calm["server_run_queue_wait_s"] = wait1 - wait0
        mixed["server_run_queue_wait_s"] = _run_queue_wait_s(server.pid) - wait1
        calm["load_average_1m"] = [load0, load1]
        mixed["load_average_1m"] = [load1, os.getloadavg()[0]]
        meta["ws"] = {"calm": calm, "with_slow": mixed, "symbols": WS_SYMBOLS, "rate": WS_RATE,
                      "seconds": WS_SECONDS, "final_every": WS_FINAL_EVERY}
        figures.append(figure("ws p99 delivery, 1,000 clients incl. 10 slow, 2,000 updates/s", mixed["p99_ms"],
                              "ms", baseline=("p99 with no slow client", calm["p99_ms"]), target=("<=", 50.0),
                              higher_is_better=False,
                              note=f"{mixed['samples']:,} samples; max {mixed['max_ms']:.0f} ms; load average "
                                   f"{mixed['load_average_1m'][0]:.2f}→{mixed['load_average_1m'][1]:.2f} "
                                   f"(no slow client: {calm['load_average_1m'][0]:.2f}→{calm['load_average_1m'][1]:.2f})"))
        figures.append(figure("ws p50 delivery, 1,000 clients incl. 10 slow", mixed["p50_ms"], "ms",
                              baseline=("p50 with no slow client", calm["p50_ms"]), higher_is_better=False))
        figures.append(figure("ws messages delivered to normal clients", mixed["delivered_per_s"], "msg/s",
                              baseline=("with no slow client", calm["delivered_per_s"])))
        figures.append(figure("slow clients disconnected (close 1013)", len(mixed["slow_closed"]), "clients",
                              target=(">=", 10.0), note=f"close codes {sorted(set(mixed['slow_closed']))}"))
        elapsed = WS_SECONDS + 1.0
        figures.append(figure("ws server CPU, 990 normal + 10 slow clients", mixed["server_cpu_s"] / elapsed * 100,
                              "% of a core", baseline=("with no slow client", calm["server_cpu_s"] / elapsed * 100),
                              higher_is_better=False,
                              note=f"publisher included; load average {mixed['load_average_1m'][0]:.2f}"
                                   f"→{mixed['load_average_1m'][1]:.2f} (2 cores)"))
        figures.append(figure("ws client process CPU (1,000 clients)", mixed["client_cpu_s"] / elapsed * 100,
                              "% of a core", baseline=("with no slow client", calm["client_cpu_s"] / elapsed * 100),
                              higher_is_better=False, note="a separate process, same machine"))
        figures.append(figure("ws server time waiting for a CPU (run queue), 990 normal + 10 slow",
                              mixed["server_run_queue_wait_s"] * 1000, "ms",
                              baseline=("with no slow client", calm["server_run_queue_wait_s"] * 1000),
                              higher_is_better=False,
                              note="runnable but not running (other processes had the CPUs); clients waited "
                                   f"{mixed['client_run_queue_wait_s'] * 1000:.0f} ms "
                                   f"(no slow client: {calm['client_run_queue_wait_s'] * 1000:.0f} ms)"))
        gc_mixed, gc_calm = mixed["hub"]["gc"], calm["hub"]["gc"]
        figures.append(figure("ws server longest GC pause during fan-out", gc_mixed["pause_max_ms"], "ms",
                              baseline=("with no slow client", gc_calm["pause_max_ms"]), higher_is_better=False,
                              note=f"{gc_mixed['collections']:.0f} collections, {gc_mixed['gen2']:.0f} full; "
                                   f"GC CPU {gc_mixed['cpu_total_ms']:.0f} ms in {elapsed:.0f} s"))
        figures.append(figure("normal clients disconnected", mixed["normal_closed"] + calm["normal_closed"],
                              "clients", target=("<=", 0.0), higher_is_better=False))
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    meta["load_average_at_end"] = os.getloadavg()
    print(f"load average (1, 5, 15 min): start {meta['load_average_at_start']}, end {meta['load_average_at_end']}")
    path = write_result("api", figures, **meta)
    if "ws" in meta:
        print(f"chart: {_latency_chart(meta['ws'], path.with_suffix('.png'))}")


def _latency_chart(ws: dict[str, Any], path: Path) -> Path | None:
    """Delivery latency percentiles of both fan-out phases against the 50 ms target."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.6))
    xs = [str(q) for q in PERCENTILES]
    for key, label in (("calm", "1,000 normal clients"), ("with_slow", "990 normal + 10 slow")):
        ph = ws[key]
        ys = [ph["percentiles_ms"][str(q)] for q in PERCENTILES]
        load = ph["load_average_1m"]
        ax.plot(xs, ys, marker="o", label=f"{label} (load {load[0]:.1f}→{load[1]:.1f})")
    ax.axhline(50.0, color="#c62828", linestyle="--", linewidth=1, label="p99 target 50 ms")
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("delivery latency (ms)")
    ax.set_title(f"WebSocket fan-out: {ws['rate']:,} updates/s to 1,000 clients")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--load-latest":
        out = asyncio.run(load_latest(int(sys.argv[2]), sys.argv[3], sys.argv[4], LOAD_SECONDS, CONCURRENCY))
        print(json.dumps(out))
    elif len(sys.argv) > 1 and sys.argv[1] == "--load-ws":
        out = asyncio.run(load_ws(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
        print(json.dumps(out))
    else:
        os.environ.setdefault("JONBU_LOG_LEVEL", "WARNING")
        main()
