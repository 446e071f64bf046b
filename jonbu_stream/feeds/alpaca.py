"""Alpaca's market-data WebSocket, spoken with ``websockets`` + ``msgpack``.

Why not alpaca-py's ``StockDataStream``: its loop logs error frames and drops them
(the codes 402/405/406/407/409 never reach the caller, so it cannot act on them),
it has no hook on reconnect (a REST gap backfill needs one), its watchdog
(``data_timeout``) does not know market hours, and it awaits one handler coroutine
per message, too slow for hundreds of thousands of trades per second. This client
speaks the same wire protocol (the same URL and msgpack frames; ``url_override`` is
``JONBU_ALPACA_STREAM_URL``) and adds:

* reconnect with exponential backoff and full jitter (reset once data flows);
* a watchdog: connected but silent for ``watchdog`` seconds during the extended
  session (04:00–20:00 ET on exchange days) means dead: the socket is dropped;
* error codes: 402 auth failed and 409 insufficient subscription stop the feed
  (:class:`FeedFatalError`: retrying cannot help); 406 connection limit waits
  ``limit_backoff`` seconds (another client holds the connection); 405 symbol
  limit halves the subscription and logs the symbols left out; 407 slow client
  reconnects at once; anything else reconnects with backoff;
* one vectorised :class:`TradeBatch` per frame to the sink — per burst when more
  frames are already waiting on the connection (they are aggregated and published
  once, not one after the other) —, corrections and cancels, and ``b``/``u`` minute
  bars as provider bars.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import fcntl
import logging
import operator
import random
import re
import termios
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgpack
import numpy as np
import pyarrow as pa

from jonbu_core import calendar as cal
from jonbu_core.aggregation.types import NS, TradeBatch
from jonbu_stream.feeds import wire
from jonbu_stream.feeds.base import FeedFatalError, FeedSink

logger = logging.getLogger(__name__)

DEFAULT_URL = "wss://stream.data.alpaca.markets/v2/{feed}"
FATAL = {402: "auth failed: check APCA_API_KEY_ID/APCA_API_SECRET_KEY",
         409: "insufficient subscription: your plan does not include this feed (try JONBU_ALPACA_FEED=iex)"}


def stream_url(override: str | None, feed: str) -> str:
    """The WebSocket URL: ``override`` as given (``/v2/{feed}`` appended to a bare host), else Alpaca's."""
    if not override:
        return DEFAULT_URL.format(feed=feed)
    url = override.rstrip("/")
    if "/v2/" not in url and "/v1beta" not in url:
        url = f"{url}/v2/{feed}"
    return url


def _ts_ns(v: Any) -> int:
    if isinstance(v, int):
        return v
    if isinstance(v, msgpack.Timestamp):
        return int(v.to_unix_nano())
    if isinstance(v, datetime):
        return int(v.timestamp() * NS)
    if isinstance(v, str):
        m = _RFC3339.match(v.strip())
        if m is None:
            raise ValueError(f"bad timestamp {v!r}")
        head, frac, tz = m.groups()
        tz = "+00:00" if tz in (None, "Z", "z") else tz
        secs = int(datetime.fromisoformat(head + tz).timestamp())
        return secs * NS + int((frac or "0")[:9].ljust(9, "0"))
    raise TypeError(f"bad timestamp {v!r}")


# RFC 3339 with up to nanoseconds (datetime keeps microseconds: the fraction is parsed apart).
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)?$")


_TRADE_FIELDS = operator.itemgetter(b"T", b"S", b"t", b"p", b"s", b"i")
_INT_ONLY = {int}
_NUMBER = {int, float}
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _socket_fd(ws: Any) -> int | None:
    """The file descriptor of ``ws``'s socket, when it has one (for :func:`_unread`)."""
    try:
        fd = ws.transport.get_extra_info("socket").fileno()
        _unread(fd)
        return int(fd)
    except Exception:  # no socket (a fake connection), or FIONREAD unsupported
        return None


def _unread(fd: int) -> bool:
    """Whether the kernel holds received bytes the event loop has not read yet (``FIONREAD``)."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    return buf[0] > 0


def _buffered(ws: Any) -> bool:
    """Whether a whole message is already buffered in ``ws`` (its ``recv()`` would return at once).

    Reads the ``websockets`` connection's frame queue (``recv_messages.frames``); ``False``
    when that is not there (another version or a fake connection): frames are then
    delivered one by one, as before.
    """
    try:
        q = ws.recv_messages.frames.queue
        return bool(q) and bool(q[0].fin)
    except AttributeError:
        return False


def _text(v: Any) -> Any:
    """A message decoded with ``raw=True`` with its byte strings as text (keys and values, nested)."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, dict):
        return {_text(k): _text(x) for k, x in v.items()}
    if isinstance(v, tuple | list):
        return [_text(x) for x in v]
    return v


def _direct_connection_class() -> type[Any]:
    """``websockets``' client connection that hands complete binary messages to the feed from
    ``data_received`` (see :class:`_DirectConnection`); built on first use (lazy import)."""
    global _DIRECT
    if _DIRECT is None:
        from websockets.asyncio.client import ClientConnection
        from websockets.frames import Frame, Opcode

        class _DirectConnection(ClientConnection):
            """Complete binary messages go to :attr:`on_frames` straight from ``data_received``.

            ``websockets`` queues each message for ``recv()``, whose task then runs on a
            later turn of the event loop: a queue, a future and a task switch per frame,
            on the hot path. Here the frames parsed from one read are handed over at the
            end of that read's ``data_received``, together (a burst is aggregated as one
            batch). Anything else (text, fragmented messages, and every message while one
            is still queued, to keep the order) goes through ``recv()`` as usual. An
            exception of the handler aborts the connection (the feed reconnects).
            """

            on_frames: Callable[[list[bytes]], None] | None = None
            failed: BaseException | None = None

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._direct: list[bytes] = []

            def process_event(self, event: Any) -> None:
                if (self.on_frames is not None and type(event) is Frame and event.opcode is Opcode.BINARY
                        and event.fin and not self.recv_messages.frames.queue):
                    data = event.data
                    self._direct.append(data if type(data) is bytes else bytes(data))
                    return
                super().process_event(event)

            def data_received(self, data: bytes) -> None:
                super().data_received(data)
                got = self._direct
                if got and self.on_frames is not None:
                    self._direct = []
                    try:
                        self.on_frames(got)
                    except Exception as exc:  # the feed reconnects, as when recv()'s loop raises
                        logger.exception("alpaca stream: handling a frame failed; reconnecting")
                        self.failed = exc
                        self.transport.abort()

        _DIRECT = _DirectConnection
    return _DIRECT


_DIRECT: type[Any] | None = None


class _Backoff:
    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next(self) -> float:
        self.attempt += 1
        return random.uniform(0.0, min(self.cap, self.base * 2 ** (self.attempt - 1))) + self.base / 2

    def reset(self) -> None:
        self.attempt = 0


class _Reconnect(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class AlpacaFeed:
    """Trades (and minute bars) of ``symbols`` from Alpaca's stream (see the module docstring).

    Parameters
    ----------
    url : str
        Full WebSocket URL (:func:`stream_url`).
    key, secret : str
        Alpaca credentials.
    symbols : list of str
        Symbols to subscribe to.
    source : str
        ``source`` of the provider bars (``alpaca-iex``).
    subscribe_bars : bool
        Also subscribe to ``bars`` and ``updatedBars``.
    watchdog : float
        Seconds of silence during market hours before the connection is dropped.
    max_merge : int
        At most this many frames already buffered on the connection are aggregated as one
        batch (see :meth:`_dispatch_many`).
    native_decode : bool
        Decode trade frames with the C decoder (:mod:`.wire`) when it is built; False:
        in Python only (same results, slower).
    direct : bool
        Handle binary messages from the connection's ``data_received`` (see
        ``_DirectConnection``) rather than through ``recv()``: one task switch less per frame.
    """

    name = "alpaca"
    finite = False

    def __init__(
        self,
        url: str,
        key: str,
        secret: str,
        symbols: list[str],
        *,
        source: str = "alpaca-iex",
        subscribe_bars: bool = True,
        watchdog: float = 30.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        limit_backoff: float = 30.0,
        connect_timeout: float = 10.0,
        exchange: str = "XNYS",
        market_hours: Callable[[float], bool] | None = None,
        max_merge: int = 32,
        native_decode: bool = True,
        direct: bool = True,
    ) -> None:
        self.url, self._key, self._secret = url, key, secret
        self.symbols = list(symbols)
        self.source = source
        self.subscribe_bars = subscribe_bars
        self.watchdog = watchdog
        self.backoff = _Backoff(backoff_base, backoff_cap)
        self.limit_backoff = limit_backoff
        self.connect_timeout = connect_timeout
        self.exchange = exchange
        self._market_hours = market_hours or self._in_extended_session
        self._ws: Any = None
        self._stopped = asyncio.Event()
        self.connected = False
        self.reconnects = 0
        self.connects = 0
        self.errors: dict[int, int] = {}
        self.last_error: str | None = None
        self.last_message = 0.0
        self.messages = 0
        self.malformed = 0
        self.quarantined: collections.deque[dict[str, str]] = collections.deque(maxlen=100)
        """The last malformed messages and why (newest last)."""
        self._last_quarantine_log = -1e9
        self._sid_raw: dict[bytes, int] = {}
        self._wire = wire.decoder() if native_decode else None
        """The C frame decoder (None: frames are decoded in Python only)."""
        self._sink: FeedSink | None = None
        self.excluded: list[str] = []
        self.max_merge = max_merge
        self.direct = direct
        self.merged = 0
        """Frames aggregated together with the frame before them (already buffered when it was read)."""

    # -------------------------------------------------------------- status
    def clock(self) -> int | None:
        """Unknown: the daemon estimates the event clock from the trades."""
        return None

    def status(self) -> dict[str, Any]:
        """Connection state and counters."""
        age = time.monotonic() - self.last_message if self.last_message else None
        return {
            "kind": self.name, "url": self.url, "connected": self.connected, "connects": self.connects,
            "reconnects": self.reconnects, "errors": {str(k): v for k, v in self.errors.items()},
            "last_error": self.last_error, "last_message_age_s": None if age is None else round(age, 3),
            "messages": self.messages, "malformed": self.malformed, "merged_frames": self.merged,
            "quarantined": list(self.quarantined)[-5:], "symbols": self.symbols,
            "excluded_symbols": self.excluded,
        }

    def _in_extended_session(self, wall: float) -> bool:
        now = datetime.fromtimestamp(wall, tz=UTC)
        day = cal.exchange_date(now)
        try:
            o, c = cal.session_bounds(day, self.exchange, extended=True)
        except Exception:
            return False
        return o <= now < c

    # ------------------------------------------------------------ lifecycle
    async def stop(self) -> None:
        """Stop: close the socket; :meth:`run` returns."""
        self._stopped.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)

    async def set_symbols(self, symbols: list[str], start_prices: dict[str, float] | None = None) -> bool:
        """Subscribe to added symbols and unsubscribe removed ones on the open connection
        (the next connection subscribes to the new list anyway)."""
        wanted = list(dict.fromkeys(symbols))
        added = [s for s in wanted if s not in self.symbols]
        removed = [s for s in self.symbols if s not in wanted]
        self.symbols = wanted
        self.excluded = [s for s in self.excluded if s in wanted]
        ws, sink = self._ws, self._sink
        if ws is None or not self.connected:
            return True
        if sink is not None:
            for s in added:
                sid = sink.symbols.add(s)
                self._sid_raw[s.encode()] = sid
            if self._wire is not None:
                self._wire.sync(self._sid_raw)
        for action, syms in (("subscribe", added), ("unsubscribe", removed)):
            if not syms:
                continue
            req: dict[str, Any] = {"action": action, "trades": syms}
            if self.subscribe_bars:
                req["bars"] = syms
                req["updatedBars"] = syms
            try:
                await ws.send(msgpack.packb(req))
            except Exception as exc:  # the connection dropped: the reconnect subscribes to self.symbols
                logger.warning("alpaca stream: could not %s %s now (%s); the next connection will",
                               action, ",".join(syms), exc)
                return True
            logger.info("alpaca stream: %s %s", action, ",".join(syms))
        return True

    async def run(self, sink: FeedSink) -> None:
        """Connect, subscribe and deliver until stopped; reconnects on failure.

        Raises
        ------
        FeedFatalError
            On 402 (auth failed) and 409 (insufficient subscription).
        """
        from websockets.asyncio.client import connect

        self._sink = sink
        while not self._stopped.is_set():
            wait: float | None = None
            try:
                async with connect(self.url, open_timeout=self.connect_timeout, max_size=2**24, compression=None,
                                   ping_interval=10, ping_timeout=20, max_queue=4096,
                                   additional_headers={"Content-Type": "application/msgpack"},
                                   create_connection=_direct_connection_class() if self.direct else None) as ws:
                    self._ws = ws
                    await self._handshake(ws, sink)
                    await self._receive(ws, sink)
            except FeedFatalError:
                raise
            except _Reconnect as exc:
                self.last_error, wait = str(exc), exc.wait
            except (OSError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # websockets.ConnectionClosed, InvalidHandshake, protocol errors…
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                if self.connected:
                    self.connected = False
                    sink.on_disconnected(self.last_error or "closed")
            if self._stopped.is_set():
                return
            delay = self.backoff.next() if wait is None else wait
            self.reconnects += 1
            logger.warning("alpaca stream: %s; reconnecting in %.1fs", self.last_error, delay)
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)

    async def _recv_control(self, ws: Any) -> list[dict[str, Any]]:
        raw = await asyncio.wait_for(ws.recv(), self.connect_timeout)
        msgs = msgpack.unpackb(raw, timestamp=2) if isinstance(raw, bytes) else []
        if not isinstance(msgs, list):
            raise _Reconnect(f"unexpected frame {msgs!r}")
        for m in msgs:
            if isinstance(m, dict) and m.get("T") == "error":
                self._error(m)
        return [m for m in msgs if isinstance(m, dict)]

    def _error(self, m: dict[str, Any]) -> None:
        code = int(m.get("code") or 0)
        text = str(m.get("msg") or "error")
        self.errors[code] = self.errors.get(code, 0) + 1
        self.last_error = f"{code} {text}"
        if code in FATAL:
            logger.error("alpaca stream error %s: %s", code, FATAL[code])
            raise FeedFatalError(f"alpaca stream: {code} {FATAL[code]}")
        if code == 406:
            logger.error("alpaca stream 406 connection limit exceeded: another client uses these keys; "
                         "retrying in %.0fs", self.limit_backoff)
            raise _Reconnect("406 connection limit exceeded", self.limit_backoff)
        if code == 405:
            keep = max(1, len(self.symbols) // 2)
            dropped = self.symbols[keep:]
            self.symbols = self.symbols[:keep]
            self.excluded.extend(dropped)
            logger.error("alpaca stream 405 symbol limit exceeded: subscribing to %d symbols, left out: %s",
                         keep, ", ".join(dropped))
            raise _Reconnect("405 symbol limit exceeded", 0.1)
        if code == 407:
            logger.error("alpaca stream 407 slow client: we fell behind the feed; reconnecting")
            raise _Reconnect("407 slow client", 0.1)
        raise _Reconnect(f"{code} {text}")

    async def _handshake(self, ws: Any, sink: FeedSink) -> None:
        first = await self._recv_control(ws)
        if not any(m.get("T") == "success" and m.get("msg") == "connected" for m in first):
            raise _Reconnect(f"no 'connected' message: {first!r}")
        await ws.send(msgpack.packb({"action": "auth", "key": self._key, "secret": self._secret}))
        auth = await self._recv_control(ws)
        if not any(m.get("T") == "success" and m.get("msg") == "authenticated" for m in auth):
            raise _Reconnect(f"not authenticated: {auth!r}")
        req: dict[str, Any] = {"action": "subscribe", "trades": self.symbols}
        if self.subscribe_bars:
            req["bars"] = self.symbols
            req["updatedBars"] = self.symbols
        await ws.send(msgpack.packb(req))
        while True:
            msgs = await self._recv_control(ws)
            sub = next((m for m in msgs if m.get("T") == "subscription"), None)
            if sub is not None:
                break
        for s in self.symbols:
            sid = sink.symbols.add(s)
            self._sid_raw[s.encode()] = sid
            self._sid_raw[sink.symbols.name(sid).encode()] = sid
        if self._wire is not None:
            self._wire.sync(self._sid_raw)
        self.connected = True
        self.connects += 1
        self.last_message = time.monotonic()
        logger.info("alpaca stream connected to %s: trades %s", self.url, ",".join(sub.get("trades", [])))
        sink.on_connected()

    async def _receive(self, ws: Any, sink: FeedSink) -> None:
        me = asyncio.current_task()
        assert me is not None
        fired: list[str] = []
        dog = asyncio.create_task(self._watch(me, fired), name="alpaca-watchdog")
        try:
            await self._receive_frames(ws, sink)
        except asyncio.CancelledError:
            if fired and me.uncancel() == 0:
                raise _Reconnect(fired[0]) from None
            raise
        finally:
            dog.cancel()

    async def _watch(self, receiver: asyncio.Task[Any], fired: list[str]) -> None:
        """The watchdog: cancels ``receiver`` (→ a reconnect) after ``watchdog`` s of silence in market hours.

        A task of its own rather than a timeout around each ``recv()``: that was a timer
        scheduled and cancelled per frame, on the hot path.
        """
        check = max(0.05, min(1.0, self.watchdog / 4))
        while True:
            await asyncio.sleep(check)
            silent = time.monotonic() - self.last_message
            if silent >= self.watchdog and self._market_hours(time.time()):
                fired.append(f"watchdog: no message for {silent:.1f}s during market hours")
                receiver.cancel()
                return

    def _on_direct(self, frames: list[bytes], sink: FeedSink) -> None:
        """Frames handed over by the connection's ``data_received`` (``direct``), in order."""
        self.last_message = time.monotonic()
        self.backoff.reset()
        self.merged += len(frames) - 1
        self._dispatch_many(frames, sink)  # type: ignore[arg-type]

    async def _receive_frames(self, ws: Any, sink: FeedSink) -> None:
        if hasattr(ws, "on_frames"):
            ws.on_frames = lambda frames: self._on_direct(frames, sink)
        try:
            await self._receive_queued(ws, sink)
        finally:
            if hasattr(ws, "on_frames"):
                ws.on_frames = None
            if getattr(ws, "failed", None) is not None:
                raise _Reconnect(f"frame handling failed: {type(ws.failed).__name__}: {ws.failed}")

    async def _receive_queued(self, ws: Any, sink: FeedSink) -> None:
        recv = ws.recv
        fd = _socket_fd(ws)
        while not self._stopped.is_set():
            raw = await recv()
            self.last_message = time.monotonic()
            self.backoff.reset()
            if isinstance(raw, bytes):
                got = self._decode(raw)
                frames: list[Any] = [got]
                if type(got) is TradeBatch:
                    if fd is not None and _unread(fd):
                        # More bytes arrived while this frame was decoded (a burst): let the event loop read
                        # them (two turns: the reader's callback runs after this task's), so that whole
                        # frames among them are aggregated with this one rather than after it.
                        await asyncio.sleep(0)
                        await asyncio.sleep(0)
                    while len(frames) <= self.max_merge and _buffered(ws):
                        more = await recv()  # returns at once: the frame is buffered
                        if isinstance(more, bytes):
                            frames.append(more)
                    self.merged += len(frames) - 1
                self._dispatch_many(frames, sink)
            # recv() returns without suspending while frames are buffered: yield once per frame so the
            # bus sink and the timers run between frames (trade-to-bus latency), not after the backlog.
            await asyncio.sleep(0)

    def _quarantine(self, reason: str, msg: Any) -> None:
        """Count a malformed message, keep it (with its reason) in :attr:`quarantined`, log it (rate-limited)."""
        self.malformed += 1
        self.quarantined.append({"reason": reason, "message": repr(msg)[:300]})
        now = time.monotonic()
        if now - self._last_quarantine_log >= 10.0:
            self._last_quarantine_log = now
            logger.warning("alpaca stream: malformed message quarantined (%s): %.200r (%d so far)",
                           reason, msg, self.malformed)

    def _dispatch(self, raw: bytes, sink: FeedSink) -> None:
        """Decode one frame and hand its trades to the sink as one batch, the rest message by message."""
        self._dispatch_many([raw], sink)

    def _dispatch_many(self, raws: list[bytes | TradeBatch | tuple[Any, ...] | None], sink: FeedSink) -> None:
        """:meth:`_dispatch` of consecutive frames (raw, or already through :meth:`_decode`), the
        trades of consecutive trade frames as one batch.

        Order is kept: trades gathered so far go to the sink before a frame that takes the
        message-by-message path. One batch of the trades of several frames in arrival order
        aggregates exactly as the frames one after the other (lateness is judged against
        each symbol's running maximum, trade by trade, either way).
        """
        pending: list[TradeBatch] = []
        for raw in raws:
            got = self._decode(raw) if type(raw) is bytes else raw
            if got is None:
                continue
            if type(got) is TradeBatch:
                pending.append(got)
                continue
            if pending:
                sink.on_trades(TradeBatch.concat(pending))
                pending = []
            self._dispatch_slow(got, sink)  # type: ignore[arg-type]
        if pending:
            sink.on_trades(TradeBatch.concat(pending))

    def _decode(self, raw: bytes) -> TradeBatch | tuple[Any, ...] | None:
        """One frame as a :class:`TradeBatch` (fast path), or its messages for :meth:`_dispatch_slow`.

        Fast path (a frame of well-formed trades, what the feed sends nearly always): one
        ``msgpack`` decode with ``raw=True`` and ``use_list=False`` (no UTF-8 decoding, no
        lists), then the fields are pulled into columns by C-level ``map``/``zip`` and
        type-checked per column, with no Python loop per trade. Any surprise (another
        message type, a missing key, a wrong type, an unknown symbol) returns the messages
        for :meth:`_dispatch_slow`, which checks each message and quarantines the bad ones
        without losing the rest of the frame. ``None``: nothing to deliver (an unreadable
        frame is quarantined here).

        First step, when built: the C decoder (:mod:`.wire`) reads a frame of trades
        straight into the same columns (~10× faster); anything else it leaves to the
        Python code below, unchanged.
        """
        native = self._wire
        if native is not None:
            batch = native.decode(raw, self._sid_raw)
            if batch is not None:
                if batch is wire.EMPTY:
                    return None
                self.messages += len(batch)
                return batch
        try:
            msgs = msgpack.unpackb(raw, timestamp=2, raw=True, use_list=False)
        except Exception as exc:
            self._quarantine(f"unreadable frame: {type(exc).__name__}: {exc}", raw[:100])
            return None
        msgs_t: tuple[Any, ...] = msgs if type(msgs) is tuple else (msgs,)
        n = len(msgs_t)
        if n == 0:
            return None
        self.messages += n
        try:
            kind, sym_b, ts, px, sz, tid = zip(*map(_TRADE_FIELDS, msgs_t), strict=True)
            if kind.count(b"t") != n:
                return msgs_t
            # One type check per pair of columns (a tuple concatenation is cheaper than a second set).
            if set(map(type, ts + tid)) != _INT_ONLY or not set(map(type, px + sz)) <= _NUMBER:
                return msgs_t
            return TradeBatch(np.fromiter(map(self._sid_raw.__getitem__, sym_b), np.int32, n),
                              np.array(ts, np.int64), np.array(px, np.float64), np.array(sz, np.float64),
                              np.array(tid, np.int64))
        except (KeyError, TypeError, ValueError, OverflowError):
            return msgs_t

    def _symbol_id(self, raw: Any, sink: FeedSink) -> int:
        sid = self._sid_raw.get(raw)
        if sid is None:
            sid = sink.symbols.add(raw.decode() if isinstance(raw, bytes) else raw)
            if isinstance(raw, bytes):
                self._sid_raw[raw] = sid
        return sid

    def _dispatch_slow(self, msgs: tuple[Any, ...], sink: FeedSink) -> None:
        sym: list[int] = []
        ts: list[int] = []
        px: list[float] = []
        sz: list[float] = []
        tid: list[int] = []
        other: list[dict[str, Any]] = []
        for m in msgs:
            if not isinstance(m, dict):
                self._quarantine("not a map", m)
                continue
            kind = m.get(b"T")
            if kind != b"t":
                try:
                    other.append(_text(m))
                except UnicodeDecodeError:
                    self._quarantine("invalid UTF-8", m)
                continue
            try:
                t = m[b"t"]
                p = m[b"p"]
                z = m[b"s"]
                i = m.get(b"i", -1)
                if type(t) is not int:
                    t = _ts_ns(t.decode() if isinstance(t, bytes) else t)
                if type(p) not in (float, int) or type(z) not in (float, int) or type(i) is not int:
                    raise TypeError("price, size or id of the wrong type")
                if not (_I64_MIN <= t <= _I64_MAX and _I64_MIN <= i <= _I64_MAX):
                    raise ValueError("time or id out of range")
                sid = self._symbol_id(m[b"S"], sink)
            except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
                self._quarantine(f"trade: {type(exc).__name__}: {exc}", m)
                continue
            sym.append(sid)
            ts.append(t)
            px.append(p)
            sz.append(z)
            tid.append(i)
        if sym:
            sink.on_trades(TradeBatch.from_lists(sym, ts, px, sz, tid))
        if other:
            self._others(other, sink)

    def _others(self, msgs: list[dict[str, Any]], sink: FeedSink) -> None:
        bars: list[dict[str, Any]] = []
        for m in msgs:
            kind = m.get("T")
            try:
                if kind in ("b", "u"):
                    bars.append(m)
                elif kind == "c":
                    sid = sink.symbols.add(m["S"])
                    sink.on_correction(sid, int(m["oi"]), _ts_ns(m["t"]), float(m["op"]), float(m["os"]),
                                       float(m["cp"]), float(m["cs"]))
                elif kind == "x":
                    if str(m.get("a", "C")).upper() in ("C", "E"):
                        sid = sink.symbols.add(m["S"])
                        sink.on_correction(sid, int(m["i"]), _ts_ns(m["t"]), float(m["p"]), float(m["s"]),
                                           None, None)
                elif kind == "error":
                    self._error(m)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self._quarantine(f"{kind} message: {type(exc).__name__}: {exc}", m)
        if bars:
            sink.on_bars(self._bar_table(bars))

    def _bar_table(self, rows: list[dict[str, Any]]) -> pa.Table:
        from jonbu_core.models import BAR_SCHEMA_NULLABLE

        def num(r: dict[str, Any], k: str) -> float | None:
            v = r.get(k)
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

        ts: list[int | None] = []
        for r in rows:
            try:
                ts.append(_ts_ns(r.get("t")) // 1000)
            except (TypeError, ValueError):
                ts.append(None)
        n = len(rows)
        return pa.Table.from_arrays(
            [
                pa.array([str(r.get("S", "")) for r in rows], pa.string()),
                pa.array(["1m"] * n, pa.string()),
                pa.array(ts, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                *(pa.array([num(r, k) for r in rows], pa.float64()) for k in ("o", "h", "l", "c", "v")),
                pa.array([r.get("n") if type(r.get("n")) is int else None for r in rows], pa.int64()),
                pa.array([num(r, "vw") for r in rows], pa.float64()),
                pa.array([self.source] * n, pa.string()),
            ],
            schema=BAR_SCHEMA_NULLABLE,
        )


__all__ = ["DEFAULT_URL", "AlpacaFeed", "stream_url"]
