"""Fetch orchestration into both stores: resumable, idempotent, quarantine, gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest

from jonbu_core import calendar as cal
from jonbu_core.errors import InvalidInputError, ProviderAuthError
from jonbu_core.ingest import ProgressEvent, fetch, find_gaps
from jonbu_core.ingest.gaps import expected_day
from jonbu_core.models import BAR_SCHEMA
from jonbu_core.providers.alpaca import AlpacaProvider
from jonbu_core.providers.mock import MockMarket, MockProvider
from jonbu_core.providers.ratelimit import RetryPolicy
from jonbu_core.settings import load_settings
from jonbu_core.stores.base import BarStore
from tests.fakes.alpaca_rest import DEFAULT_KEY, DEFAULT_SECRET, MALFORMED_KINDS, FakeAlpacaServer

D0, D1 = date(2024, 1, 2), date(2024, 1, 10)  # 7 sessions
VALUES = ["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "trade_count", "vwap"]


def stored(store: BarStore, symbol: str, tf: str = "1m", d0: date = D0, d1: date = D1) -> pa.Table:
    lo, _ = cal.day_bounds_utc(d0)
    _, hi = cal.day_bounds_utc(d1)
    return store.read_bars(symbol, tf, lo, hi).table


def market(symbol: str, tf: str = "1m", d0: date = D0, d1: date = D1) -> pa.Table:
    lo, _ = cal.day_bounds_utc(d0)
    _, hi = cal.day_bounds_utc(d1)
    return pa.Table.from_batches(list(MockMarket().bars(symbol, tf, lo, hi)), schema=BAR_SCHEMA)


def alpaca(server: FakeAlpacaServer, **kw: object) -> AlpacaProvider:
    return AlpacaProvider(DEFAULT_KEY, DEFAULT_SECRET, url=server.url, requests_per_minute=60_000,
                          retry=RetryPolicy(max_attempts=3, base=0.01), **kw)  # type: ignore[arg-type]


def test_mock_fetch_fills_the_store_and_a_rerun_changes_nothing(any_store: BarStore) -> None:
    events: list[ProgressEvent] = []
    s = fetch(any_store, MockProvider(load_settings()), "AAPL,MSFT", "1m", D0, D1, progress=events.append)
    n = len(cal.sessions(D0, D1))
    assert s.rows_stored == 2 * n * 390 and s.quarantined == 0 and s.gaps_left == 0 and not s.errors
    assert len(events) == 2 * n and events[-1].done == events[-1].total == 2 * n
    assert {e.status for e in events} == {"stored"}
    for sym in ("AAPL", "MSFT"):
        assert stored(any_store, sym).equals(market(sym))
    before = stored(any_store, "AAPL")
    events.clear()
    again = fetch(any_store, MockProvider(load_settings()), ["AAPL", "MSFT"], "1m", D0, D1, progress=events.append)
    assert again.rows_stored == 0 and all(x.skipped_days == n for x in again.symbols)
    assert {e.status for e in events} == {"skipped"} and len(events) == 2 * n
    assert stored(any_store, "AAPL").equals(before)
    forced = fetch(any_store, MockProvider(load_settings()), ["AAPL"], "1m", D0, D1, force=True)
    assert forced.rows_stored == n * 390 and stored(any_store, "AAPL").equals(before)


def test_other_timeframes(lake_store: BarStore) -> None:
    s = fetch(lake_store, MockProvider(load_settings()), "NVDA", "5m", D0, D1)
    assert s.gaps_left == 0 and s.rows_stored == 7 * 78
    assert stored(lake_store, "NVDA", "5m").equals(market("NVDA", "5m"))
    d = fetch(lake_store, MockProvider(load_settings()), "NVDA", "1d", D0, D1)
    assert d.rows_stored == 7 and stored(lake_store, "NVDA", "1d").equals(market("NVDA", "1d"))
    with pytest.raises(InvalidInputError, match="weekly"):
        fetch(lake_store, MockProvider(load_settings()), "NVDA", "1w", D0, D1)
    with pytest.raises(InvalidInputError):
        fetch(lake_store, MockProvider(load_settings()), "NVDA", "1m", D1, D0)


def test_alpaca_stores_what_was_served_minus_quarantined(any_store: BarStore, alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.page_size = 900
    alpaca_server.faults.malformed_every = 97
    alpaca_server.faults.duplicate_every = 131
    alpaca_server.faults.shuffle = True
    s = fetch(any_store, alpaca(alpaca_server), "AAPL,MSFT", "1m", D0, D1)
    per_request = 7 * 390  # one request per symbol (7 sessions fit in one window)
    total = 2 * per_request
    malformed = 2 * (per_request // 97)
    dups = 2 * sum(1 for g in range(per_request) if g % 131 == 65 and g % 97 != 96)
    assert s.received == total + dups
    assert s.quarantined == malformed + dups and s.rows_stored == total - malformed
    assert s.reasons["duplicate_key"] == dups
    assert s.reasons["high_below_low"] + s.reasons["negative_volume"] + s.reasons["missing_value"] == malformed
    assert s.gaps_left == malformed  # each malformed row leaves its minute empty
    assert len(MALFORMED_KINDS) == 5 and per_request // 97 >= 5  # every kind was served
    q = any_store.read_quarantine(limit=10_000)
    assert q.num_rows == malformed + dups
    got = pa.concat_tables([stored(any_store, "AAPL"), stored(any_store, "MSFT")])
    want = pa.concat_tables([market("AAPL"), market("MSFT")])
    assert set(got.column("source").to_pylist()) == {"alpaca-iex"}
    keys = got.column("ts").cast(pa.int64()).to_numpy()
    assert len(np.unique(keys + (np.array(got.column("symbol").to_pylist()) == "MSFT") * 10**18)) == got.num_rows
    # every stored row is exactly the market's row; the missing ones are the malformed ones
    merged = got.select(VALUES).join(want.select(VALUES), keys=["symbol", "ts"], right_suffix="_w")
    assert merged.num_rows == got.num_rows
    for col in ("open", "high", "low", "close", "volume", "trade_count", "vwap"):
        assert merged.column(col).equals(merged.column(col + "_w")), col


def test_bad_keys_store_nothing(any_store: BarStore, alpaca_server: FakeAlpacaServer) -> None:
    bad = AlpacaProvider("nope", "nope", url=alpaca_server.url, retry=RetryPolicy(base=0.01))
    with pytest.raises(ProviderAuthError):
        fetch(any_store, bad, "AAPL,MSFT", "1m", D0, D1)
    assert stored(any_store, "AAPL").num_rows == 0 and stored(any_store, "MSFT").num_rows == 0
    assert any_store.read_quarantine().num_rows == 0
    assert len(alpaca_server.log) == 1


def test_a_failed_window_is_reported_and_a_rerun_completes(lake_store: BarStore, alpaca_server: FakeAlpacaServer) -> None:
    alpaca_server.faults.server_errors = 3  # exactly the first window's three attempts
    events: list[ProgressEvent] = []
    s = fetch(lake_store, alpaca(alpaca_server), "AAPL,MSFT", "1m", D0, D1, window=4, progress=events.append)
    assert len(s.errors) == 1 and "AAPL: 2024-01-02..2024-01-05" in s.errors[0]
    assert s.symbols[0].failed_days == 4 and s.symbols[0].gaps_left == 4 * 390
    assert s.symbols[1].gaps_left == 0 and [e.status for e in events].count("failed") == 4
    again = fetch(lake_store, alpaca(alpaca_server), "AAPL,MSFT", "1m", D0, D1, window=4)
    assert not again.errors and again.rows_stored == 4 * 390 and again.gaps_left == 0
    assert stored(lake_store, "AAPL").select(VALUES).equals(market("AAPL").select(VALUES))


def test_gap_detection(lake_store: BarStore) -> None:
    fetch(lake_store, MockProvider(load_settings()), "AMZN", "1m", D0, D1)
    assert find_gaps(lake_store, "AMZN", "1m", D0, D1) == []
    lake_store.delete_bars("AMZN", "1m", datetime(2024, 1, 4, 15, 0, tzinfo=UTC), datetime(2024, 1, 4, 15, 10, tzinfo=UTC))
    lake_store.delete_bars("AMZN", "1m", datetime(2024, 1, 4, 18, 3, tzinfo=UTC), datetime(2024, 1, 4, 18, 4, tzinfo=UTC))
    lake_store.delete_bars("AMZN", "1m", datetime(2024, 1, 8, 0, tzinfo=UTC), datetime(2024, 1, 9, 0, tzinfo=UTC))
    gaps = find_gaps(lake_store, "AMZN", "1m", date(2023, 12, 29), D1)
    desc = [(g.day, g.start.strftime("%H:%M"), g.end.strftime("%H:%M"), g.bars) for g in gaps]
    assert desc == [
        (date(2023, 12, 29), "14:30", "21:00", 390),
        (date(2024, 1, 4), "15:00", "15:10", 10),
        (date(2024, 1, 4), "18:03", "18:04", 1),
        (date(2024, 1, 8), "14:30", "21:00", 390),
    ]
    assert len(expected_day(cal_tf("5m"), date(2024, 7, 3))) == 42  # half day
    assert len(expected_day(cal_tf("1h"), date(2024, 1, 2))) == 7  # 14:00 (partial) .. 20:00 UTC
    assert len(expected_day(cal_tf("1d"), date(2024, 1, 2))) == 1


def cal_tf(name: str):  # type: ignore[no-untyped-def]
    from jonbu_core.timeframe import parse_timeframe

    return parse_timeframe(name)


def test_fill_gaps_requests_only_the_missing_bars(any_store: BarStore, alpaca_server: FakeAlpacaServer) -> None:
    fetch(any_store, MockProvider(load_settings()), "AAPL", "1m", D0, D1)
    full = stored(any_store, "AAPL")
    any_store.delete_bars("AAPL", "1m", datetime(2024, 1, 4, 15, 0, tzinfo=UTC), datetime(2024, 1, 4, 15, 10, tzinfo=UTC))
    any_store.delete_bars("AAPL", "1m", datetime(2024, 1, 9, 20, 0, tzinfo=UTC), datetime(2024, 1, 9, 20, 2, tzinfo=UTC))
    any_store.delete_bars("AAPL", "1m", datetime(2024, 1, 8, 0, tzinfo=UTC), datetime(2024, 1, 9, 0, tzinfo=UTC))
    s = fetch(any_store, alpaca(alpaca_server), "AAPL", "1m", D0, D1, fill_gaps=True)
    assert s.rows_stored == 10 + 2 + 390 and s.gaps_left == 0 and s.symbols[0].skipped_days == 4
    ranges = sorted((r.params["start"], r.params["end"]) for r in alpaca_server.log)
    assert ranges == [
        ("2024-01-04T15:00:00+00:00", "2024-01-04T15:09:59.999999+00:00"),
        ("2024-01-08T05:00:00+00:00", "2024-01-09T04:59:59.999999+00:00"),
        ("2024-01-09T20:00:00+00:00", "2024-01-09T20:01:59.999999+00:00"),
    ]
    after = stored(any_store, "AAPL")
    assert after.num_rows == full.num_rows
    # refilled rows come from the second provider; everything else is untouched
    sources = dict(zip(after.column("ts").to_pylist(), after.column("source").to_pylist(), strict=True))
    assert sum(1 for v in sources.values() if v == "alpaca-iex") == 402
    assert after.select(VALUES).equals(full.select(VALUES))


class ScriptedProvider:
    """A provider that serves the mock market plus rows it should not have sent."""

    name = "scripted"
    source = "scripted"

    def __init__(self, extra: pa.Table) -> None:
        self.extra = extra
        self.calls: list[tuple[datetime, datetime]] = []

    def bars(self, symbols, timeframe, start, end):  # type: ignore[no-untyped-def]
        self.calls.append((start, end))
        for sym in symbols:
            yield from MockMarket().bars(sym, timeframe, start, end)
        yield from self.extra.to_batches()

    def trades(self, symbol, start, end):  # type: ignore[no-untyped-def]
        return iter(())

    def close(self) -> None:
        pass


def test_rows_outside_the_sessions_asked_for_are_quarantined(lake_store: BarStore) -> None:
    good = market("AAPL", d0=date(2024, 1, 3), d1=date(2024, 1, 3)).slice(0, 3)
    saturday = good.set_column(2, "ts", pa.array([datetime(2024, 1, 6, 15, m, tzinfo=UTC) for m in range(3)],
                                                  pa.timestamp("us", tz="UTC")))
    no_ts = good.slice(0, 2).set_column(2, "ts", pa.nulls(2, pa.timestamp("us", tz="UTC")))
    extra = pa.concat_tables([saturday, no_ts.cast(saturday.schema)])
    events: list[ProgressEvent] = []
    s = fetch(lake_store, ScriptedProvider(extra), "AAPL", "1m", date(2024, 1, 2), date(2024, 1, 4),
              progress=events.append)
    assert s.received == 3 * 390 + 5 and s.rows_stored == 3 * 390
    assert s.quarantined == 5 and s.reasons == {"off_grid": 3, "missing_value": 2}
    assert sum(e.rows for e in events) == 3 * 390 and sum(e.quarantined for e in events) == 2
    q = lake_store.read_quarantine()
    assert sorted(q.column("reason").to_pylist()) == ["missing_value", "missing_value", "off_grid", "off_grid", "off_grid"]
    assert stored(lake_store, "AAPL", d0=date(2024, 1, 2), d1=date(2024, 1, 4)).num_rows == 3 * 390
