"""A fake Alpaca market-data REST server (``/v2/stocks/bars``, ``/v2/stocks/trades``).

It speaks Alpaca's JSON wire format — multi-symbol form (``?symbols=A,B`` →
``{"bars": {"A": [...]}, "next_page_token": ...}``) and per-symbol form
(``/v2/stocks/A/bars`` → ``{"bars": [...], "symbol": "A", ...}``) — with
``limit``/``page_token`` pagination (rows ordered by symbol then time, pages
capped at ``page_size``), an inclusive ``end``, and auth through the
``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` headers. The data comes from
:class:`jonbu_core.providers.mock.MockMarket`, so tests can compare what was stored
with what the market holds.

Faults are injected through :attr:`FakeAlpacaServer.faults` (thread-safe counters
consumed by the next requests): 429 with ``Retry-After``, bursts of 5xx, slow
responses, malformed rows (cycling through :data:`MALFORMED_KINDS`), duplicated
rows, out-of-order rows inside a page and a ``next_page_token`` that repeats.

Run it by hand or from ``bench/``::

    python -m tests.fakes.alpaca_rest --port 8765 --key test-key --secret test-secret
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import re
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa

from jonbu_core.providers.mock import MockMarket

DEFAULT_KEY = "test-key"
DEFAULT_SECRET = "test-secret"
MALFORMED_KINDS = ("high_below_low", "negative_volume", "missing_close", "string_open", "bad_timestamp")
"""What a malformed bar looks like, in turn (the validation reasons they map to differ)."""
_TF_RE = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W)$")
_TF_UNIT = {"Min": "m", "T": "m", "Hour": "h", "H": "h", "Day": "d", "D": "d", "Week": "w", "W": "w"}
_SUPPORTED_TF = {"1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"}
_PATH_RE = re.compile(r"^/v2/stocks(?:/([A-Za-z][A-Za-z0-9.\-]{0,9}))?/(bars|trades)$")


@dataclass
class Faults:
    """Injectable misbehaviour; counters are consumed by the next data requests."""

    rate_limited: int = 0
    retry_after: str | None = "1"
    server_errors: int = 0
    error_status: int = 500
    slow: int = 0
    slow_seconds: float = 0.0
    malformed_every: int = 0
    duplicate_every: int = 0
    shuffle: bool = False
    repeat_token: bool = False
    reject_auth: bool = False
    forbidden_feeds: tuple[str, ...] = ()


@dataclass
class RequestLog:
    """One request the server answered."""

    path: str
    params: dict[str, str]
    status: int
    at: float
    rows: int = 0


@dataclass
class _State:
    faults: Faults = field(default_factory=Faults)
    log: list[RequestLog] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cache: OrderedDict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=OrderedDict)


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _parse_time(value: str | None, name: str, default: datetime) -> datetime:
    if not value:
        return default
    try:
        ts = datetime.fromisoformat(value.replace(" ", "+")) if "T" in value else datetime.fromisoformat(value)
    except ValueError:
        raise _ApiError(422, 42210000, f"invalid {name}: {value}") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _iso(us: int) -> str:
    ts = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if us % 1_000_000 else ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def _bar_rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    cols = {c: table.column(c).to_pylist() for c in ("open", "high", "low", "close", "volume", "trade_count", "vwap")}
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    for i, t in enumerate(ts):
        yield {"t": _iso(t), "o": cols["open"][i], "h": cols["high"][i], "l": cols["low"][i],
               "c": cols["close"][i], "v": _num(cols["volume"][i]), "n": cols["trade_count"][i],
               "vw": cols["vwap"][i]}


def _trade_rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    price, size, ids = (table.column(c).to_pylist() for c in ("price", "size", "trade_id"))
    for i, t in enumerate(ts):
        yield {"t": _iso(t), "x": "V", "p": price[i], "s": _num(size[i]), "c": ["@"], "i": int(ids[i]), "z": "C"}


def malform(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """A copy of the bar ``row`` broken the ``kind`` way (see :data:`MALFORMED_KINDS`)."""
    bad = dict(row)
    if kind == "high_below_low":
        bad["h"] = row["l"] - 1.0
    elif kind == "negative_volume":
        bad["v"] = -abs(row["v"]) - 1
    elif kind == "missing_close":
        bad.pop("c", None)
    elif kind == "string_open":
        bad["o"] = "not-a-number"
    elif kind == "bad_timestamp":
        bad["t"] = "yesterday at noon"
    return bad


class FakeAlpacaServer:
    """The server, run in a background thread on ``host`` (a free port by default).

    Parameters
    ----------
    market : MockMarket, optional
        Where the data comes from (``MockMarket(seed)`` by default).
    key_id, secret : str
        Credentials the server accepts.
    page_size : int
        Most rows per page (Alpaca's cap is 10,000; smaller pages exercise pagination).
    """

    def __init__(
        self,
        market: MockMarket | None = None,
        *,
        key_id: str = DEFAULT_KEY,
        secret: str = DEFAULT_SECRET,
        page_size: int = 1000,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 42,
    ) -> None:
        self.market = market or MockMarket(seed)
        self.key_id, self.secret, self.page_size = key_id, secret, page_size
        self._state = _State()
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- control
    @property
    def url(self) -> str:
        """Base URL to give ``url_override`` / ``JONBU_ALPACA_DATA_URL``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def faults(self) -> Faults:
        """The live fault settings (mutate them between requests)."""
        return self._state.faults

    @property
    def log(self) -> list[RequestLog]:
        """Every answered request, in order."""
        with self._state.lock:
            return list(self._state.log)

    def reset(self) -> None:
        """Clear faults and the request log."""
        with self._state.lock:
            self._state.faults = Faults()
            self._state.log.clear()

    def start(self) -> FakeAlpacaServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-alpaca", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAlpacaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------- data
    def _take(self, name: str) -> bool:
        with self._state.lock:
            n = getattr(self._state.faults, name)
            if n > 0:
                setattr(self._state.faults, name, n - 1)
                return True
            return False

    def _rows(self, kind: str, symbols: list[str], q: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
        now = datetime.now(UTC)
        start = _parse_time(q.get("start"), "start", now.replace(hour=0, minute=0, second=0, microsecond=0))
        end = _parse_time(q.get("end"), "end", now) + timedelta(microseconds=1)  # Alpaca's end is inclusive
        if start >= end:
            raise _ApiError(422, 42210000, "end should not be before start")
        tf = "1m"
        if kind == "bars":
            m = _TF_RE.match(q.get("timeframe", ""))
            tf = f"{m.group(1)}{_TF_UNIT[m.group(2)]}" if m else ""
            if tf not in _SUPPORTED_TF:
                raise _ApiError(422, 42210000, f"invalid timeframe: {q.get('timeframe')!r}")
        key = json.dumps([kind, symbols, tf, start.isoformat(), end.isoformat()])
        with self._state.lock:
            if key in self._state.cache:
                return self._state.cache[key]
        out: list[tuple[str, dict[str, Any]]] = []
        for sym in sorted(symbols):
            if kind == "bars":
                for batch in self.market.bars(sym, tf, start, end):
                    out.extend((sym, r) for r in _bar_rows(pa.Table.from_batches([batch])))
            else:
                for batch in self.market.trades(sym, start, end):
                    out.extend((sym, r) for r in _trade_rows(pa.Table.from_batches([batch])))
        with self._state.lock:
            self._state.cache[key] = out
            while len(self._state.cache) > 16:
                self._state.cache.popitem(last=False)
        return out

    def _page(self, kind: str, symbols: list[str], q: dict[str, str]) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        rows = self._rows(kind, symbols, q)
        try:
            limit = int(q.get("limit") or 1000)
        except ValueError:
            raise _ApiError(422, 42210000, "invalid limit") from None
        if not 1 <= limit <= 10_000:
            raise _ApiError(422, 42210000, "invalid limit: must be between 1 and 10000")
        limit = min(limit, self.page_size)
        qhash = hashlib.sha1(json.dumps([kind, symbols, q.get("timeframe"), q.get("start"), q.get("end")]).encode()).hexdigest()[:12]
        offset = 0
        token = q.get("page_token")
        if token:
            try:
                h, off = base64.b64decode(token, validate=True).decode().split("|")
                offset = int(off)
            except Exception:
                raise _ApiError(400, 40010001, "invalid page token") from None
            if h != qhash or offset < 0:
                raise _ApiError(400, 40010001, "page token does not match the request")
        page = list(rows[offset : offset + limit])
        nxt = offset + limit
        if self.faults.repeat_token and token:
            nxt = offset
        next_token = base64.b64encode(f"{qhash}|{nxt}".encode()).decode() if nxt < len(rows) else None
        return self._mangle(kind, page, offset), next_token

    def _mangle(self, kind: str, page: list[tuple[str, dict[str, Any]]], offset: int) -> list[tuple[str, dict[str, Any]]]:
        f = self.faults
        out: list[tuple[str, dict[str, Any]]] = []
        for i, (sym, row) in enumerate(page):
            g = offset + i
            if kind == "bars" and f.malformed_every and g % f.malformed_every == f.malformed_every - 1:
                out.append((sym, malform(row, MALFORMED_KINDS[(g // f.malformed_every) % len(MALFORMED_KINDS)])))
                continue
            out.append((sym, row))
            if f.duplicate_every and g % f.duplicate_every == f.duplicate_every // 2:
                out.append((sym, dict(row)))
        if f.shuffle:
            for i in range(0, len(out) - 1, 2):
                if out[i][0] == out[i + 1][0]:
                    out[i], out[i + 1] = out[i + 1], out[i]
        return out

    def handle(self, path: str, query: str, headers: Any) -> tuple[int, dict[str, Any], dict[str, str], int]:
        """Answer one GET: ``(status, body, extra headers, rows served)``."""
        f = self.faults
        if f.slow > 0 and self._take("slow"):
            time.sleep(f.slow_seconds)
        m = _PATH_RE.match(path)
        if m is None:
            return 404, {"code": 40410000, "message": "endpoint not found"}, {}, 0
        if f.reject_auth or headers.get("APCA-API-KEY-ID") != self.key_id or headers.get("APCA-API-SECRET-KEY") != self.secret:
            return 401, {"code": 40110000, "message": "request is not authorized"}, {}, 0
        if self._take("rate_limited"):
            extra = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
            return 429, {"code": 42910000, "message": "rate limit exceeded"}, extra, 0
        if self._take("server_errors"):
            return f.error_status, {"code": 50010000, "message": "internal server error"}, {}, 0
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if q.get("feed", "iex") in f.forbidden_feeds:
            return 403, {"code": 40310000, "message": "subscription does not permit querying this feed"}, {}, 0
        kind = m.group(2)
        symbols = [m.group(1).upper()] if m.group(1) else [s.strip().upper() for s in q.get("symbols", "").split(",") if s.strip()]
        if not symbols:
            return 422, {"code": 42210000, "message": "missing symbols"}, {}, 0
        try:
            page, token = self._page(kind, symbols, q)
        except _ApiError as exc:
            return exc.status, {"code": exc.code, "message": exc.message}, exc.headers, 0
        if m.group(1):
            body: dict[str, Any] = {kind: [r for _, r in page], "symbol": symbols[0], "next_page_token": token}
        else:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for sym, row in page:
                grouped.setdefault(sym, []).append(row)
            body = {kind: grouped, "next_page_token": token}
        if kind == "bars":
            body["currency"] = "USD"
        return 200, body, {}, len(page)


class _Handler(BaseHTTPRequestHandler):
    server_ref: FakeAlpacaServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        status, body, extra, rows = self.server_ref.handle(parts.path, parts.query, self.headers)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.server_ref._state.lock:
            self.server_ref._state.log.append(RequestLog(parts.path, params, status, time.time(), rows))
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _fixture() -> Any:
    import pytest

    @pytest.fixture
    def alpaca_server() -> Iterator[FakeAlpacaServer]:
        """A running :class:`FakeAlpacaServer` (seed 42, pages of 1000 rows, keys test-key/test-secret)."""
        with FakeAlpacaServer() as server:
            yield server

    return alpaca_server


alpaca_server = _fixture()


def main(argv: list[str] | None = None) -> int:
    """Run the server in the foreground until interrupted."""
    ap = argparse.ArgumentParser(description="Fake Alpaca market-data REST server (data from the mock market).")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind")
    ap.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    ap.add_argument("--key", default=DEFAULT_KEY, help="accepted APCA-API-KEY-ID")
    ap.add_argument("--secret", default=DEFAULT_SECRET, help="accepted APCA-API-SECRET-KEY")
    ap.add_argument("--seed", type=int, default=42, help="mock market seed")
    ap.add_argument("--page-size", type=int, default=10_000, help="most rows per page")
    ap.add_argument("--malformed-every", type=int, default=0, help="make every Nth bar malformed")
    ap.add_argument("--duplicate-every", type=int, default=0, help="send every Nth bar twice")
    ap.add_argument("--shuffle", action="store_true", help="swap neighbouring rows in each page")
    args = ap.parse_args(argv)
    server = FakeAlpacaServer(key_id=args.key, secret=args.secret, page_size=args.page_size,
                              host=args.host, port=args.port, seed=args.seed)
    server.faults.malformed_every = args.malformed_every
    server.faults.duplicate_every = args.duplicate_every
    server.faults.shuffle = args.shuffle
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(f"fake Alpaca data API on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
