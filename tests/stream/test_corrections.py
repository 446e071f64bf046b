"""Corrections, cancels and REST gap backfill keep every timeframe equal to a batch reference.

Higher-timeframe bars (5m…1d) are recomputed from their 1-minute bars — live ones in
the pool, sealed ones in the minute ledger — so a cancel of the trade that set a 1h
bar's high, open or close, long after its minute was sealed, is exact; and so is a
live 1h bar after minutes the feed missed are put back from REST.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
from hypothesis import example, given
from hypothesis import strategies as st

from jonbu_core.aggregation import BarSnapshot, CandleAggregator, SymbolTable, TradeBatch
from jonbu_core.aggregation.builder import labels_for
from jonbu_core.timeframe import STREAM_TIMEFRAMES
from tests.stream.test_aggregation import COMMON, LATENESS, NS, SYMS, T0, _trades, reference

MIN = 60 * NS


def final_bars(parts: list[BarSnapshot], agg: CandleAggregator) -> pl.DataFrame:
    snap = BarSnapshot.concat(parts)
    df = pl.from_arrow(snap.to_arrow(agg.symbols, agg.tf_names)).with_columns(pl.Series("seq", np.arange(len(snap))))
    assert isinstance(df, pl.DataFrame)
    return df.sort("seq").group_by("symbol", "timeframe", "ts", maintain_order=True).last()


def compare(got: pl.DataFrame, t: dict[str, np.ndarray], tf: str) -> None:
    ref = reference(t, tf)
    mine = got.filter(pl.col("timeframe") == tf).sort("symbol", "ts")
    assert mine["ts"].to_list() == ref["ts"].to_list(), tf
    assert mine["symbol"].to_list() == ref["symbol"].to_list(), tf
    for c in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(mine[c].to_numpy(), ref[c].to_numpy(), rtol=1e-12, err_msg=f"{tf} {c}")
    assert mine["trade_count"].to_list() == ref["trade_count"].to_list(), tf
    np.testing.assert_allclose(mine["vwap"].to_numpy(), ref["vwap"].to_numpy(), rtol=1e-9, err_msg=tf)


@st.composite
def trades_and_fixes(draw: st.DrawFn) -> tuple[dict[str, np.ndarray], list[int], list[tuple[int, bool, float, float]]]:
    t = _trades(draw, n_max=250)
    n = len(t["ts"])
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, n - 1)), max_size=8))))
    fixes = draw(st.lists(st.tuples(st.integers(0, 10**6), st.booleans(), st.floats(10, 20), st.floats(1, 500)),
                          max_size=25))
    return t, cuts, fixes


@COMMON
@given(trades_and_fixes())
def test_corrections_and_cancels_equal_the_batch_reference(case: tuple[dict[str, np.ndarray], list[int],
                                                                      list[tuple[int, bool, float, float]]]) -> None:
    """After each batch some earlier trades are cancelled or corrected; each timeframe's final bars equal
    the reference computed from the trades with exactly the fixes that reached that timeframe's live bar."""
    t, cuts, fixes = case
    n = len(t["ts"])
    syms = SymbolTable(SYMS)
    agg = CandleAggregator(STREAM_TIMEFRAMES, LATENESS, syms, correction_window=10**7)
    tfs = agg.tf_names
    # Per timeframe: the trades as that timeframe's bars should see them.
    state = {tf: {"price": t["price"].copy(), "size": t["size"].copy(), "alive": np.ones(n, bool)} for tf in tfs}
    cur = {"price": t["price"].copy(), "size": t["size"].copy(), "alive": np.ones(n, bool)}
    out: list[BarSnapshot] = []
    fix_iter = iter(fixes)
    bounds = [0, *cuts, n]
    minute = t["ts"] - t["ts"] % MIN
    for a, b in itertools.pairwise(bounds):
        if a >= b:
            continue
        agg.process(TradeBatch(t["sym"][a:b], t["ts"][a:b], t["price"][a:b], t["size"][a:b], t["id"][a:b]))
        out.append(agg.drain_final())
        for pick, cancel, new_p, new_s in itertools.islice(fix_iter, 3):
            i = pick % b
            if not cur["alive"][i]:
                continue
            same = (t["sym"] == t["sym"][i]) & (minute == minute[i]) & cur["alive"]
            if cancel and int(same.sum()) < 2:
                continue  # never empty a bar (an emptied closed bar keeps a zero-volume row)
            sid, ts = int(t["sym"][i]), int(t["ts"][i])
            live = {}
            for ti, tf in enumerate(agg.timeframes):
                label = labels_for(tf, np.array([ts - ts % MIN], np.int64), agg.days)
                live[tf.name] = int(agg.pool.find(agg.pool.key_of(np.array([sid], np.int32), ti, label))[0]) >= 0
            p, z = round(new_p, 2), float(round(new_s))
            status = agg.correct(sid, int(t["id"][i]), ts, float(cur["price"][i]), float(cur["size"][i]),
                                 None if cancel else p, None if cancel else z)
            assert status in ("applied", "unapplied"), status
            assert (status == "applied") == any(live.values())
            for tf, is_live in [*live.items(), ("_cur", True)]:
                s = cur if tf == "_cur" else state[tf]
                if not is_live:
                    continue
                if cancel:
                    s["alive"][i] = False
                else:
                    s["price"][i], s["size"][i] = p, z
        out.append(agg.drain_final())
    agg.close_all()
    out.append(agg.drain_final())
    got = final_bars(out, agg)
    assert agg.corrections.inexact == 0
    for tf in tfs:
        s = state[tf]
        keep = s["alive"]
        ref_t = {"sym": t["sym"][keep], "ts": t["ts"][keep], "price": s["price"][keep], "size": s["size"][keep],
                 "id": t["id"][keep]}
        compare(got, ref_t, tf)


def test_cancel_of_a_sealed_minutes_print_that_set_the_hour_bar_is_exact() -> None:
    """The 1h open, high and low came from trades whose minutes are sealed: cancelling or correcting them
    recomputes the hour from its minutes (the by-difference adjustment could not: "inexact")."""
    agg = CandleAggregator(["1m", "1h"], LATENESS, SymbolTable(["AAPL"]))
    h = T0 - T0 % (3600 * NS) + 3600 * NS
    prices = [10.0, 30.0, 12.0, 5.0, 11.0, 13.0]  # minute 0: open 10, high 30; minute 1: low 5, close 13
    ts = [h + (k // 3) * MIN + (k % 3 + 1) * NS for k in range(len(prices))]
    agg.process(TradeBatch.from_lists([0] * 6, ts, prices, [1.0] * 6, list(range(6))))
    agg.advance(h + 2 * MIN + 10 * NS)  # both minutes sealed (in the ledger), the hour still open
    assert agg.ledger is not None and agg.pool.rows_between(0, 0, h, h + 3600 * NS).shape[0] == 0
    assert agg.correct(0, 1, ts[1], 30.0, 1.0, None, None) == "applied"  # the high
    assert agg.correct(0, 0, ts[0], 10.0, 1.0, None, None) == "applied"  # the open
    assert agg.correct(0, 3, ts[3], 5.0, 1.0, 5.5, 3.0) == "applied"  # the low, corrected up
    agg.close_all()
    bars = agg.drain_final()
    hour = int(np.flatnonzero(bars.tf == 1)[-1])
    assert (bars.open[hour], bars.high[hour], bars.low[hour], bars.close[hour]) == (12.0, 13.0, 5.5, 13.0)
    assert bars.count[hour] == 4 and bars.volume[hour] == 6.0
    assert agg.corrections.inexact == 0


@COMMON
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(2, 30))
@example(0, 40, 30)  # a gap ending on a day boundary (needed the ledger's grace period)
def test_backfilled_minutes_rebuild_the_live_higher_bars(seed: int, gap_start: int, gap_len: int) -> None:
    """Trades of a gap never reach the aggregator (the first and last gap minutes only in part); the REST
    1m bars of the gap then replace those minutes, and every timeframe equals the reference of all trades."""
    rng = np.random.default_rng(seed)
    n = 3000
    ts = np.sort(T0 + rng.integers(0, 90 * MIN, n)).astype(np.int64)
    t = {"sym": rng.integers(0, len(SYMS), n).astype(np.int32), "ts": ts,
         "price": np.round(rng.uniform(10, 20, n), 2), "size": rng.integers(1, 500, n).astype(np.float64),
         "id": np.arange(n, dtype=np.int64)}
    g0 = T0 - T0 % MIN + gap_start * MIN
    g1 = g0 + gap_len * MIN
    # Lost: trades in the gap, except some of its edge minutes (seen before the drop / after the resume).
    lost = (ts >= g0 + 20 * NS) & (ts < g1 - 20 * NS)
    agg = CandleAggregator(STREAM_TIMEFRAMES, LATENESS, SymbolTable(SYMS))
    out: list[BarSnapshot] = []
    seen = np.flatnonzero(~lost)
    resume = int(np.searchsorted(ts[seen], g1 + 30 * NS))  # backfill once the clock is past the gap + settle
    for a, b in itertools.pairwise([0, resume // 2, resume, len(seen)]):
        idx = seen[a:b]
        agg.process(TradeBatch(t["sym"][idx], ts[idx], t["price"][idx], t["size"][idx], t["id"][idx]))
        out.append(agg.drain_final())
        if b == resume:
            rest = pl.concat([reference(t, "1m").filter((pl.col("ts") >= pl.lit(g0 // 1000).cast(pl.Datetime("us", "UTC")))
                                                        & (pl.col("ts") < pl.lit(g1 // 1000).cast(pl.Datetime("us", "UTC"))))])
            sid = np.array([SYMS.index(s) for s in rest["symbol"].to_list()], np.int32)
            res = agg.replace_minutes(sid, rest["ts"].cast(pl.Int64).to_numpy() * 1000, rest["open"].to_numpy(),
                                      rest["high"].to_numpy(), rest["low"].to_numpy(), rest["close"].to_numpy(),
                                      rest["volume"].to_numpy(), rest["trade_count"].to_numpy(),
                                      rest["vwap"].to_numpy())
            assert res["inexact"] == 0
            out.append(agg.drain_final())
    agg.close_all()
    out.append(agg.drain_final())
    got = final_bars(out, agg)
    for tf in STREAM_TIMEFRAMES:
        if tf == "1m":
            continue  # the backfill publishes and stores the 1m bars itself
        compare(got, t, tf)


def test_trade_log_merges_its_chunks_and_still_finds_every_trade() -> None:
    """Batches are merged LSM-style (bounded merges, few chunks); lookups by id and by time find every trade."""
    from jonbu_core.aggregation.corrections import (
        MERGE_BACKLOG,
        MERGE_FANOUT,
        MERGE_MAX_TRADES,
        TradeLog,
    )

    log = TradeLog(window_ns=10**18, max_trades=10**9)
    rng = np.random.default_rng(5)
    t0, batches, per = 1_700_000_000 * 10**9, 3000, 20
    for b in range(batches):
        ts = t0 + b * 1000 + np.arange(per, dtype=np.int64)
        log.append(rng.integers(0, 3, per).astype(np.int32), ts, np.full(per, 10.0 + b), np.ones(per),
                   np.arange(b * per, (b + 1) * per, dtype=np.int64), int(ts[-1]))
        assert len(log._recent) < MERGE_BACKLOG  # never more unmerged batches than that
        if b == 1000:
            log.maintain()  # what the daemon's timer does
            assert len(log._recent) < MERGE_FANOUT
    assert log.size == batches * per
    log.maintain()
    assert len(log.chunks) < batches // MERGE_FANOUT  # merged…
    assert max(c.ts.shape[0] for c in log.chunks) <= MERGE_MAX_TRADES  # …within the bound
    allts = np.concatenate([c.ts for c in log.chunks])
    assert (np.diff(allts) > 0).all() and [c.tmin for c in log.chunks] == sorted(c.tmin for c in log.chunks)
    for tid in (0, 1234, batches * per - 1):
        b, j = divmod(tid, per)
        ts = t0 + b * 1000 + j
        sym = None
        for c in log.chunks:
            k = np.flatnonzero(c.ids == tid)
            if k.shape[0]:
                sym = int(c.sym[k[0]])
        assert sym is not None
        hit = log.find(sym, tid, ts, 10.0 + b, 1.0)
        assert hit is not None and int(log.chunks[hit[0]].ids[hit[1]]) == tid
        assert log.find(sym, tid, ts + 10**12, 0.0, 0.0) == hit  # by id even when the time is off
        hit2 = log.find(sym, None, ts, 10.0 + b, 1.0)  # by time, price and size
        assert hit2 == hit
        t, p, _ = log.trades_of(sym, ts, ts + 1)
        assert t.tolist() == [ts] and p.tolist() == [10.0 + b]
