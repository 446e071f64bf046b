"""One conformance suite for every BarStore adapter (the ``store`` fixture runs both)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jonbu_core import calendar as cal
from jonbu_core.errors import InvalidInputError
from jonbu_core.models import BAR_SCHEMA
from jonbu_core.stores._template import StoreBase
from jonbu_core.stores.base import BarStore
from tests.core.stores._data import session_bars, sort_bars

D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


def _count(store: StoreBase, symbol: str, tf: str = "1m") -> int:
    return int(store.read_bars(symbol, tf).table.num_rows)


def test_is_a_barstore(store: StoreBase) -> None:
    assert isinstance(store, BarStore)


def test_round_trip_is_exact(store: StoreBase) -> None:
    bars = pa.concat_tables(
        [session_bars(s, d, null_every=7) for s in ("AAPL", "MSFT") for d in (D1, D2)]
    )
    result = store.write_bars(bars)
    assert (result.written, result.quarantined, result.kept_existing) == (bars.num_rows, 0, 0)
    for sym in ("AAPL", "MSFT"):
        got = store.read_bars(sym, "1m").table
        want = sort_bars(bars.filter(pc.equal(bars.column("symbol"), sym)))
        assert got.schema == BAR_SCHEMA
        assert got.equals(want)
        assert got.column("trade_count").null_count > 0 and got.column("vwap").null_count > 0


def test_read_range_is_start_inclusive_end_exclusive(store: StoreBase) -> None:
    bars = session_bars("AAPL", D1)
    store.write_bars(bars)
    ts = bars.column("ts").to_pylist()
    got = store.read_bars("AAPL", "1m", ts[10], ts[20]).table
    assert got.column("ts").to_pylist() == ts[10:20]
    assert store.read_bars("AAPL", "1m", ts[20], ts[20]).table.num_rows == 0


def test_upsert_is_idempotent(store: StoreBase) -> None:
    bars = pa.concat_tables([session_bars("AAPL", D1), session_bars("AAPL", D2)])
    first = store.write_bars(bars)
    before = store.read_bars("AAPL", "1m").table
    second = store.write_bars(bars)
    after = store.read_bars("AAPL", "1m").table
    assert first == second
    assert after.equals(before)
    assert after.num_rows == bars.num_rows


def test_upsert_replaces_values_and_keeps_the_rest(store: StoreBase) -> None:
    bars = session_bars("AAPL", D1)
    store.write_bars(bars)
    changed = session_bars("AAPL", D1, seed=1).slice(100, 50)
    assert store.write_bars(changed).written == 50
    got = store.read_bars("AAPL", "1m").table
    assert got.num_rows == bars.num_rows
    assert got.slice(100, 50).equals(changed)
    assert got.slice(0, 100).equals(bars.slice(0, 100))
    assert got.slice(150).equals(bars.slice(150))


def test_upsert_inside_a_range_keeps_rows_between_keys(store: StoreBase) -> None:
    bars = session_bars("AAPL", D1)
    store.write_bars(bars)
    sparse = session_bars("AAPL", D1, seed=2).take([0, 200, 389])
    store.write_bars(sparse)
    got = store.read_bars("AAPL", "1m").table
    assert got.num_rows == bars.num_rows
    assert got.take([0, 200, 389]).equals(sparse)
    assert got.slice(1, 199).equals(bars.slice(1, 199))


def test_replace_day_removes_stale_rows(store: StoreBase) -> None:
    store.write_bars(pa.concat_tables([session_bars("AAPL", D1), session_bars("AAPL", D2)]))
    fresh = session_bars("AAPL", D1, seed=5, n=120)
    result = store.replace_day("AAPL", "1m", D1, fresh)
    assert result.written == 120 and result.quarantined == 0
    days = store.stored_days("AAPL", "1m", D1, D2)
    assert days == {D1: 120, D2: 390}
    got = store.read_bars("AAPL", "1m", *cal.day_bounds_utc(D1)).table
    assert got.equals(fresh)


def test_replace_day_with_nothing_empties_the_day(store: StoreBase) -> None:
    store.write_bars(pa.concat_tables([session_bars("AAPL", D1), session_bars("AAPL", D2)]))
    store.replace_day("AAPL", "1m", D1, BAR_SCHEMA.empty_table())
    assert store.stored_days("AAPL", "1m", D1, D2) == {D2: 390}


def test_replace_day_quarantines_rows_of_other_days_and_keys(store: StoreBase) -> None:
    wrong_day = session_bars("AAPL", D2, n=3)
    wrong_symbol = session_bars("MSFT", D1, n=2)
    good = session_bars("AAPL", D1, n=10)
    result = store.replace_day("aapl", "1m", D1, pa.concat_tables([good, wrong_day, wrong_symbol]))
    assert result.written == 10
    assert result.quarantined == 5
    assert result.reasons == {"invalid_symbol": 2, "off_grid": 3}
    assert store.stored_days("AAPL", "1m", D1, D3) == {D1: 10}
    assert _count(store, "MSFT") == 0
    q = store.read_quarantine()
    assert sorted(q.column("reason").to_pylist()) == ["invalid_symbol"] * 2 + ["off_grid"] * 3


@pytest.mark.parametrize("timeframe,page", [("1m", 97), ("5m", 13), ("1h", 3), ("1d", 1)])
def test_pagination_has_no_loss_or_overlap(store: StoreBase, timeframe: str, page: int) -> None:
    store.write_bars(pa.concat_tables([session_bars("AAPL", d) for d in (D1, D2, D3)]))
    full = store.read_bars("AAPL", timeframe).table
    pages, cursor = [], None
    for _ in range(10_000):
        p = store.read_bars("AAPL", timeframe, limit=page, cursor=cursor)
        assert p.table.num_rows <= page
        pages.append(p.table)
        cursor = p.next_cursor
        if cursor is None:
            break
    got = pa.concat_tables(pages)
    assert got.equals(full)
    ts = got.column("ts").cast(pa.int64()).to_numpy()
    assert (np.diff(ts) > 0).all()


def test_pagination_respects_start_and_end(store: StoreBase) -> None:
    store.write_bars(pa.concat_tables([session_bars("AAPL", d) for d in (D1, D2)]))
    start = datetime(2024, 1, 2, 15, 7, tzinfo=UTC)
    end = datetime(2024, 1, 3, 15, 0, tzinfo=UTC)
    full = store.read_bars("AAPL", "15m", start, end).table
    assert full.column("ts")[0].as_py() == datetime(2024, 1, 2, 15, 15, tzinfo=UTC)
    assert full.column("ts")[-1].as_py() == datetime(2024, 1, 3, 14, 45, tzinfo=UTC)
    pages, cursor = [], None
    while True:
        p = store.read_bars("AAPL", "15m", start, end, limit=4, cursor=cursor)
        pages.append(p.table)
        if (cursor := p.next_cursor) is None:
            break
    assert pa.concat_tables(pages).equals(full)


def test_bad_cursor_is_rejected(store: StoreBase) -> None:
    store.write_bars(session_bars("AAPL", D1))
    with pytest.raises(InvalidInputError):
        store.read_bars("AAPL", "1m", cursor="not-a-cursor")
    cursor = store.read_bars("AAPL", "5m", limit=2).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInputError):
        store.read_bars("AAPL", "1m", cursor=cursor)
    with pytest.raises(InvalidInputError):
        store.read_bars("AAPL", "1m", limit=0)


def _duckdb_reference(bars: pa.Table, timeframe: str) -> pa.Table:
    """Roll-up computed independently with DuckDB (time_bucket / exchange dates)."""
    con = duckdb.connect()
    con.register("b", bars)
    con.execute("SET TimeZone = 'UTC'")
    if timeframe == "1d":
        bucket = "timezone('America/New_York', date_trunc('day', timezone('America/New_York', ts)))"
    else:
        minutes = {"5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240}[timeframe]
        bucket = f"time_bucket(INTERVAL '{minutes} minutes', ts, TIMESTAMPTZ '1970-01-01 00:00:00+00')"
    return con.sql(
        f"""
        SELECT {bucket} AS ts, arg_min(open, ts) AS open, max(high) AS high, min(low) AS low,
               arg_max(close, ts) AS close, sum(volume) AS volume,
               sum(trade_count)::BIGINT AS trade_count,
               sum(vwap * volume) FILTER (WHERE vwap IS NOT NULL)
                 / nullif(sum(volume) FILTER (WHERE vwap IS NOT NULL), 0) AS vwap
        FROM b GROUP BY 1 ORDER BY 1
        """
    ).to_arrow_table()


@pytest.mark.parametrize("timeframe", ["5m", "15m", "1h", "4h", "1d"])
def test_rollup_on_read_equals_reference(store: StoreBase, timeframe: str) -> None:
    bars = pa.concat_tables([session_bars("AAPL", d, null_every=5) for d in (D1, D2, D3)])
    store.write_bars(bars)
    got = store.read_bars("AAPL", timeframe).table
    ref = _duckdb_reference(bars, timeframe)
    assert got.num_rows == ref.num_rows > 0
    assert got.column("ts").cast(pa.int64()).equals(ref.column("ts").cast(pa.timestamp("us", "UTC")).cast(pa.int64()))
    for col in ("open", "high", "low", "close", "volume", "trade_count"):
        assert got.column(col).to_pylist() == ref.column(col).to_pylist(), col
    np.testing.assert_allclose(
        got.column("vwap").to_numpy(zero_copy_only=False), ref.column("vwap").to_numpy(zero_copy_only=False), rtol=1e-12
    )
    assert set(got.column("timeframe").to_pylist()) == {timeframe}
    assert set(got.column("symbol").to_pylist()) == {"AAPL"}


def test_native_provider_bars_win_over_rollups(store: StoreBase) -> None:
    store.write_bars(pa.concat_tables([session_bars("AAPL", d) for d in (D1, D2)]))
    rolled = store.read_bars("AAPL", "1d").table
    native = rolled.slice(0, 1).set_column(3, "open", pa.array([rolled.column("low")[0].as_py()]))
    native = native.set_column(10, "source", pa.array(["alpaca-sip"])).cast(BAR_SCHEMA)
    store.write_bars(native)
    got = store.read_bars("AAPL", "1d").table
    assert got.num_rows == 2
    assert got.slice(0, 1).equals(native)
    assert got.slice(1).equals(rolled.slice(1))
    latest = store.latest_bar("AAPL", "1d")
    assert latest is not None and latest.ts == rolled.column("ts")[1].as_py()


def test_rejected_rows_are_quarantined_never_returned(store: StoreBase) -> None:
    good = session_bars("AAPL", D1, n=10)
    rows = good.to_pylist()
    bad = [dict(rows[0]), dict(rows[1]), dict(rows[2]), dict(rows[3]), dict(rows[4])]
    bad[0]["close"] = math.nan
    bad[1]["high"], bad[1]["low"] = 1.0, 2.0
    bad[2]["volume"] = -5.0
    bad[3]["ts"] = rows[3]["ts"] + timedelta(seconds=30)
    bad[4] = dict(rows[4])  # duplicate key of a good row
    batch = pa.Table.from_pylist(rows + bad, schema=BAR_SCHEMA)
    result = store.write_bars(batch)
    assert result.written == 10
    assert result.quarantined == 5
    assert result.reasons == {
        "non_finite": 1, "high_below_low": 1, "negative_volume": 1, "off_grid": 1, "duplicate_key": 1,
    }
    assert store.read_bars("AAPL", "1m").table.equals(good)
    q = store.read_quarantine("AAPL")
    assert q.num_rows == 5
    assert sorted(q.column("reason").to_pylist()) == sorted(result.reasons)
    assert store.read_quarantine("MSFT").num_rows == 0
    assert store.read_quarantine(limit=2).num_rows == 2


def test_bad_symbol_rows_are_quarantined(store: StoreBase) -> None:
    bars = session_bars("AAPL", D1, n=3).to_pylist()
    bars[0]["symbol"] = "not a symbol"
    result = store.write_bars(pa.Table.from_pylist(bars, schema=BAR_SCHEMA))
    assert result.reasons == {"invalid_symbol": 1}
    assert store.read_quarantine().column("symbol").to_pylist() == ["not a symbol"]


def test_provider_beats_stream(store: StoreBase) -> None:
    provider = session_bars("AAPL", D1, source="alpaca-iex", n=20)
    stream = session_bars("AAPL", D1, source="stream", seed=9, n=30)
    store.write_bars(provider)
    result = store.write_bars(stream)
    assert (result.written, result.kept_existing) == (10, 20)
    got = store.read_bars("AAPL", "1m").table
    assert got.slice(0, 20).equals(provider)
    assert got.slice(20).equals(stream.slice(20))
    # a provider bar replaces a stream bar
    late = session_bars("AAPL", D1, source="alpaca-sip", seed=3, n=30).slice(20)
    assert store.write_bars(late).written == 10
    assert store.read_bars("AAPL", "1m").table.slice(20).equals(late)
    # a stream bar replaces a stream bar
    store.replace_day("AAPL", "1m", D1, stream)
    newer = session_bars("AAPL", D1, source="stream", seed=4, n=30)
    assert store.write_bars(newer).kept_existing == 0
    assert store.read_bars("AAPL", "1m").table.equals(newer)


def test_symbol_registry(store: StoreBase) -> None:
    assert store.list_symbols() == []
    added = store.add_symbols(["msft", "AAPL", "MSFT"])
    assert [s.symbol for s in added] == ["MSFT", "AAPL"]
    assert all(s.active for s in added)
    again = store.add_symbols(["AAPL"])
    assert again[0].added_at == added[1].added_at
    assert [s.symbol for s in store.list_symbols()] == ["AAPL", "MSFT"]
    assert store.deactivate_symbol("aapl") is True
    assert store.deactivate_symbol("AAPL") is True
    assert store.deactivate_symbol("ZZZZ") is False
    assert [s.symbol for s in store.list_symbols(active_only=True)] == ["MSFT"]
    info = {s.symbol: s for s in store.list_symbols()}
    assert info["AAPL"].active is False and info["AAPL"].updated_at >= info["AAPL"].added_at
    store.add_symbols(["AAPL"])
    assert [s.symbol for s in store.list_symbols(active_only=True)] == ["AAPL", "MSFT"]
    with pytest.raises(InvalidInputError):
        store.add_symbols(["bad symbol"])


def test_coverage_counts_missing_session_minutes(store: StoreBase) -> None:
    d1 = session_bars("AAPL", D1)
    keep = np.ones(d1.num_rows, dtype=bool)
    keep[[5, 6, 7, 100, 389]] = False
    store.write_bars(pa.concat_tables([d1.filter(pa.array(keep)), session_bars("AAPL", D2)]))
    cov = store.coverage("AAPL", "1m", D1, D3)
    assert cov.expected == 3 * 390
    assert cov.count == 2 * 390 - 5
    assert cov.missing == 5 + 390
    assert cov.missing_sample[:5] == [d1.column("ts")[i].as_py() for i in (5, 6, 7, 100, 389)]
    assert cov.days == {D1: 385, D2: 390}
    assert cov.first_ts == d1.column("ts")[0].as_py()
    assert 0 < cov.completeness < 1
    five = store.coverage("AAPL", "5m", D1, D2)
    assert (five.expected, five.missing) == (2 * 78, 0)
    daily = store.coverage("AAPL", "1d", D1, D3)
    assert (daily.expected, daily.count, daily.missing) == (3, 2, 1)
    whole = store.coverage("AAPL")
    assert (whole.expected, whole.missing) == (2 * 390, 5)


def test_coverage_of_early_close_and_holiday(store: StoreBase) -> None:
    early, holiday = date(2024, 7, 3), date(2024, 7, 4)
    store.write_bars(session_bars("AAPL", early))
    cov = store.coverage("AAPL", "1m", early, holiday)
    assert cov.expected == 210 and cov.missing == 0


def test_empty_store_reads(store: StoreBase) -> None:
    page = store.read_bars("AAPL", "1h")
    assert page.table.num_rows == 0 and page.table.schema == BAR_SCHEMA and page.next_cursor is None
    assert store.latest_bar("AAPL", "1m") is None
    cov = store.coverage("AAPL")
    assert (cov.count, cov.expected, cov.first_ts) == (0, 0, None)
    assert store.stored_days("AAPL", "1m", D1, D3) == {}
    assert store.read_quarantine().num_rows == 0
    assert store.write_bars(BAR_SCHEMA.empty_table()).written == 0


def test_latest_bar(store: StoreBase) -> None:
    bars = pa.concat_tables([session_bars("AAPL", D1), session_bars("AAPL", D2, n=95)])
    store.write_bars(bars)
    last = store.latest_bar("AAPL", "1m")
    assert last is not None and last.ts == bars.column("ts")[-1].as_py() and last.timeframe == "1m"
    hour = store.latest_bar("aapl", "1h")
    assert hour is not None
    assert hour.ts == datetime(2024, 1, 3, 16, 0, tzinfo=UTC)
    assert hour.close == bars.column("close")[-1].as_py()
    assert hour.volume == pytest.approx(sum(bars.slice(bars.num_rows - 5).column("volume").to_pylist()))


def test_delete_bars(store: StoreBase) -> None:
    store.write_bars(pa.concat_tables([session_bars("AAPL", d) for d in (D1, D2)] + [session_bars("MSFT", D1)]))
    start, end = cal.day_bounds_utc(D2)
    assert store.delete_bars("AAPL", "1m", start, end) == 390
    assert store.delete_bars("AAPL", "1m", start, end) == 0
    assert _count(store, "AAPL") == 390
    assert store.delete_bars("AAPL") == 390
    assert _count(store, "AAPL") == 0 and _count(store, "MSFT") == 390


def test_stored_days_counts_native_bars_only(store: StoreBase) -> None:
    store.write_bars(pa.concat_tables([session_bars("AAPL", D1), session_bars("AAPL", D3, n=10)]))
    assert store.stored_days("AAPL", "1m", D1, D3) == {D1: 390, D3: 10}
    assert store.stored_days("AAPL", "5m", D1, D3) == {}
    assert store.stored_days("AAPL", "1m", D2, D2) == {}


def test_many_symbols_and_timeframes_in_one_batch(store: StoreBase) -> None:
    a = session_bars("AAPL", D1)
    daily = store.read_bars("AAPL", "1d").table
    assert daily.num_rows == 0
    five = session_bars("BRK.B", D1, timeframe="5m")
    five = five.filter(pa.array(five.column("ts").cast(pa.int64()).to_numpy() % 300_000_000 == 0))
    batch = pa.concat_tables([a, five, session_bars("MSFT", D2)])
    result = store.write_bars(batch)
    assert result.written == batch.num_rows
    assert store.read_bars("BRK.B", "5m").table.equals(five)
    assert _count(store, "MSFT") == 390 and _count(store, "AAPL") == 390
