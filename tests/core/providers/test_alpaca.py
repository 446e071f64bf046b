"""The Alpaca provider — the real alpaca-py client — against the fake Alpaca server."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pyarrow as pa
import pytest
import requests

from jonbu_core.errors import ProviderAuthError, ProviderError
from jonbu_core.models import BAR_SCHEMA, TRADE_SCHEMA
from jonbu_core.providers.alpaca import AlpacaProvider
from jonbu_core.providers.factory import open_provider
from jonbu_core.providers.mock import MockMarket
from jonbu_core.providers.ratelimit import RetryPolicy, TokenBucket
from jonbu_core.settings import load_settings
from tests.fakes.alpaca_rest import DEFAULT_KEY, DEFAULT_SECRET, FakeAlpacaServer

START, END = datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 9, tzinfo=UTC)  # 5 sessions
VALUES = ["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "trade_count", "vwap"]


def provider(server: FakeAlpacaServer, **kw: object) -> AlpacaProvider:
    opts: dict[str, object] = {"url": server.url, "retry": RetryPolicy(max_attempts=5, base=0.01),
                               "requests_per_minute": 60_000, "timeout": 5.0}
    opts.update(kw)
    return AlpacaProvider(DEFAULT_KEY, DEFAULT_SECRET, **opts)  # type: ignore[arg-type]


def expected(symbols: list[str], tf: str = "1m", start: datetime = START, end: datetime = END) -> pa.Table:
    m = MockMarket()
    return pa.concat_tables(
        [pa.Table.from_batches(list(m.bars(s, tf, start, end)), schema=BAR_SCHEMA) for s in sorted(symbols)]
    ).select(VALUES)


def got(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches).select(VALUES).cast(expected(["AAPL"]).schema)


def test_multi_page_results_arrive_complete_and_in_order(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.page_size = 700
    p = provider(alpaca_server)
    batches = list(p.bars(["MSFT", "AAPL"], "1m", START, END))
    want = expected(["AAPL", "MSFT"])
    assert got(batches).equals(want)
    assert {b.column("source")[0].as_py() for b in batches} == {"alpaca-iex"}
    pages = [r for r in alpaca_server.log if r.path == "/v2/stocks/bars"]
    assert len(pages) == math.ceil(want.num_rows / 700) == p.stats.pages
    assert all(r.status == 200 for r in pages)
    assert pages[0].params["symbols"] == "MSFT,AAPL" and pages[0].params["timeframe"] == "1Min"
    assert pages[0].params["feed"] == "iex" and pages[0].params["adjustment"] == "raw"
    assert "page_token" not in pages[0].params and all("page_token" in r.params for r in pages[1:])
    # Each page is yielded before the next is requested: the first batch exists after one request.
    alpaca_server.reset()
    it = provider(alpaca_server).bars(["AAPL"], "1m", START, END)
    next(it)
    assert len(alpaca_server.log) == 1


def test_other_timeframes_and_the_per_symbol_form(alpaca_server: FakeAlpacaServer) -> None:
    p = provider(alpaca_server, feed="sip", adjustment="all")
    assert got(list(p.bars(["NVDA"], "15m", START, END))).equals(expected(["NVDA"], "15m"))
    assert got(list(p.bars(["NVDA"], "1d", START, END))).equals(expected(["NVDA"], "1d"))
    assert alpaca_server.log[-1].params["feed"] == "sip" and alpaca_server.log[-1].params["timeframe"] == "1Day"
    body = requests.get(f"{alpaca_server.url}/v2/stocks/NVDA/bars", timeout=5,
                        params={"timeframe": "1Day", "start": "2024-01-02", "end": "2024-01-08T23:59:59Z"},
                        headers={"APCA-API-KEY-ID": DEFAULT_KEY, "APCA-API-SECRET-KEY": DEFAULT_SECRET}).json()
    assert body["symbol"] == "NVDA" and len(body["bars"]) == 5 and body["next_page_token"] is None


def test_trades_match_the_market(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.page_size = 1500
    lo, hi = datetime(2024, 1, 3, 14, 30, tzinfo=UTC), datetime(2024, 1, 3, 15, 30, tzinfo=UTC)
    batches = list(provider(alpaca_server).trades("AAPL", lo, hi))
    want = pa.Table.from_batches(list(MockMarket().trades("AAPL", lo, hi)), schema=TRADE_SCHEMA)
    assert len(batches) > 1
    assert pa.Table.from_batches(batches).equals(want)


def test_429_backs_off_honouring_retry_after(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.faults.rate_limited = 2
    alpaca_server.faults.retry_after = "0.3"
    p = provider(alpaca_server)
    assert got(list(p.bars(["AAPL"], "1d", START, END))).equals(expected(["AAPL"], "1d"))
    log = alpaca_server.log
    assert [r.status for r in log] == [429, 429, 200]
    assert log[1].at - log[0].at >= 0.3 and log[2].at - log[1].at >= 0.3
    assert p.stats.retries == 2


def test_5xx_bursts_are_retried(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.page_size = 1000
    alpaca_server.faults.server_errors = 3
    alpaca_server.faults.error_status = 502
    p = provider(alpaca_server)
    assert got(list(p.bars(["AAPL", "MSFT"], "1m", START, END))).equals(expected(["AAPL", "MSFT"]))
    statuses = [r.status for r in alpaca_server.log]
    assert statuses[:4] == [502, 502, 502, 200] and set(statuses[4:]) == {200}


def test_persistent_5xx_ends_in_a_provider_error(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.faults.server_errors = 100
    with pytest.raises(ProviderError, match="after 3 attempts: HTTP 500"):
        list(provider(alpaca_server, retry=RetryPolicy(max_attempts=3, base=0.01)).bars(["AAPL"], "1m", START, END))
    assert len(alpaca_server.log) == 3


def test_timeouts_are_retried(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.faults.slow = 1
    alpaca_server.faults.slow_seconds = 2.5
    p = provider(alpaca_server, timeout=0.8)
    assert got(list(p.bars(["AAPL"], "1d", START, END))).equals(expected(["AAPL"], "1d"))
    assert p.stats.retries >= 1 and p.stats.requests == p.stats.retries + 1


def test_bad_keys_are_a_clear_error_without_retries(alpaca_server: FakeAlpacaServer) -> None:
    p = AlpacaProvider("wrong", "keys", url=alpaca_server.url, retry=RetryPolicy(base=0.01))
    with pytest.raises(ProviderAuthError, match=r"HTTP 401.*APCA_API_KEY_ID"):
        list(p.bars(["AAPL"], "1m", START, END))
    assert [r.status for r in alpaca_server.log] == [401]


def test_a_forbidden_feed_is_an_auth_error(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.faults.forbidden_feeds = ("sip",)
    with pytest.raises(ProviderAuthError, match=r"HTTP 403.*feed 'sip'"):
        list(provider(alpaca_server, feed="sip").bars(["AAPL"], "1m", START, END))
    assert len(alpaca_server.log) == 1


def test_other_4xx_are_not_retried(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.faults.server_errors = 5
    alpaca_server.faults.error_status = 422
    with pytest.raises(ProviderError, match="HTTP 422") as err:
        list(provider(alpaca_server).bars(["AAPL"], "1m", START, END))
    assert not isinstance(err.value, ProviderAuthError)
    assert len(alpaca_server.log) == 1


def test_a_repeating_page_token_stops_instead_of_looping(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.page_size = 500
    alpaca_server.faults.repeat_token = True
    with pytest.raises(ProviderError, match=r"page token .* twice"):
        list(provider(alpaca_server).bars(["AAPL"], "1m", START, END))
    assert len(alpaca_server.log) == 2  # the second page repeated the first page's token


def test_malformed_rows_become_nulls_not_crashes(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.faults.malformed_every = 7
    batches = list(provider(alpaca_server).bars(["AAPL"], "1m", START, END))
    table = pa.Table.from_batches(batches)
    assert table.num_rows == expected(["AAPL"]).num_rows
    assert table.column("close").null_count > 0 and table.column("open").null_count > 0
    assert table.column("ts").null_count > 0


def test_token_bucket_spaces_the_requests(alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.page_size = 500
    p = provider(alpaca_server, requests_per_minute=120)
    slept: list[float] = []
    clock = [0.0]

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    p.limiter = TokenBucket(2.0, 1, clock=lambda: clock[0], sleep=sleep)
    list(p.bars(["AAPL"], "1m", START, END))
    n = len(alpaca_server.log)
    assert n == 4 and len(slept) == n - 1 and sum(slept) == pytest.approx((n - 1) * 0.5)


def test_factory_and_missing_credentials(monkeypatch: pytest.MonkeyPatch, alpaca_server: FakeAlpacaServer) -> None:
    with pytest.raises(ProviderAuthError, match="APCA_API_KEY_ID"):
        open_provider(load_settings(provider="alpaca"))
    monkeypatch.setenv("APCA_API_KEY_ID", DEFAULT_KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", DEFAULT_SECRET)
    monkeypatch.setenv("JONBU_ALPACA_DATA_URL", alpaca_server.url)
    monkeypatch.setenv("JONBU_ALPACA_FEED", "sip")
    p = open_provider(load_settings(), "alpaca")
    assert p.name == "alpaca" and p.source == "alpaca-sip"
    assert got(list(p.bars(["AAPL"], "1d", START, END))).equals(expected(["AAPL"], "1d"))
    assert open_provider(load_settings()).name == "mock"
