"""A fake Alpaca market-data WebSocket (``/v2/{feed}``) replaying the mock market.

It speaks Alpaca's real wire protocol: msgpack frames (lists of messages), the
handshake ``[{"T":"success","msg":"connected"}]`` → ``{"action":"auth",…}`` →
``[{"T":"success","msg":"authenticated"}]`` → ``{"action":"subscribe","trades":[…],
"bars":[…],"updatedBars":[…]}`` → ``[{"T":"subscription",…}]``, then data messages
with ``T`` = ``t`` (trades), ``b`` (minute bars), ``u`` (updated bars), ``c``
(corrections), ``x`` (cancels), and error frames ``{"T":"error","code":…,"msg":…}``
(401 not authenticated, 402 auth failed, 404 auth timeout, 405 symbol limit
exceeded, 406 connection limit exceeded, 407 slow client, 409 insufficient
subscription). Timestamps are msgpack Timestamp extensions, as Alpaca sends them.

Data: the trades of one session of :class:`~jonbu_core.providers.mock.MockMarket`
(the same data the fake REST server serves, so a REST gap backfill can be compared
with what was streamed), played on a server-wide timeline at ``speed``× real time
from the first subscription. A client that is disconnected misses what is played
meanwhile, as with the real feed. With ``live=True`` trades are instead generated
at ``rate`` trades/s stamped with the wall clock (for throughput and latency
benchmarks).

Faults (:class:`StreamFaults`, consumed as they fire): abrupt disconnect after N
trades, silence, out-of-order and late trades, corrections and cancels, auth
failure, connection limit (406), slow client (407), insufficient subscription (409),
symbol limit (405).

Run it by hand::

    python -m tests.fakes.alpaca_stream --port 8766 --day 2024-01-03 --speed 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import msgpack
import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from jonbu_core import calendar as cal
from jonbu_core.providers.mock import MockMarket

DEFAULT_KEY = "test-key"
DEFAULT_SECRET = "test-secret"
NS = 1_000_000_000


@dataclass
class StreamFaults:
    """Injectable misbehaviour (counters fire once and reset)."""

    reject_auth: bool = False
    disconnect_after: int = 0
    """Abort the next connection (no close frame) after sending this many trades on it."""
    silence_after: int = 0
    silence_for: float = 0.0
    """After ``silence_after`` trades on a connection, send nothing for this many wall seconds (trades are lost)."""
    swap_pairs: bool = False
    swap_within: float = 1.0
    """Swap neighbouring trades of a symbol at most ``swap_within`` s apart (out of order, not late)."""
    late_every: int = 0
    late_by: float = 0.0
    """Hold every ``late_every``-th trade back and send it ``late_by`` simulated seconds later."""
    cancel_every: int = 0
    correct_every: int = 0
    """Send a cancel (``x``) / a correction (``c``, price +0.01, size +1) of every N-th trade."""
    slow_client_after: int = 0
    """Send error 407 and close after this many trades."""
    insufficient_subscription: bool = False
    symbol_limit: int = 0


@dataclass
class StreamStats:
    """What the server did."""

    connections: int = 0
    authenticated: int = 0
    subscriptions: int = 0
    trades_sent: int = 0
    bars_sent: int = 0
    errors_sent: dict[int, int] = field(default_factory=dict)
    disconnects: int = 0
    sent_ids: list[int] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)


def _ts(ns: int) -> msgpack.Timestamp:
    return msgpack.Timestamp.from_unix_nano(int(ns))


def _error(code: int, msg: str) -> bytes:
    return msgpack.packb([{"T": "error", "code": code, "msg": msg}])


class FakeAlpacaStream:
    """The server, run on its own event loop in a background thread.

    Parameters
    ----------
    day : date
        The session replayed (must be a session of the exchange calendar).
    speed : float
        Simulated seconds per wall second.
    start : datetime, optional
        Where the timeline starts (default: the session's open).
    end : datetime, optional
        Where it stops (default: the session's close); the feed then goes quiet.
    send_bars : bool
        Also send a ``b`` minute bar of every subscribed symbol when a minute ends.
    max_connections : int
        Authenticated connections allowed at once (more get error 406).
    live : bool
        Generate trades at ``rate``/s stamped with the wall clock instead of replaying.
    """

    def __init__(
        self,
        market: MockMarket | None = None,
        *,
        day: date = date(2024, 1, 3),
        speed: float = 60.0,
        start: datetime | None = None,
        end: datetime | None = None,
        key_id: str = DEFAULT_KEY,
        secret: str = DEFAULT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        send_bars: bool = False,
        max_connections: int = 1,
        tick: float = 0.01,
        frame_size: int = 1000,
        live: bool = False,
        rate: float = 10_000.0,
        record: bool = False,
    ) -> None:
        self.market = market or MockMarket(42)
        self.day = day
        s_open, s_close = cal.session_bounds(day)
        self.sim_start = int((start or s_open).timestamp() * NS)
        self.sim_end = int((end or s_close).timestamp() * NS)
        self.speed = float(speed)
        self.key_id, self.secret = key_id, secret
        self.host, self.port = host, port
        self.send_bars = send_bars
        self.max_connections = max_connections
        self.tick = tick
        self.frame_size = frame_size
        self.live = live
        self.rate = rate
        self.record = record
        self.faults = StreamFaults()
        self.stats = StreamStats()
        self._wall0: float | None = None
        self._active: set[ServerConnection] = set()
        self._cache: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._seq = 0

    # ------------------------------------------------------------- control
    @property
    def url(self) -> str:
        """The WebSocket URL for ``JONBU_ALPACA_STREAM_URL`` (``ws://host:port/v2/iex``)."""
        return f"ws://{self.host}:{self.port}/v2/iex"

    def sim_now(self) -> int:
        """The timeline's current simulated time (epoch ns)."""
        if self._wall0 is None:
            return self.sim_start
        return min(self.sim_end, self.sim_start + int((time.monotonic() - self._wall0) * self.speed * NS))

    @property
    def finished(self) -> bool:
        """Whether the timeline reached its end."""
        return self._wall0 is not None and self.sim_now() >= self.sim_end

    def start(self) -> FakeAlpacaStream:
        """Serve in a daemon thread; returns self once listening."""
        self._thread = threading.Thread(target=self._run, name="fake-alpaca-stream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Alpaca stream did not start")
        return self

    def stop(self) -> None:
        """Close every connection and stop serving."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def kick(self) -> None:
        """Abort every open connection now (no close frame)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._abort_all)

    def _abort_all(self) -> None:
        for ws in list(self._active):
            ws.transport.abort()

    def __enter__(self) -> FakeAlpacaStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handle, self.host, self.port, max_size=2**22, compression=None) as server:
            sock = next(iter(server.sockets))
            self.port = sock.getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    # ---------------------------------------------------------------- data
    def _session(self, symbols: tuple[str, ...]) -> dict[str, np.ndarray]:
        hit = self._cache.get(symbols)
        if hit is not None:
            return hit
        parts = []
        for s in symbols:
            t = self.market.session_trades(s, self.day)
            parts.append((s, t.column("ts").cast("int64").to_numpy() * 1000, t.column("price").to_numpy(),
                          t.column("size").to_numpy(), t.column("trade_id").cast("int64").to_numpy()))
        sym = np.concatenate([np.full(len(p[1]), i, np.int32) for i, p in enumerate(parts)])
        ts = np.concatenate([p[1] for p in parts])
        order = np.argsort(ts, kind="stable")
        data = {"sym": sym[order], "ts": ts[order], "price": np.concatenate([p[2] for p in parts])[order],
                "size": np.concatenate([p[3] for p in parts])[order],
                "id": np.concatenate([p[4] for p in parts])[order]}
        self._cache[symbols] = data
        return data

    def minute_bars(self, symbol: str) -> dict[int, dict[str, Any]]:
        """The session's 1m bars of ``symbol`` as Alpaca ``b`` messages keyed by minute (ns)."""
        t = self.market.session_bars(symbol, self.day)
        out = {}
        for r in t.to_pylist():
            ns = int(r["ts"].timestamp()) * NS
            out[ns] = {"T": "b", "S": symbol, "o": r["open"], "h": r["high"], "l": r["low"], "c": r["close"],
                       "v": int(r["volume"]), "t": _ts(ns), "n": r["trade_count"], "vw": r["vwap"]}
        return out

    # ------------------------------------------------------------ protocol
    def _count_error(self, code: int) -> None:
        self.stats.errors_sent[code] = self.stats.errors_sent.get(code, 0) + 1

    async def _handle(self, ws: ServerConnection) -> None:
        self.stats.connections += 1
        try:
            await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
            try:
                raw = await asyncio.wait_for(ws.recv(), 10)
            except TimeoutError:
                self._count_error(404)
                await ws.send(_error(404, "auth timeout"))
                return
            msg = msgpack.unpackb(raw) if isinstance(raw, bytes) else {}
            if not isinstance(msg, dict) or msg.get("action") != "auth":
                self._count_error(401)
                await ws.send(_error(401, "not authenticated"))
                return
            if self.faults.reject_auth or msg.get("key") != self.key_id or msg.get("secret") != self.secret:
                self._count_error(402)
                await ws.send(_error(402, "auth failed"))
                return
            if len(self._active) >= self.max_connections:
                self._count_error(406)
                await ws.send(_error(406, "connection limit exceeded"))
                return
            self._active.add(ws)
            self.stats.authenticated += 1
            await ws.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
            await self._session_loop(ws)
        except ConnectionClosed:
            pass
        finally:
            self._active.discard(ws)
            self.stats.disconnects += 1

    async def _session_loop(self, ws: ServerConnection) -> None:
        subs: dict[str, list[str]] = {"trades": [], "bars": [], "updatedBars": []}
        subscribed = asyncio.Event()
        from_sim = [self.sim_start]

        async def reader() -> None:
            async for raw in ws:
                msg = msgpack.unpackb(raw) if isinstance(raw, bytes) else {}
                if not isinstance(msg, dict) or msg.get("action") not in ("subscribe", "unsubscribe"):
                    self._count_error(400)
                    await ws.send(_error(400, "invalid syntax"))
                    continue
                if self.faults.insufficient_subscription:
                    self._count_error(409)
                    await ws.send(_error(409, "insufficient subscription"))
                    continue
                for k in subs:
                    names = [str(s).upper() for s in msg.get(k, []) or []]
                    if msg["action"] == "subscribe":
                        subs[k] = sorted(set(subs[k]) | set(names))
                    else:
                        subs[k] = [s for s in subs[k] if s not in names]
                limit = self.faults.symbol_limit
                if limit and len(set(subs["trades"]) | set(subs["bars"])) > limit:
                    self._count_error(405)
                    await ws.send(_error(405, "symbol limit exceeded"))
                    continue
                self.stats.subscriptions += 1
                await ws.send(msgpack.packb([{
                    "T": "subscription", "trades": subs["trades"], "quotes": [], "bars": subs["bars"],
                    "updatedBars": subs["updatedBars"], "dailyBars": [], "statuses": [], "lulds": [],
                    "corrections": subs["trades"], "cancelErrors": subs["trades"],
                }]))
                first = self._wall0 is None
                if first:
                    self._wall0 = time.monotonic()
                if not subscribed.is_set():
                    from_sim[0] = self.sim_start if first else self.sim_now()
                subscribed.set()

        rtask = asyncio.create_task(reader())
        try:
            done, _ = await asyncio.wait({rtask, asyncio.create_task(subscribed.wait())},
                                         return_when=asyncio.FIRST_COMPLETED)
            if rtask in done:
                return
            sender = asyncio.create_task(self._send_live(ws, subs) if self.live else self._send_replay(ws, subs, from_sim[0]))
            try:
                await asyncio.wait({rtask, sender}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
        finally:
            rtask.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await rtask

    def _trade_msg(self, sym: str, tid: int, px: float, sz: float, ns: int) -> dict[str, Any]:
        return {"T": "t", "S": sym, "i": tid, "x": "V", "p": px, "s": sz, "t": _ts(ns), "c": ["@"], "z": "C"}

    async def _send_replay(self, ws: ServerConnection, subs: dict[str, list[str]], from_sim: int) -> None:
        f = self.faults
        sent_here = 0
        held: list[tuple[int, dict[str, Any]]] = []
        names = tuple(sorted(subs["trades"]))
        data = self._session(names)
        bars = {s: self.minute_bars(s) for s in subs["bars"]} if self.send_bars else {}
        pos = int(np.searchsorted(data["ts"], from_sim, side="left"))
        last_minute = from_sim // (60 * NS)
        while True:
            await asyncio.sleep(self.tick)
            now = self.sim_now()
            hi = int(np.searchsorted(data["ts"], now, side="left"))
            timed: list[tuple[int, dict[str, Any]]] = []
            extra: list[dict[str, Any]] = []
            for i in range(pos, hi):
                n = int(self._bump())
                sym = names[int(data["sym"][i])]
                m = self._trade_msg(sym, int(data["id"][i]), float(data["price"][i]), float(data["size"][i]),
                                    int(data["ts"][i]))
                if f.late_every and n % f.late_every == 0:
                    held.append((int(data["ts"][i]) + int(f.late_by * NS), m))
                else:
                    timed.append((int(data["ts"][i]), m))
                if f.cancel_every and n % f.cancel_every == 0:
                    extra.append({"T": "x", "S": sym, "i": m["i"], "x": "V", "p": m["p"], "s": m["s"], "a": "C",
                                  "z": "C", "t": m["t"]})
                elif f.correct_every and n % f.correct_every == 0:
                    extra.append({"T": "c", "S": sym, "x": "V", "oi": m["i"], "op": m["p"], "os": m["s"],
                                  "oc": ["@"], "ci": m["i"] + 10**12, "cp": round(m["p"] + 0.01, 2),
                                  "cs": m["s"] + 1, "cc": ["@"], "z": "C", "t": m["t"]})
            pos = hi
            # A held trade goes out right after the trades up to its due time: exactly late_by late.
            timed.extend((t, dict(m, _held=True)) for t, m in held if t <= now)
            held = [(t, m) for t, m in held if t > now]
            timed.sort(key=lambda x: x[0])
            if f.swap_pairs:
                for k in range(0, len(timed) - 1, 2):
                    (ta, a), (tb, b) = timed[k], timed[k + 1]
                    if (a["S"] == b["S"] and tb - ta <= int(f.swap_within * NS) and a["t"] != b["t"]
                            and "_held" not in a and "_held" not in b):
                        timed[k], timed[k + 1] = timed[k + 1], timed[k]
            msgs = [m for _, m in timed]
            for m in msgs:
                m.pop("_held", None)
            msgs.extend(extra)
            minute = now // (60 * NS)
            if bars and minute > last_minute:
                for m_ns in range(last_minute * 60 * NS, minute * 60 * NS, 60 * NS):
                    for s in sorted(bars):
                        b = bars[s].get(m_ns)
                        if b is not None:
                            msgs.append(b)
                            self.stats.bars_sent += 1
            last_minute = minute
            if not msgs:
                continue
            if f.silence_for and f.silence_after and sent_here >= f.silence_after:
                quiet, f.silence_for = f.silence_for, 0.0
                await asyncio.sleep(quiet)
                pos = int(np.searchsorted(data["ts"], self.sim_now(), side="left"))
                held = []
                continue
            n_trades = sum(1 for m in msgs if m["T"] == "t")
            if f.disconnect_after and sent_here + n_trades >= f.disconnect_after:
                keep = f.disconnect_after - sent_here
                f.disconnect_after = 0
                part = [m for m in msgs if m["T"] == "t"][:keep]
                await self._send(ws, part)
                ws.transport.abort()
                return
            if f.slow_client_after and sent_here + n_trades >= f.slow_client_after:
                f.slow_client_after = 0
                self._count_error(407)
                await ws.send(_error(407, "slow client"))
                await ws.close()
                return
            sent_here += n_trades
            await self._send(ws, msgs)

    def _bump(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    async def _send(self, ws: ServerConnection, msgs: list[dict[str, Any]]) -> None:
        for k in range(0, len(msgs), self.frame_size):
            part = msgs[k : k + self.frame_size]
            await ws.send(msgpack.packb(part))
            for m in part:
                if m["T"] == "t":
                    self.stats.trades_sent += 1
                    if self.record:
                        self.stats.sent_ids.append(int(m["i"]))
                elif m["T"] in ("c", "x") and self.record:
                    self.stats.corrections.append(m)

    async def _send_live(self, ws: ServerConnection, subs: dict[str, list[str]]) -> None:
        """Wall-clock trades at ``rate``/s: pre-packed frames whose timestamp is patched at send time."""
        sentinel = _ts(1_700_000_000_123_456_789)
        mark = msgpack.packb(sentinel)

        def build(names: list[str]) -> list[bytes]:
            rng = np.random.default_rng(7)
            templates = []
            for k in range(16):
                which = rng.integers(0, len(names), self.frame_size).tolist()
                px = [round(float(self.market.params(n).s0) * (1 + 0.001 * k), 2) for n in names]
                frame = [{"T": "t", "S": names[w], "i": k * self.frame_size + j, "x": "V", "p": px[w], "s": 100,
                          "t": sentinel, "c": ["@"], "z": "C"} for j, w in enumerate(which)]
                templates.append(msgpack.packb(frame))
            return templates

        names = sorted(subs["trades"])
        templates = build(names) if names else []
        credit = 0.0
        last = time.monotonic()
        k = 0
        while True:
            await asyncio.sleep(self.tick)
            if sorted(subs["trades"]) != names:  # a (un)subscribe on the open connection
                names = sorted(subs["trades"])
                templates = build(names) if names else []
            if not templates:
                last = time.monotonic()
                continue
            now = time.monotonic()
            credit = min(credit + (now - last) * self.rate, self.rate)
            last = now
            while credit >= self.frame_size:
                credit -= self.frame_size
                k += 1
                await ws.send(templates[k % len(templates)].replace(mark, msgpack.packb(_ts(time.time_ns()))))
                self.stats.trades_sent += self.frame_size


def replay_trades(market: MockMarket, day: date, symbols: list[str]) -> Iterator[tuple[str, int, float, float, int]]:
    """Every trade the server would play for ``symbols`` on ``day``: ``(symbol, ts_ns, price, size, id)``."""
    for s in symbols:
        t = market.session_trades(s, day)
        ts = t.column("ts").cast("int64").to_numpy() * 1000
        for i in range(t.num_rows):
            yield s, int(ts[i]), float(t.column("price")[i].as_py()), float(t.column("size")[i].as_py()), i


def main(argv: list[str] | None = None) -> int:
    """Run the server in the foreground until interrupted."""
    ap = argparse.ArgumentParser(description="Fake Alpaca market-data WebSocket (mock-market replay).")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind")
    ap.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    ap.add_argument("--day", default="2024-01-03", help="session replayed")
    ap.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    ap.add_argument("--bars", action="store_true", help="also send minute bars")
    ap.add_argument("--live", action="store_true", help="generate wall-clock trades at --rate/s instead")
    ap.add_argument("--rate", type=float, default=10_000.0, help="trades per second with --live")
    ap.add_argument("--frame-size", type=int, default=1000, help="messages per frame")
    ap.add_argument("--tick", type=float, default=0.01, help="seconds between sends")
    args = ap.parse_args(argv)
    server = FakeAlpacaStream(day=date.fromisoformat(args.day), speed=args.speed, host=args.host, port=args.port,
                              send_bars=args.bars, live=args.live, rate=args.rate, frame_size=args.frame_size,
                              max_connections=1_000, tick=args.tick)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(f"fake Alpaca stream on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
