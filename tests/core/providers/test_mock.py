"""The synthetic market: determinism, sessions, OHLC invariants, bars = aggregated trades."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from jonbu_core import calendar as cal
from jonbu_core.models import BAR_SCHEMA, TRADE_SCHEMA
from jonbu_core.providers.mock import MockMarket, MockProvider
from jonbu_core.providers.mock_check import check_market
from jonbu_core.rollup import rollup
from jonbu_core.settings import load_settings
from jonbu_core.validation import validate_bars

JAN = (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC))  # includes MLK day and weekends


def _bars(m: MockMarket, symbol: str, tf: str, start: datetime, end: datetime) -> pa.Table:
    return pa.Table.from_batches(list(m.bars(symbol, tf, start, end)), schema=BAR_SCHEMA)


def _trades(m: MockMarket, symbol: str, start: datetime, end: datetime) -> pa.Table:
    return pa.Table.from_batches(list(m.trades(symbol, start, end)), schema=TRADE_SCHEMA)


def _bytes(t: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue()


def test_same_seed_same_bytes_different_seed_different_data() -> None:
    a = _bytes(_trades(MockMarket(7), "AAPL", *JAN)) + _bytes(_bars(MockMarket(7), "AAPL", "1m", *JAN))
    b = _bytes(_trades(MockMarket(7), "AAPL", *JAN)) + _bytes(_bars(MockMarket(7), "AAPL", "1m", *JAN))
    assert a == b
    other = _trades(MockMarket(8), "AAPL", *JAN)
    assert not other.equals(_trades(MockMarket(7), "AAPL", *JAN))
    assert not _trades(MockMarket(7), "MSFT", *JAN).column("price").equals(_trades(MockMarket(7), "AAPL", *JAN).column("price"))


def test_data_does_not_depend_on_the_requested_range() -> None:
    m = MockMarket()
    full = _trades(m, "NVDA", *JAN)
    lo, hi = datetime(2024, 1, 9, 15, 7, 13, tzinfo=UTC), datetime(2024, 1, 11, 17, 0, tzinfo=UTC)
    part = _trades(MockMarket(), "NVDA", lo, hi)  # a fresh instance: nothing cached
    ts = full.column("ts")
    mask = pa.compute.and_(pa.compute.greater_equal(ts, pa.scalar(lo)), pa.compute.less(ts, pa.scalar(hi)))
    assert part.equals(full.filter(mask))
    bars_part = _bars(MockMarket(), "NVDA", "5m", lo, hi)
    bars_full = _bars(m, "NVDA", "5m", *JAN)
    bts = bars_full.column("ts")
    bmask = pa.compute.and_(pa.compute.greater_equal(bts, pa.scalar(lo)), pa.compute.less(bts, pa.scalar(hi)))
    assert bars_part.equals(bars_full.filter(bmask))


def test_params_are_a_function_of_seed_and_symbol() -> None:
    p1, p2 = MockMarket(42).params("AAPL"), MockMarket(42).params("aapl")
    assert p1 == p2
    assert MockMarket(43).params("AAPL") != p1
    assert MockMarket(42).params("MSFT") != p1
    for sym in ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "X", "BRK.B"):
        p = MockMarket().params(sym)
        assert 10 < p.s0 < 700 and 0.1 < p.volatility < 0.6 and p.base_volume > 0 and p.trades_per_minute > 1
    # The first session's open is near s0 on the reference day.
    first = _bars(MockMarket(), "AAPL", "1m", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))
    assert abs(first.column("open")[0].as_py() / p1.s0 - 1) < 0.01


def test_no_bars_or_trades_outside_sessions() -> None:
    m = MockMarket()
    start, end = datetime(2023, 12, 20, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC)
    bars = _bars(m, "AAPL", "1m", start, end)
    trades = _trades(m, "AAPL", start, end)
    sessions = set(cal.sessions(date(2023, 12, 20), date(2024, 1, 19)))
    assert date(2023, 12, 25) not in sessions and date(2024, 1, 15) not in sessions
    for table in (bars, trades):
        local = pl.Series(table.column("ts")).dt.convert_time_zone("America/New_York")
        assert set(local.dt.date().to_list()) == sessions
        minutes = local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)
        assert minutes.min() >= 9 * 60 + 30 and minutes.max() < 16 * 60
    # every session minute has exactly one bar, including the half day after Thanksgiving-like closes
    expected = cal.expected_minutes(date(2023, 12, 20), date(2024, 1, 19))
    assert np.array_equal(bars.column("ts").cast(pa.int64()).to_numpy(), expected.astype("int64"))


def test_half_day_and_extended_hours() -> None:
    half = date(2024, 7, 3)
    lo, hi = cal.day_bounds_utc(half)
    assert _bars(MockMarket(), "MSFT", "1m", lo, hi).num_rows == 210  # 09:30-13:00 ET
    ext = MockMarket(extended_hours=True)
    day = date(2024, 1, 3)
    lo, hi = cal.day_bounds_utc(day)
    bars = _bars(ext, "MSFT", "1m", lo, hi)
    o, c = cal.session_bounds(day, extended=True)
    ts = pl.Series(bars.column("ts"))
    assert ts.min() >= o and ts.max() < c and bars.num_rows > 390
    # Extended hours add trades without changing the regular session.
    regular = _bars(MockMarket(), "MSFT", "1m", lo, hi)
    r_open, r_close = cal.session_bounds(day)
    inner = bars.filter(pa.compute.and_(pa.compute.greater_equal(bars.column("ts"), pa.scalar(r_open)),
                                        pa.compute.less(bars.column("ts"), pa.scalar(r_close))))
    assert inner.equals(regular)


def test_ohlc_invariants_on_every_bar() -> None:
    m = MockMarket(3)
    for tf in ("1m", "5m", "1h", "1d"):
        for sym in ("AAPL", "TSLA"):
            bars = _bars(m, sym, tf, *JAN)
            assert bars.num_rows > 0
            res = validate_bars(bars)
            assert res.n_quarantined == 0, res.reasons
            o, h, lo_, c, v, vw = (bars.column(k).to_numpy() for k in ("open", "high", "low", "close", "volume", "vwap"))
            assert (h >= np.maximum(o, c)).all() and (lo_ <= np.minimum(o, c)).all()
            assert ((vw >= lo_) & (vw <= h)).all() and (v > 0).all()
            assert (bars.column("trade_count").to_numpy() >= 1).all()
            assert (np.round(o * 100) == o * 100).all()  # cents


def test_1m_bars_equal_the_aggregation_of_trades() -> None:
    m = MockMarket(11)
    bars = _bars(m, "GOOGL", "1m", *JAN)
    trades = pl.from_arrow(_trades(m, "GOOGL", *JAN))
    assert isinstance(trades, pl.DataFrame)
    assert trades.get_column("ts").is_sorted()
    ref = (
        trades.with_columns((pl.col("ts").dt.epoch("us") // 60_000_000).alias("minute"))
        .group_by("minute", maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"), pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"), pl.col("price").last().alias("close"),
            pl.col("size").sum().alias("volume"), pl.len().alias("n"),
            ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
        )
    )
    mine = pl.from_arrow(bars)
    assert isinstance(mine, pl.DataFrame)
    assert ref.height == mine.height
    assert (ref.get_column("minute") * 60_000_000).to_list() == mine.get_column("ts").dt.epoch("us").to_list()
    for col in ("open", "high", "low", "close", "volume"):
        assert ref.get_column(col).to_list() == mine.get_column(col).to_list(), col
    assert ref.get_column("n").cast(pl.Int64).to_list() == mine.get_column("trade_count").to_list()
    assert np.allclose(ref.get_column("vwap").to_numpy(), mine.get_column("vwap").to_numpy(), rtol=1e-12, atol=0)


def test_higher_timeframes_are_rollups_of_1m() -> None:
    m = MockMarket()
    one = _bars(m, "AMZN", "1m", *JAN)
    for tf in ("5m", "15m", "1h", "1d"):
        got = _bars(m, "AMZN", tf, *JAN)
        assert got.equals(rollup(one, tf)), tf
    weekly = _bars(m, "AMZN", "1w", datetime(2024, 1, 8, 5, tzinfo=UTC), datetime(2024, 1, 29, 5, tzinfo=UTC))
    assert weekly.num_rows == 3
    assert weekly.column("trade_count")[0].as_py() == sum(
        _bars(m, "AMZN", "1d", datetime(2024, 1, 8, tzinfo=UTC), datetime(2024, 1, 13, tzinfo=UTC)).column("trade_count").to_pylist()
    )


def test_u_shaped_volume() -> None:
    bars = pl.from_arrow(_bars(MockMarket(), "MSFT", "1m", *JAN))
    assert isinstance(bars, pl.DataFrame)
    local = bars.with_columns(pl.col("ts").dt.convert_time_zone("America/New_York").alias("lt"))
    mins = local.with_columns((pl.col("lt").dt.hour().cast(pl.Int32) * 60 + pl.col("lt").dt.minute().cast(pl.Int32)).alias("m"))
    first = mins.filter(pl.col("m") < 10 * 60).get_column("volume").mean()
    mid = mins.filter((pl.col("m") >= 12 * 60) & (pl.col("m") < 13 * 60)).get_column("volume").mean()
    last = mins.filter(pl.col("m") >= 15 * 60 + 30).get_column("volume").mean()
    assert isinstance(first, float) and isinstance(mid, float) and isinstance(last, float)
    assert first > 1.8 * mid and last > 1.8 * mid


def test_provider_never_returns_the_future() -> None:
    provider = MockProvider(load_settings())
    now = datetime.now(UTC)
    bars = pa.Table.from_batches(list(provider.bars(["AAPL"], "1m", now - timedelta(days=7), now + timedelta(days=3))),
                                 schema=BAR_SCHEMA)
    if bars.num_rows:
        assert pl.Series(bars.column("ts")).max() < now - timedelta(minutes=1) + timedelta(seconds=1)
    assert set(bars.column("source").to_pylist()) <= {"mock"}
    trades = list(provider.trades("AAPL", now - timedelta(days=7), now + timedelta(days=3)))
    for b in trades:
        assert pl.Series(b.column(1)).max() < now


def test_check_market_passes_and_catches_a_broken_market(monkeypatch: pytest.MonkeyPatch) -> None:
    results = check_market(MockMarket(), ["AAPL"], date(2024, 1, 12), date(2024, 1, 17))
    assert all(r.ok for r in results), results
    original = MockMarket._bars_1m

    def broken(symbol: str, s: object) -> pa.Table:
        t = original(symbol, s)  # type: ignore[arg-type]
        high = pa.compute.subtract(t.column("high"), 1.0)
        return t.set_column(t.schema.get_field_index("high"), "high", high)

    monkeypatch.setattr(MockMarket, "_bars_1m", staticmethod(broken))
    failed = {r.name for r in check_market(MockMarket(), ["AAPL"], date(2024, 1, 12), date(2024, 1, 17)) if not r.ok}
    assert {"OHLC invariants", "1m bars = aggregated trades"} <= failed
