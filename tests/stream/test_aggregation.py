"""The aggregator equals a batch reference (Polars group-by) for every timeframe.

Property tests over random trades (hypothesis): in order, shuffled within the
allowed lateness, and with late trades (which the reference drops by the same rule,
simulated trade by trade in plain Python). Batches are cut at random points.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jonbu_core.aggregation import BarSnapshot, CandleAggregator, SymbolTable, TradeBatch
from jonbu_core.aggregation.fast import available as fast_available
from jonbu_core.rollup import bucket_expr
from jonbu_core.timeframe import STREAM_TIMEFRAMES, parse_timeframe

NS = 1_000_000_000
# 03:50 UTC: an America/New_York midnight (04:00 or 05:00 UTC) falls inside the range,
# so 1d bars are cut there.
T0 = int(datetime(2024, 3, 8, 3, 50, tzinfo=UTC).timestamp()) * NS
LATENESS = 5.0
SYMS = ["AAPL", "MSFT", "BRK.B"]


def _trades(draw: st.DrawFn, n_max: int = 300) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, n_max))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    span = draw(st.sampled_from([90, 900, 4 * 3600, 30 * 3600])) * NS
    ts = np.sort(T0 + rng.integers(0, span, n))
    if draw(st.booleans()):  # equal timestamps: ties broken by arrival
        ts = ts - ts % (NS // 2)
    return {
        "sym": rng.integers(0, len(SYMS), n).astype(np.int32),
        "ts": ts.astype(np.int64),
        "price": np.round(rng.uniform(10, 20, n), 2),
        "size": rng.integers(1, 500, n).astype(np.float64),
        "id": np.arange(n, dtype=np.int64),
    }


@st.composite
def in_order(draw: st.DrawFn) -> dict[str, np.ndarray]:
    return _trades(draw)


@st.composite
def shuffled_within_lateness(draw: st.DrawFn) -> dict[str, np.ndarray]:
    t = _trades(draw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Arrival = event time + a delay below the lateness: never late, but out of order.
    arrival = t["ts"] + rng.integers(0, int(LATENESS * NS) - 1, len(t["ts"]))
    order = np.argsort(arrival, kind="stable")
    return {k: v[order] for k, v in t.items()}


@st.composite
def with_late(draw: st.DrawFn) -> dict[str, np.ndarray]:
    t = _trades(draw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    delay = rng.integers(0, int(LATENESS * NS) - 1, len(t["ts"]))
    late = rng.random(len(t["ts"])) < 0.1
    delay[late] = rng.integers(int(LATENESS * NS) + 1, 120 * NS, int(late.sum()))
    order = np.argsort(t["ts"] + delay, kind="stable")
    return {k: v[order] for k, v in t.items()}


def accepted_mask(t: dict[str, np.ndarray], lateness: float = LATENESS) -> np.ndarray:
    """The reference acceptance rule, one trade at a time: late = below max event time - lateness."""
    clock: dict[int, int] = {}
    out = np.zeros(len(t["ts"]), bool)
    for i, (s, ts) in enumerate(zip(t["sym"].tolist(), t["ts"].tolist(), strict=True)):
        c = max(clock.get(s, ts), ts)
        clock[s] = c
        out[i] = ts >= c - lateness * NS
    return out


def reference(t: dict[str, np.ndarray], tf: str) -> pl.DataFrame:
    """Bars of the accepted trades by a Polars group-by (open/close by event time, ties by arrival)."""
    keep = accepted_mask(t)
    df = pl.DataFrame({
        "symbol": [SYMS[i] for i in t["sym"][keep]],
        "ts": pl.Series(t["ts"][keep] // 1000).cast(pl.Datetime("us", "UTC")),
        "price": t["price"][keep], "size": t["size"][keep],
        "arrival": np.arange(int(keep.sum())),
    })
    return (
        df.sort("symbol", "ts", "arrival")
        .with_columns(bucket_expr(parse_timeframe(tf)).alias("label"))
        .group_by("symbol", "label", maintain_order=True)
        .agg(pl.col("price").first().alias("open"), pl.col("price").max().alias("high"),
             pl.col("price").min().alias("low"), pl.col("price").last().alias("close"),
             pl.col("size").sum().alias("volume"), pl.len().cast(pl.Int64).alias("trade_count"),
             ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"))
        .rename({"label": "ts"})
        .sort("symbol", "ts")
    )


def run_aggregator(t: dict[str, np.ndarray], cuts: list[int]) -> tuple[pl.DataFrame, CandleAggregator]:
    syms = SymbolTable(SYMS)
    agg = CandleAggregator(STREAM_TIMEFRAMES, LATENESS, syms)
    out: list[BarSnapshot] = []
    bounds = sorted({0, len(t["ts"]), *[c for c in cuts if 0 < c < len(t["ts"])]})
    for a, b in itertools.pairwise(bounds):
        agg.process(TradeBatch(t["sym"][a:b], t["ts"][a:b], t["price"][a:b], t["size"][a:b], t["id"][a:b]))
        out.append(agg.drain_final())
    agg.close_all()
    out.append(agg.drain_final())
    snap = BarSnapshot.concat(out)
    df = pl.from_arrow(snap.to_arrow(syms, agg.tf_names)).with_columns(
        pl.Series("revision", snap.revision), pl.Series("seq", np.arange(len(snap))))
    assert isinstance(df, pl.DataFrame)
    # The final state of each bar is its last closed/revision event.
    final = df.sort("seq").group_by("symbol", "timeframe", "ts", maintain_order=True).last()
    return final, agg


def assert_equal(t: dict[str, np.ndarray], cuts: list[int]) -> CandleAggregator:
    got, agg = run_aggregator(t, cuts)
    for tf in STREAM_TIMEFRAMES:
        ref = reference(t, tf)
        mine = got.filter(pl.col("timeframe") == tf).sort("symbol", "ts")
        assert mine.height == ref.height, (tf, mine.height, ref.height)
        assert mine["symbol"].to_list() == ref["symbol"].to_list()
        assert mine["ts"].to_list() == ref["ts"].to_list(), tf
        for c in ("open", "high", "low", "close", "volume"):
            np.testing.assert_allclose(mine[c].to_numpy(), ref[c].to_numpy(), rtol=1e-12, err_msg=f"{tf} {c}")
        assert mine["trade_count"].to_list() == ref["trade_count"].to_list(), tf
        np.testing.assert_allclose(mine["vwap"].to_numpy(), ref["vwap"].to_numpy(), rtol=1e-9)
    assert agg.accepted + agg.late == len(t["ts"])
    assert agg.late == int((~accepted_mask(t)).sum())
    return agg


COMMON = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(in_order(), st.lists(st.integers(0, 300), max_size=8))
def test_in_order_equals_batch_reference(t: dict[str, np.ndarray], cuts: list[int]) -> None:
    agg = assert_equal(t, cuts)
    assert agg.late == 0 and agg.revisions == 0


@COMMON
@given(shuffled_within_lateness(), st.lists(st.integers(0, 300), max_size=8))
def test_shuffled_within_lateness_equals_batch_reference(t: dict[str, np.ndarray], cuts: list[int]) -> None:
    agg = assert_equal(t, cuts)
    assert agg.late == 0


@COMMON
@given(with_late(), st.lists(st.integers(0, 300), max_size=8))
def test_late_trades_are_dropped_like_the_reference(t: dict[str, np.ndarray], cuts: list[int]) -> None:
    assert_equal(t, cuts)


def _one(agg: CandleAggregator, sym: int, ts: int, price: float, size: float = 10.0, tid: int = 0) -> None:
    agg.process(TradeBatch.from_lists([sym], [ts], [price], [size], [tid]))


def test_trade_within_lateness_revises_a_closed_bar() -> None:
    agg = CandleAggregator(["1m", "5m"], LATENESS, SymbolTable(["AAPL"]))
    _one(agg, 0, T0 + 10 * NS, 10.0, tid=1)
    _one(agg, 0, T0 + 61 * NS, 11.0, tid=2)  # closes [T0, T0+60s)
    closed = agg.drain_final()
    assert len(closed) == 1 and closed.kind.tolist() == [1] and closed.revision.tolist() == [0]
    _one(agg, 0, T0 + 59 * NS, 9.0, tid=3)  # 2 s late: within the lateness → revision 1
    rev = agg.drain_final()
    assert rev.kind.tolist() == [2] and rev.revision.tolist() == [1]
    assert rev.low[0] == 9.0 and rev.close[0] == 9.0 and rev.count[0] == 2
    _one(agg, 0, T0 + 70 * NS, 12.0, tid=4)
    _one(agg, 0, T0 + 20 * NS, 1.0, tid=5)  # 50 s late: dropped
    assert agg.late == 1 and len(agg.drain_final()) == 0


def test_wall_clock_timer_closes_a_quiet_symbol() -> None:
    agg = CandleAggregator(["1m"], LATENESS, SymbolTable(["AAPL"]))
    _one(agg, 0, T0 + 10 * NS, 10.0)
    assert len(agg.drain_final()) == 0
    agg.advance(T0 + 61 * NS)
    out = agg.drain_final()
    assert out.kind.tolist() == [1] and out.label.tolist() == [T0 - T0 % (60 * NS)]
    assert agg.pool.live_rows().shape[0] == 1  # still revisable
    agg.advance(T0 + 70 * NS)
    assert agg.pool.live_rows().shape[0] == 0  # sealed


@pytest.mark.parametrize("cancel", [True, False])
def test_cancel_and_correction_adjust_the_bar(cancel: bool) -> None:
    agg = CandleAggregator(["1m", "1h"], LATENESS, SymbolTable(["AAPL"]))
    base = T0 - T0 % (3600 * NS) + 3600 * NS
    agg.process(TradeBatch.from_lists([0, 0, 0], [base + NS, base + 2 * NS, base + 3 * NS], [10.0, 15.0, 11.0],
                                      [1.0, 2.0, 3.0], [1, 2, 3]))
    status = agg.correct(0, 2, base + 2 * NS, 15.0, 2.0, None if cancel else 12.0, None if cancel else 4.0)
    assert status == "applied"
    agg.close_all()
    bars = agg.drain_final()
    one = {tf: i for i, tf in enumerate(bars.tf.tolist())}
    for tf in (0, 1):
        i = one[tf]
        if cancel:
            assert (bars.high[i], bars.volume[i], bars.count[i]) == (11.0, 4.0, 2)
        else:
            assert (bars.high[i], bars.volume[i], bars.count[i]) == (12.0, 8.0, 3)


def test_bad_trades_are_counted_not_fatal() -> None:
    agg = CandleAggregator(["1m"], LATENESS, SymbolTable(["AAPL"]))
    n = agg.process(TradeBatch.from_lists([0, 0, 0], [T0, T0 + 1, T0 + 2], [float("nan"), -1.0, 10.0],
                                          [1.0, 1.0, 1.0], [1, 2, 3]))
    assert n == 1 and agg.invalid == 2
    with pytest.raises(ValueError):
        agg.process(TradeBatch.from_lists([5], [T0], [1.0], [1.0]))


def _stream(t: dict[str, np.ndarray], sizes: list[int], cached: bool,
            native: bool = False) -> tuple[list[BarSnapshot], int]:
    """Every snapshot (closed/revisions and partials after each batch) of ``t`` fed in small batches."""
    out, hits, _ = _stream_agg(t, sizes, cached, native)
    return out, hits


def _stream_agg(t: dict[str, np.ndarray], sizes: list[int], cached: bool, native: bool,
                timeframes: list[str] = STREAM_TIMEFRAMES) -> tuple[list[BarSnapshot], int, CandleAggregator]:
    agg = CandleAggregator(timeframes, LATENESS, SymbolTable(SYMS), native=native)
    hits = [0]
    fast = agg._merge_cached

    def merge_cached(g1: object) -> bool:
        done = cached and fast(g1)  # type: ignore[arg-type]
        hits[0] += done
        return done

    agg._merge_cached = merge_cached  # type: ignore[method-assign]
    out: list[BarSnapshot] = []
    a, k, n = 0, 0, len(t["ts"])
    while a < n:
        b = min(n, a + sizes[k % len(sizes)])
        k += 1
        agg.process(TradeBatch(t["sym"][a:b], t["ts"][a:b], t["price"][a:b], t["size"][a:b], t["id"][a:b]))
        out += [agg.drain_final(), agg.partials()]
        if k % 7 == 0:
            agg.advance(int(t["ts"][b - 1]) - 2 * NS)
            out += [agg.drain_final(), agg.partials()]
        a = b
    agg.close_all()
    out.append(agg.drain_final())
    return out, hits[0], agg


def _assert_same_snapshots(fast: list[BarSnapshot], slow: list[BarSnapshot]) -> None:
    """Two runs' snapshots are identical, bit for bit, field by field."""
    assert len(fast) == len(slow)
    for x, y in zip(fast, slow, strict=True):
        for f in BarSnapshot.__slots__:
            np.testing.assert_array_equal(getattr(x, f), getattr(y, f), err_msg=f)


def _random_trades(seed: int, n: int, start: int, span: int) -> dict[str, np.ndarray]:
    """``n`` trades of the test symbols at sorted random times in ``[start, start + span)``."""
    rng = np.random.default_rng(seed)
    return {"sym": rng.integers(0, len(SYMS), n).astype(np.int32),
            "ts": np.sort(start + rng.integers(0, span, n)).astype(np.int64),
            "price": np.round(rng.uniform(10, 20, n), 2), "size": rng.integers(1, 500, n).astype(np.float64),
            "id": np.arange(n, dtype=np.int64)}


@COMMON
@given(st.one_of(in_order(), shuffled_within_lateness(), with_late()),
       st.lists(st.integers(1, 12), min_size=1, max_size=6))
def test_small_batch_fast_path_is_exact(t: dict[str, np.ndarray], sizes: list[int]) -> None:
    """The cached-rows fast path of small batches gives bit for bit the events of the general merge."""
    fast, _ = _stream(t, sizes, cached=True)
    slow, hits = _stream(t, sizes, cached=False)
    assert hits == 0
    _assert_same_snapshots(fast, slow)


def test_small_batch_fast_path_is_taken() -> None:
    t = _random_trades(3, 2000, T0, 600 * NS)
    fast, hits = _stream(t, [1, 3, 8], cached=True)
    slow, _ = _stream(t, [1, 3, 8], cached=False)
    assert hits > len(fast) // 4
    _assert_same_snapshots(fast, slow)


def _assert_same_state(x: CandleAggregator, y: CandleAggregator) -> None:
    """Counters, clocks, live bars and the trade log of two aggregators are identical."""
    assert x.stats() == y.stats()
    for f in ("_clock", "last_ts", "last_price", "late_by_symbol", "_next"):
        np.testing.assert_array_equal(getattr(x, f), getattr(y, f), err_msg=f)
    rx, ry = x.pool.live_rows(), y.pool.live_rows()
    np.testing.assert_array_equal(x.pool.keys, y.pool.keys)
    for f in ("state", "dirty", "rev", "open", "high", "low", "close", "volume", "pv", "count", "tfirst", "tlast"):
        np.testing.assert_array_equal(getattr(x.pool, f)[rx], getattr(y.pool, f)[ry], err_msg=f)
    for f in ("sym", "ts", "price", "size", "ids", "alive", "seq"):
        a = [getattr(c, f) for c in x.log.chunks]
        b = [getattr(c, f) for c in y.log.chunks]
        np.testing.assert_array_equal(np.concatenate(a) if a else [], np.concatenate(b) if b else [], err_msg=f)
    assert [c.max_clock for c in x.log.chunks] == [c.max_clock for c in y.log.chunks]


def _compare_native(t: dict[str, np.ndarray], sizes: list[int], timeframes: list[str] = STREAM_TIMEFRAMES) -> int:
    fast, _, agg_f = _stream_agg(t, sizes, cached=True, native=True, timeframes=timeframes)
    slow, _, agg_s = _stream_agg(t, sizes, cached=True, native=False, timeframes=timeframes)
    assert agg_f.fast is not None and agg_s.fast is None
    _assert_same_snapshots(fast, slow)
    _assert_same_state(agg_f, agg_s)
    return agg_f.fast.hits


needs_native = pytest.mark.skipif(not fast_available(), reason="the C helper _fastagg is not built")


@needs_native
@COMMON
@given(st.one_of(in_order(), shuffled_within_lateness(), with_late()),
       st.lists(st.integers(1, 40), min_size=1, max_size=6), st.booleans(),
       st.sampled_from([STREAM_TIMEFRAMES, ["5m", "1h"], ["1m"]]))
def test_native_fast_path_is_exact(t: dict[str, np.ndarray], sizes: list[int], invalid: bool,
                                   timeframes: list[str]) -> None:
    """The C fast path (batches, and the partials' snapshot) gives bit for bit the events, counters,
    clocks, bars and trade log of NumPy's, whichever timeframes are emitted (1m is built anyway)."""
    if invalid:  # a few invalid prices and sizes: those batches must go the NumPy way
        rng = np.random.default_rng(len(t["ts"]))
        bad = rng.random(len(t["ts"])) < 0.05
        t["price"] = np.where(bad, rng.choice([np.nan, 0.0, -1.0, np.inf], len(t["ts"])), t["price"])
    _compare_native(t, sizes, timeframes)


@needs_native
@pytest.mark.parametrize("per_minute", [130, 3000])
def test_native_fast_path_is_taken_and_exact_on_long_runs(per_minute: int) -> None:
    """Batches of up to 300 trades of one symbol (NumPy's pairwise summation past 8 and 128 terms)."""
    rng = np.random.default_rng(per_minute)
    minutes = 40
    n = per_minute * minutes
    ts = np.sort(T0 - T0 % (60 * NS) + (np.arange(n) // per_minute) * 60 * NS
                 + rng.integers(0, 60 * NS, n) % (60 * NS)).astype(np.int64)
    ts = np.concatenate([np.sort(ts[k * per_minute:(k + 1) * per_minute]) for k in range(minutes)])
    t = {"sym": (rng.random(n) < 0.2).astype(np.int32), "ts": ts,
         "price": rng.uniform(10, 20, n), "size": rng.uniform(0.5, 500, n), "id": np.arange(n, dtype=np.int64)}
    hits = _compare_native(t, [8, 257, 9, 1, 300, 3, 129])
    assert hits > 0


def test_without_the_c_helper_the_numpy_path_does_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without a C compiler: no fast path, the same bars."""
    import jonbu_core.aggregation.aggregator as aggregator_module

    monkeypatch.setattr(aggregator_module, "fast_available", lambda: False)
    t = _random_trades(11, 500, T0, 300 * NS)
    agg = assert_equal(t, list(range(0, 500, 7)))
    assert agg.fast is None and agg.batches > 0


@needs_native
def test_event_times_out_of_range_are_invalid_in_both_paths() -> None:
    """Event times before TS_START (1970-01-15) are invalid input (bars are keyed by 32-bit label seconds,
    and a week bar starts up to a week before its trades): counted and skipped, by C and NumPy alike."""
    from jonbu_core.aggregation.aggregator import TS_START

    t = _random_trades(7, 3000, TS_START - 1800 * NS, 3600 * NS)
    assert _compare_native(t, [20, 50, 3]) > 0
    _, _, agg = _stream_agg(t, [20, 50, 3], cached=True, native=True)
    assert agg.invalid == int((t["ts"] < TS_START).sum()) > 0
    assert agg.accepted + agg.late == int((t["ts"] >= TS_START).sum())


@needs_native
def test_arrays_the_c_path_cannot_read_send_every_batch_the_numpy_way(caplog: pytest.LogCaptureFixture) -> None:
    """The C state is bound to the aggregator's arrays only when their layout is the one it reads."""
    agg = CandleAggregator(STREAM_TIMEFRAMES, LATENESS, SymbolTable(SYMS))
    assert agg.fast is not None
    t = T0 - T0 % (60 * NS)

    def batch(k: int) -> TradeBatch:
        return TradeBatch.from_lists([0, 1], [t + k * NS, t + k * NS], [10.0 + k, 20.0], [1.0, 2.0], [2 * k, 2 * k + 1])

    for k in range(3):
        agg.process(batch(k))
    assert agg.fast.hits == 2  # the first batch opened the bars
    agg._cur_rows = np.asfortranarray(np.repeat(agg._cur_rows, 2, axis=1))[:, :agg._cur_rows.shape[1]]
    with caplog.at_level(logging.WARNING, logger="jonbu_core.aggregation.fast"):
        agg.process(batch(3))
        agg.process(batch(4))
    assert agg.fast.hits == 2 and "NumPy path" in caplog.text and caplog.text.count("layout") == 1
    assert agg.accepted == 10 and agg.last_price[0] == 14.0
