"""Historical bars and trades from Alpaca through alpaca-py's ``StockHistoricalDataClient``.

alpaca-py's ``get_stock_bars`` follows every ``next_page_token`` and returns the
whole range at once, and its own retry sleeps a fixed 3 s on 429 whatever the
server says. So this adapter keeps the client (its base URL / ``url_override``,
auth headers, session and request encoding) but drives its REST layer
(``client.get``) one page at a time:

* request fields come from alpaca-py's ``StockBarsRequest`` / ``StockTradesRequest``
  (``feed``, ``adjustment``, RFC 3339 times), plus ``limit`` and ``page_token``;
* each page is turned into Arrow batches (``t,o,h,l,c,v,n,vw`` → our columns,
  ``source`` = ``alpaca-<feed>``) and yielded before the next page is asked for;
* a token bucket (``JONBU_ALPACA_REQUESTS_PER_MINUTE``) spaces requests;
* 429, 5xx, timeouts, connection errors and unreadable bodies are retried with
  exponential backoff and jitter (:mod:`jonbu_core.providers.ratelimit`),
  honouring ``Retry-After``; 401/403 raise :class:`ProviderAuthError`; other 4xx
  raise :class:`ProviderError` without a retry;
* a page token that comes back a second time stops the request with an error
  instead of looping.

Malformed rows are passed on with nulls where a value was missing or not a
number: the store's validation quarantines them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import requests
from requests.adapters import HTTPAdapter

from jonbu_core.errors import ProviderAuthError, ProviderError
from jonbu_core.models import BAR_SCHEMA_NULLABLE, TRADE_SCHEMA, normalize_symbol, to_utc
from jonbu_core.providers.ratelimit import (
    Retryable,
    RetryPolicy,
    TokenBucket,
    parse_retry_after,
    retry_call,
)
from jonbu_core.timeframe import Timeframe, parse_timeframe

if TYPE_CHECKING:
    from jonbu_core.settings import Settings

logger = logging.getLogger(__name__)

MAX_PAGE_LIMIT = 10_000
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"
_NUMBER = (int, float)


class _TimeoutAdapter(HTTPAdapter):
    """A transport adapter that applies a default timeout (alpaca-py sets none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if not args and kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, *args, **kwargs)


@dataclass
class AlpacaStats:
    """Counters of one provider instance (requests sent, retries, pages, rows)."""

    requests: int = 0
    retries: int = 0
    pages: int = 0
    rows: int = 0


def alpaca_timeframe(tf: Timeframe) -> Any:
    """alpaca-py's ``TimeFrame`` for one of ours (``5m`` → ``5Min``)."""
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    unit = {"m": TimeFrameUnit.Minute, "h": TimeFrameUnit.Hour, "d": TimeFrameUnit.Day, "w": TimeFrameUnit.Week}
    return TimeFrame(int(tf.name[:-1]), unit[tf.name[-1]])


def _numbers(rows: list[Any], key: str) -> list[float | None]:
    out: list[float | None] = []
    for r in rows:
        v = r.get(key) if isinstance(r, dict) else None
        out.append(float(v) if isinstance(v, _NUMBER) and not isinstance(v, bool) else None)
    return out


def _ints(rows: list[Any], key: str) -> list[int | None]:
    out: list[int | None] = []
    for r in rows:
        v = r.get(key) if isinstance(r, dict) else None
        if type(v) is int:
            out.append(v)
        elif type(v) is float and v.is_integer():
            out.append(int(v))
        else:
            out.append(None)
    return out


def _times(rows: list[Any]) -> pa.Array:
    texts = [r.get("t") if isinstance(r, dict) and isinstance(r.get("t"), str) else None for r in rows]
    series = pl.Series("t", texts, dtype=pl.String).str.to_datetime(
        _TS_FORMAT, time_unit="us", time_zone="UTC", strict=False
    )
    return series.to_arrow().cast(pa.timestamp("us", tz="UTC"))


def bars_from_wire(symbol: str, timeframe: str, rows: list[Any], source: str) -> pa.RecordBatch:
    """Alpaca bar objects (``t,o,h,l,c,v,n,vw``) as a batch with our bar columns.

    Values that are missing or not numbers become null (the store quarantines
    such rows); the schema is :data:`~jonbu_core.models.BAR_SCHEMA_NULLABLE`.
    """
    n = len(rows)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([symbol] * n, pa.string()),
            pa.array([timeframe] * n, pa.string()),
            _times(rows),
            pa.array(_numbers(rows, "o"), pa.float64()),
            pa.array(_numbers(rows, "h"), pa.float64()),
            pa.array(_numbers(rows, "l"), pa.float64()),
            pa.array(_numbers(rows, "c"), pa.float64()),
            pa.array(_numbers(rows, "v"), pa.float64()),
            pa.array(_ints(rows, "n"), pa.int64()),
            pa.array(_numbers(rows, "vw"), pa.float64()),
            pa.array([source] * n, pa.string()),
        ],
        schema=BAR_SCHEMA_NULLABLE,
    )


def trades_from_wire(symbol: str, rows: list[Any]) -> pa.RecordBatch:
    """Alpaca trade objects (``t,p,s,i``) as a :data:`TRADE_SCHEMA` batch; unusable rows are dropped."""
    ids = [r.get("i") if isinstance(r, dict) else None for r in rows]
    table = pa.table(
        {
            "symbol": pa.array([symbol] * len(rows), pa.string()),
            "ts": _times(rows),
            "price": pa.array(_numbers(rows, "p"), pa.float64()),
            "size": pa.array(_numbers(rows, "s"), pa.float64()),
            "trade_id": pa.array([None if i is None else str(i) for i in ids], pa.string()),
        }
    )
    required = [c for c in TRADE_SCHEMA.names if c != "trade_id"]
    mask = None
    for c in required:
        ok = pc.is_valid(table.column(c))
        mask = ok if mask is None else pc.and_(mask, ok)
    good = table.filter(mask) if mask is not None else table
    if good.num_rows < table.num_rows:
        logger.warning("dropped %d unusable trades of %s", table.num_rows - good.num_rows, symbol)
    return pa.RecordBatch.from_arrays(
        [good.column(c).combine_chunks() for c in TRADE_SCHEMA.names], schema=TRADE_SCHEMA
    )


class AlpacaProvider:
    """:class:`~jonbu_core.providers.base.HistoryProvider` for Alpaca's market-data API.

    Parameters
    ----------
    api_key, secret_key : str
        Alpaca credentials.
    feed : str
        ``iex`` or ``sip``; the bars' source becomes ``alpaca-<feed>``.
    adjustment : str
        ``raw``, ``split``, ``dividend`` or ``all``.
    url : str, optional
        Base URL override (``JONBU_ALPACA_DATA_URL``), e.g. a local fake server.
    requests_per_minute : int
        Token-bucket budget.
    timeout : float
        Seconds before a request is abandoned (and retried).
    retry : RetryPolicy, optional
        Attempts and backoff for transient failures.
    page_limit : int
        ``limit`` asked per page (at most 10,000).
    """

    name = "alpaca"

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        feed: str = "iex",
        adjustment: str = "raw",
        url: str | None = None,
        requests_per_minute: int = 200,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        page_limit: int = MAX_PAGE_LIMIT,
    ) -> None:
        from alpaca.data.historical.stock import StockHistoricalDataClient

        if not api_key or not secret_key:
            raise ProviderAuthError("the alpaca provider needs APCA_API_KEY_ID and APCA_API_SECRET_KEY")
        self.feed = feed
        self.adjustment = adjustment
        self.source = f"alpaca-{feed}"
        self.page_limit = max(1, min(int(page_limit), MAX_PAGE_LIMIT))
        self.client = StockHistoricalDataClient(api_key, secret_key, url_override=url.rstrip("/") if url else None)
        # Retries are ours (Retry-After aware); alpaca-py's would sleep 3 s on 429 regardless.
        self.client._retry = 0
        adapter = _TimeoutAdapter(timeout)
        self.client._session.mount("http://", adapter)
        self.client._session.mount("https://", adapter)
        self.limiter = TokenBucket.per_minute(requests_per_minute)
        self.retry = retry or RetryPolicy()
        self.stats = AlpacaStats()

    @classmethod
    def from_settings(cls, settings: Settings) -> AlpacaProvider:
        """Build the provider from ``APCA_*`` and ``JONBU_ALPACA_*`` settings."""
        key = settings.alpaca_api_key_id.get_secret_value() if settings.alpaca_api_key_id else ""
        secret = settings.alpaca_secret_key.get_secret_value() if settings.alpaca_secret_key else ""
        return cls(
            key,
            secret,
            feed=settings.alpaca_feed,
            adjustment=settings.alpaca_adjustment,
            url=settings.alpaca_data_url,
            requests_per_minute=settings.alpaca_requests_per_minute,
            timeout=settings.alpaca_timeout_seconds,
            retry=RetryPolicy(
                max_attempts=settings.alpaca_max_retries + 1,
                base=settings.alpaca_backoff_base,
                cap=max(30.0, settings.alpaca_backoff_base),
            ),
        )

    # ------------------------------------------------------------- requests
    def _attempt(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        from alpaca.common.exceptions import APIError

        self.limiter.acquire()
        self.stats.requests += 1
        try:
            body = self.client.get(path, dict(params))
        except APIError as exc:
            status = exc.status_code or 0
            detail = _api_message(exc)
            if status in (401, 403):
                raise ProviderAuthError(
                    f"alpaca refused the request (HTTP {status}: {detail}); check APCA_API_KEY_ID/"
                    f"APCA_API_SECRET_KEY and that your plan allows feed {self.feed!r}"
                ) from None
            if status == 429 or status >= 500:
                headers = exc.response.headers if exc.response is not None else {}
                raise Retryable(f"HTTP {status}: {detail}", parse_retry_after(headers.get("Retry-After"))) from None
            raise ProviderError(f"alpaca rejected the request (HTTP {status}): {detail}") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise Retryable(f"{type(exc).__name__}: {exc}") from None
        except ValueError as exc:  # JSON of a 200 response could not be decoded
            raise Retryable(f"unreadable response body: {exc}") from None
        if not isinstance(body, dict):
            raise Retryable(f"unexpected response body of type {type(body).__name__}")
        return body

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        def counted(attempt: int, err: Retryable, wait: float) -> None:
            self.stats.retries += 1

        return retry_call(lambda: self._attempt(path, params), self.retry, what=f"alpaca GET {path}",
                          on_retry=counted)

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            query = dict(params, limit=self.page_limit)
            if token:
                query["page_token"] = token
            body = self._get(path, query)
            self.stats.pages += 1
            yield body
            nxt = body.get("next_page_token")
            if not nxt:
                return
            if not isinstance(nxt, str) or nxt in seen:
                raise ProviderError(
                    f"alpaca GET {path} returned the page token {nxt!r} twice; stopping instead of looping"
                )
            seen.add(nxt)
            token = nxt

    @staticmethod
    def _entries(body: dict[str, Any], key: str, symbols: Sequence[str]) -> Iterator[tuple[str, list[Any]]]:
        data = body.get(key)
        if data is None:
            return
        if isinstance(data, list):  # per-symbol form
            sym = body.get("symbol") or (symbols[0] if len(symbols) == 1 else None)
            if sym is None:
                raise ProviderError(f"alpaca sent a {key} list without its symbol")
            yield str(sym), data
            return
        if not isinstance(data, dict):
            raise ProviderError(f"alpaca sent {key!r} of type {type(data).__name__}")
        for sym, rows in data.items():
            if isinstance(rows, list) and rows:
                yield str(sym), rows

    # -------------------------------------------------------------- the port
    def bars(
        self, symbols: Sequence[str], timeframe: str, start: datetime, end: datetime
    ) -> Iterator[pa.RecordBatch]:
        """Bars of ``symbols`` in ``[start, end)``, one batch per (page, symbol).

        Yields
        ------
        pa.RecordBatch
            :data:`~jonbu_core.models.BAR_SCHEMA_NULLABLE` rows as Alpaca sent them
            (a malformed value becomes null), ``source`` = ``alpaca-<feed>``.
        """
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest

        syms = [normalize_symbol(s) for s in symbols]
        if not syms:
            return
        tf = parse_timeframe(timeframe)
        # Alpaca's ``end`` is inclusive: stop one microsecond before ours.
        req = StockBarsRequest(
            symbol_or_symbols=syms, timeframe=alpaca_timeframe(tf), start=to_utc(start),
            end=_inclusive_end(end), feed=DataFeed(self.feed), adjustment=Adjustment(self.adjustment),
        )
        for body in self._pages("/stocks/bars", req.to_request_fields()):
            for sym, rows in self._entries(body, "bars", syms):
                batch = bars_from_wire(sym, tf.name, rows, self.source)
                self.stats.rows += batch.num_rows
                yield batch

    def trades(self, symbol: str, start: datetime, end: datetime) -> Iterator[pa.RecordBatch]:
        """Trades of ``symbol`` in ``[start, end)``, one batch per page (:data:`TRADE_SCHEMA`)."""
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import StockTradesRequest

        sym = normalize_symbol(symbol)
        req = StockTradesRequest(symbol_or_symbols=[sym], start=to_utc(start), end=_inclusive_end(end),
                                 feed=DataFeed(self.feed))
        for body in self._pages("/stocks/trades", req.to_request_fields()):
            for s, rows in self._entries(body, "trades", [sym]):
                batch = trades_from_wire(s, rows)
                self.stats.rows += batch.num_rows
                if batch.num_rows:
                    yield batch

    def close(self) -> None:
        """Close the HTTP session."""
        self.client._session.close()


def _inclusive_end(end: datetime) -> datetime:
    return to_utc(end) - timedelta(microseconds=1)


def _api_message(exc: Any) -> str:
    text = str(getattr(exc, "_error", "") or exc)
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:200] or "no detail"
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return text.strip()[:200]


__all__ = ["AlpacaProvider", "AlpacaStats", "alpaca_timeframe", "bars_from_wire", "trades_from_wire"]
