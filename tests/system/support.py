"""Helpers of the system tests: real ``jonbu-ohlcv`` subprocesses, WebSocket clients, store and bus reads.

Everything talks to 127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]

#: (symbol, timeframe, ts, revision): one closed bar or one revision of it.
BarKey = tuple[str, str, str, int]


def cli() -> list[str]:
    """The ``jonbu-ohlcv`` console script of the running interpreter's environment."""
    exe = Path(sys.executable).with_name("jonbu-ohlcv")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "jonbu_cli.main"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a subprocess: ours minus JONBU_/APCA_ settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JONBU_", "APCA_"))}
    env.update({"JONBU_DATA_DIR": str(data_dir), "JONBU_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
                "NO_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


@dataclass
class Proc:
    """A started subprocess whose output goes to a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    killed: bool = False

    @property
    def pid(self) -> int:
        """Process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen.poll() is None

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, n: int = 4000) -> str:
        """The end of its output (for assertion messages)."""
        return f"--- {self.name} (pid {self.pid}, rc {self.popen.poll()}) ---\n{self.output()[-n:]}"

    def send(self, sig: int) -> None:
        """Send a signal to the process (not its group)."""
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """Its exit status, or ``None`` if it is still running after ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    async def await_exit(self, timeout: float) -> int | None:
        """:meth:`wait` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.popen.poll()
            if rc is not None:
                return rc
            await asyncio.sleep(0.05)
        return self.popen.poll()

    def kill(self) -> None:
        """SIGKILL its process group (it runs in a session of its own) and reap it."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self.killed = True
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


class Procs:
    """Starts subprocesses and kills whatever still runs at the end of the test."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path | None = None) -> Proc:
        """Start ``jonbu-ohlcv ARGS`` in a new session, output to ``<log_dir>/<name>.log``."""
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen([*cli(), *args], env=env, cwd=str(cwd or self.log_dir), stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def tails(self) -> str:
        """Every process's recent output."""
        return "\n".join(p.tail(3000) for p in self.procs)

    def kill_all(self) -> None:
        """SIGKILL every process still running."""
        for p in self.procs:
            p.kill()


async def until(cond: Callable[[], object], timeout: float, what: str, procs: Procs) -> None:
    """Wait until ``cond()`` is true, failing after ``timeout`` s with every process's output."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{procs.tails()}")
        await asyncio.sleep(0.05)


async def wait_healthy(url: str, proc: Proc, timeout: float = 60.0) -> None:
    """Wait until ``GET url/api/v1/health`` answers 200 (fails fast if the process dies)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited before it was healthy\n{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url + "/api/v1/health")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{proc.name} was not healthy within {timeout}s\n{proc.tail()}")


@dataclass
class WsClient:
    """A WebSocket client of ``/ws`` that records every closed bar (and revision) it receives."""

    name: str
    url: str
    finals: list[BarKey] = field(default_factory=list)
    candles: dict[BarKey, dict[str, Any]] = field(default_factory=dict)
    partials: int = 0
    partial_symbols: set[str] = field(default_factory=set)
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _ws: Any = None
    _task: asyncio.Task[None] | None = None

    async def connect(self, symbols: list[str], timeframes: list[str], timeout: float = 15.0) -> None:
        """Connect, subscribe and wait for the acknowledgement; then record in the background."""
        from websockets.asyncio.client import connect

        self._ws = await connect(self.url, open_timeout=timeout, proxy=None, max_size=2**22)
        await self._ws.send(json.dumps({"action": "subscribe", "symbols": symbols, "timeframes": timeframes}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(await asyncio.wait_for(self._ws.recv(), max(0.1, deadline - time.monotonic())))
            if msg.get("type") == "subscribed":
                break
            self._record(msg)
        self._task = asyncio.create_task(self._read(), name=f"ws-{self.name}")

    def _record(self, msg: dict[str, Any]) -> None:
        if msg.get("type") != "candle":
            return
        if not msg["final"]:
            self.partials += 1
            self.partial_symbols.add(msg["symbol"])
            return
        key = (msg["symbol"], msg["timeframe"], msg["candle"]["ts"], int(msg["revision"]))
        self.finals.append(key)
        self.candles[key] = msg["candle"]

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        ws = self._ws
        try:
            while True:
                msg = json.loads(await ws.recv())
                if msg.get("type") == "ping":
                    await ws.send(json.dumps({"action": "pong"}))
                self._record(msg)
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
        finally:
            if self.close_code is None:
                self.close_code = ws.close_code
            self.closed.set()

    async def wait_closed(self, timeout: float) -> int | None:
        """The close code the server sent (1006: no close frame), ``None`` if still open."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def close(self) -> None:
        """Close from our side (if still open) and stop recording."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def bus_finals(redis_url: str, prefix: str) -> list[tuple[BarKey, dict[str, Any]]]:
    """Every closed bar and revision on the Redis bus, in publication order."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        out = []
        entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(f"{prefix}:bars")  # type: ignore[assignment]
        for _rid, fields in entries:
            d = json.loads(fields[b"e"])
            if d["final"]:
                out.append(((d["symbol"], d["timeframe"], d["candle"]["ts"], int(d["revision"])), d["candle"]))
        return out
    finally:
        client.close()


def stored_1m(pg_url: str, source: str | None = "stream") -> dict[tuple[str, str], tuple[float, ...]]:
    """``(symbol, ts ISO Z) → (open, high, low, close, volume)`` of the stored 1m bars of ``source``."""
    import psycopg

    sql = ("SELECT symbol, ts, open, high, low, close, volume FROM bars WHERE timeframe = '1m'"
           + (" AND source = %s" if source else ""))
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(sql, (source,) if source else ()).fetchall()
    return {(r[0], r[1].strftime("%Y-%m-%dT%H:%M:%SZ")): tuple(float(v) for v in r[2:]) for r in rows}


def last_revisions(finals: list[tuple[BarKey, dict[str, Any]]], timeframe: str = "1m") -> dict[
        tuple[str, str], tuple[float, ...]]:
    """``(symbol, ts) → OHLCV`` of the newest revision of each closed bar of ``timeframe``."""
    best: dict[tuple[str, str], tuple[int, tuple[float, ...]]] = {}
    for (sym, tf, ts, rev), c in finals:
        if tf != timeframe:
            continue
        if (sym, ts) not in best or rev >= best[(sym, ts)][0]:
            best[(sym, ts)] = (rev, (c["open"], c["high"], c["low"], c["close"], c["volume"]))
    return {k: v for k, (_r, v) in best.items()}


def assert_same_bars(got: dict[tuple[str, str], tuple[float, ...]],
                     want: dict[tuple[str, str], tuple[float, ...]], what: str) -> None:
    """Same keys and the same OHLCV (to 1e-6) in both."""
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, f"{what}: missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)})"
    bad = [k for k in want if any(abs(a - b) > 1e-6 for a, b in zip(got[k], want[k], strict=True))]
    assert not bad, f"{what}: different values for {bad[:5]}: {[(got[k], want[k]) for k in bad[:2]]}"


_STREAM_SUMMARY = re.compile(r"trades ([\d,]+) \(late ([\d,]+)\), bars closed ([\d,]+), stored ([\d,]+)")


def stream_summary(output: str) -> dict[str, int]:
    """The counts ``jonbu-ohlcv stream`` prints when it stops."""
    m = _STREAM_SUMMARY.search(output)
    assert m is not None, f"no summary line in the stream output:\n{output[-3000:]}"
    trades, late, closed, stored = (int(g.replace(",", "")) for g in m.groups())
    return {"trades": trades, "late": late, "bars_closed": closed, "stored": stored}
