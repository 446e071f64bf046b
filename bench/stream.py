"""Benchmark of the streaming path: aggregator, whole daemon over a local WebSocket, latency.

1. Aggregator trades/s with 5 timeframes (1m 5m 15m 1h 1d) on mock-market trades of
   many symbols interleaved in time order, fed in batches as the daemon does — next
   to a plain per-trade Python loop and Polars' batch group-by on the same trades.
2. The daemon's sustained trades/s from a local fake Alpaca WebSocket (another
   process generating msgpack frames) through decode, aggregation and the memory bus.
3. p50/p99 trade-to-bus latency at 50k trades/s, per trade. The fake server sends
   ``LATENCY_FRAME``-trade frames every ``LATENCY_TICK`` s and stamps every trade of a
   frame with the wall clock (``time.time_ns()``) just before it hands the frame to
   ``ws.send`` — the trade's event time *is* its send time. The latency of a trade is
   from that stamp to the moment the memory bus has accepted the first events that
   reflect it: the daemon's :class:`~jonbu_stream.sinks.BusSink` reads the clock right
   after ``publish_many_nowait`` returns (the events are then in every subscriber's
   queue). That covers the kernel, the WebSocket and msgpack decoding, the Alpaca feed
   client, aggregation into all 5 timeframes and building and publishing the events.
   Partial throttling is off (``partial_interval=0``): every frame publishes the partial
   bar of every timeframe of every symbol it touched (the default 50 ms throttle would
   add up to 50 ms by design), so "the first event" is the same frame's publish for
   every timeframe. Reported next to it (not a target): trade-to-*subscriber* latency,
   to when the bench's own subscriber task dequeues the last event of that publish, and
   (in ``meta.latency_small_frames``) the same run with ``SMALL_FRAME``-trade frames
   every ``SMALL_TICK`` s — closer to what Alpaca sends on a quiet feed; the daemon
   aggregates and publishes once per frame (once per burst when more frames are already
   waiting on the socket: :meth:`jonbu_stream.feeds.alpaca.AlpacaFeed._dispatch_many`), so its
   per-frame cost decides there. The server's pacing sends two frames back to back now and
   then (its credit catches up on a late ``asyncio.sleep``): the second one waits for the
   first to be handled unless the two are aggregated together.

Everything runs with the production defaults but the partial throttle: the aggregator
keeps its 125 s trade log for corrections and cancels (``correction_window``), as
``jonbu-ohlcv stream`` does, and the C helpers of ``setup.py`` are used as installed
(frames decoded by :mod:`jonbu_stream.feeds.wire`, live batches aggregated by
:mod:`jonbu_core.aggregation.fast`; the JSON records whether they were). The 50k/s
latency run is repeated with ``busy_poll`` (``JONBU_STREAM_BUSY_POLL_SECONDS``) on: the
daemon polls instead of sleeping between frames — one core at 100% for a hot cache — and
reported next to the default (no target: the target figure is the default's).

The machine is usually shared: the load average at the start and end of each daemon
run and the daemon's own CPU time (CPU-seconds per second, µs per trade) are
recorded next to every figure — judge a change by its CPU time, not by the rate
alone. The daemon freezes its start-up heap (``gc.freeze``, see
:meth:`jonbu_stream.daemon.StreamDaemon._freeze_heap`), as it does in production.

Run: ``.venv/bin/python bench/stream.py`` (about a minute) → ``bench/results/stream.json``;
``--breakdown`` adds a run timing each stage of a frame's way (:func:`breakdown`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import figure, write_result  # noqa: E402
from jonbu_core.aggregation import CandleAggregator, SymbolTable, TradeBatch  # noqa: E402
from jonbu_core.providers.mock import MockMarket  # noqa: E402
from jonbu_core.rollup import bucket_expr  # noqa: E402
from jonbu_core.timeframe import STREAM_TIMEFRAMES, parse_timeframe  # noqa: E402

NS = 1_000_000_000


def make_trades(n_symbols: int, day: date) -> tuple[TradeBatch, SymbolTable, pa.Table]:
    market = MockMarket(42)
    syms = SymbolTable()
    tables = [market.session_trades(f"S{i:03d}", day) for i in range(n_symbols)]
    table = pa.concat_tables(tables).sort_by("ts")
    return TradeBatch.from_arrow(table, syms), syms, table


def bench_aggregator(batch: TradeBatch, syms: SymbolTable, batch_size: int) -> float:
    agg = CandleAggregator(STREAM_TIMEFRAMES, 5.0, syms)  # production defaults: trade log for c/x on
    n = len(batch)
    parts = [batch.take(slice(i, i + batch_size)) for i in range(0, n, batch_size)]
    t0 = time.perf_counter()
    for p in parts:
        agg.process(p)
        agg.drain_final()
    agg.close_all()
    agg.drain_final()
    return n / (time.perf_counter() - t0)


def bench_python_loop(batch: TradeBatch, limit: int) -> float:
    """The obvious per-trade implementation: a dict of bars per (symbol, timeframe, label)."""
    steps = [parse_timeframe(t).seconds * NS for t in STREAM_TIMEFRAMES[:-1]]
    sym, ts, px, sz = (a[:limit].tolist() for a in (batch.sym, batch.ts, batch.price, batch.size))
    bars: dict[tuple[int, int, int], list[float]] = {}
    day_ns = 86400 * NS
    t0 = time.perf_counter()
    for s, t, p, z in zip(sym, ts, px, sz, strict=True):
        for k, step in enumerate([*steps, day_ns]):
            label = t - t % step
            b = bars.get((s, k, label))
            if b is None:
                bars[(s, k, label)] = [p, p, p, p, z, p * z, 1, t, t]
            else:
                if p > b[1]:
                    b[1] = p
                if p < b[2]:
                    b[2] = p
                if t >= b[8]:
                    b[3], b[8] = p, t
                if t < b[7]:
                    b[0], b[7] = p, t
                b[4] += z
                b[5] += p * z
                b[6] += 1
    return limit / (time.perf_counter() - t0)


def bench_polars(table: pa.Table) -> float:
    df = pl.from_arrow(table.select(["symbol", "ts", "price", "size"]))
    assert isinstance(df, pl.DataFrame)
    t0 = time.perf_counter()
    for tf in STREAM_TIMEFRAMES:
        (df.with_columns(bucket_expr(parse_timeframe(tf)).alias("b"))
         .group_by("symbol", "b")
         .agg(pl.col("price").first(), pl.col("price").max().alias("h"), pl.col("price").min().alias("l"),
              pl.col("price").last().alias("c"), pl.col("size").sum(), pl.len(),
              (pl.col("price") * pl.col("size")).sum().alias("pv")))
    return df.height / (time.perf_counter() - t0)


def start_server(rate: float, frame: int, tick: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.alpaca_stream", "--live", "--rate", str(rate), "--frame-size",
         str(frame), "--tick", str(tick)],
        cwd=str(ROOT), stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[-1]


LATENCY_RATE, LATENCY_FRAME, LATENCY_TICK = 50_000, 250, 0.005
SMALL_FRAME, SMALL_TICK = 50, 0.001


async def run_daemon(url: str, seconds: float, warmup: float, symbols: list[str],
                     partial_interval: float, busy_poll: float = 0.0) -> dict[str, Any]:
    from jonbu_core.bus.memory import MemoryBus
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store
    from jonbu_stream.daemon import StreamDaemon
    from jonbu_stream.feeds.alpaca import AlpacaFeed
    from jonbu_stream.sinks import LatencyRecorder

    with tempfile.TemporaryDirectory() as d:
        s = load_settings(data_dir=Path(d))
        store = open_store(s)
        bus = MemoryBus()
        await bus.start()
        consumed = [0]
        # Trade-to-subscriber: the last event of each publish is marked with the send stamps of the
        # trades it reflects (the sink takes its stamps after the publish returns); the subscriber
        # below measures when it dequeues it.
        marks: dict[int, tuple[Any, list[Any]]] = {}
        to_sub = LatencyRecorder()
        publish = bus.publish_many_nowait
        holder: list[Any] = []

        def publish_marked(events: Any) -> None:
            publish(events)
            if events and holder and holder[0].pending_ts:
                marks[id(events[-1])] = (events[-1], list(holder[0].pending_ts))

        bus.publish_many_nowait = publish_marked  # type: ignore[method-assign]

        async def consume() -> None:
            async for ev in bus.subscribe():
                consumed[0] += 1
                if marks:
                    m = marks.pop(id(ev), None)
                    if m is not None:
                        to_sub.add((time.time_ns() - np.concatenate(m[1])) / NS)

        feed = AlpacaFeed(url, "test-key", "test-secret", symbols, subscribe_bars=False, watchdog=600)
        daemon = StreamDaemon(s, store, bus, feed, symbols=symbols, partial_interval=partial_interval,
                              busy_poll=busy_poll)
        holder.append(daemon.bus_sink)
        ct = asyncio.create_task(consume())
        task = asyncio.create_task(daemon.run())
        await asyncio.sleep(warmup)
        n0, t0, p0 = daemon.agg.trades, time.perf_counter(), daemon.bus_sink.published
        daemon.bus_sink.latency.reset()
        to_sub.reset()
        c0, load0 = time.process_time(), os.getloadavg()[0]
        await asyncio.sleep(seconds)
        n1, t1, p1 = daemon.agg.trades, time.perf_counter(), daemon.bus_sink.published
        cpu = time.process_time() - c0
        lat = daemon.bus_sink.latency.percentiles((50, 99), None) or {"p50": float("nan"), "p99": float("nan")}
        sub = to_sub.percentiles((50, 99), None) or {"p50": float("nan"), "p99": float("nan")}
        st = daemon.status()
        await daemon.stop()
        await task
        ct.cancel()
        await bus.close()
        store.close()
        return {"rate": (n1 - n0) / (t1 - t0), "latency": lat, "latency_to_subscriber": sub,
                "late": st["trades"]["late"], "published_in_window": p1 - p0,
                "events": consumed[0], "published": st["published"], "malformed": st["feed"]["malformed"],
                "cpu_s_per_s": cpu / (t1 - t0), "cpu_us_per_trade": cpu / max(1, n1 - n0) * 1e6,
                "native": {"decoder": feed._wire is not None, "aggregation": daemon.agg.fast is not None,
                           "native_batches": st["hot_path"]["native_batches"], "batches": st["hot_path"]["batches"]},
                "load_start": load0, "load_end": os.getloadavg()[0]}


def breakdown(seconds: float, symbols: list[str]) -> dict[str, dict[str, float]]:
    """Where a frame's latency goes, stage by stage (``--breakdown``; not part of ``make bench``).

    The 50k/s latency run again, with the daemon's hot path wrapped to read the clock
    between stages (the wrappers cost a few µs per frame, so the total is a bit above the
    latency figures): ``arrival`` (the server's stamp to the first byte of the frame in
    the connection's ``data_received``: server send, kernel, waking the event loop),
    ``websocket`` (parsing the frame until the feed's handler), ``decode`` (msgpack → a
    ``TradeBatch``), ``hand-over``, ``aggregate`` (the daemon's ``on_trades`` up to the
    end of :meth:`CandleAggregator.process`) and ``publish`` (partials, events, the bus,
    latency bookkeeping). Per frame, in µs.
    """
    from jonbu_core.aggregation.aggregator import CandleAggregator
    from jonbu_stream.daemon import StreamDaemon
    from jonbu_stream.feeds import alpaca

    conn_cls = alpaca._direct_connection_class()
    marks: dict[str, int] = {}
    rows: list[tuple[int, ...]] = []
    clock = time.time_ns
    saved = {(conn_cls, "data_received"): conn_cls.data_received,
             (alpaca.AlpacaFeed, "_on_direct"): alpaca.AlpacaFeed._on_direct,
             (alpaca.AlpacaFeed, "_decode"): alpaca.AlpacaFeed._decode,
             (CandleAggregator, "process"): CandleAggregator.process,
             (StreamDaemon, "on_trades"): StreamDaemon.on_trades}

    def data_received(self: Any, data: bytes) -> None:
        marks.setdefault("data", clock())
        saved[(conn_cls, "data_received")](self, data)

    def on_direct(self: Any, frames: list[bytes], sink: Any) -> None:
        marks["handler"] = clock()
        saved[(alpaca.AlpacaFeed, "_on_direct")](self, frames, sink)
        marks.pop("data", None)

    def decode(self: Any, raw: bytes) -> Any:
        got = saved[(alpaca.AlpacaFeed, "_decode")](self, raw)
        marks["decoded"] = clock()
        if got is not None and hasattr(got, "ts"):
            marks["stamp"] = int(got.ts[0])
        return got

    def process(self: Any, batch: Any) -> int:
        n = saved[(CandleAggregator, "process")](self, batch)
        marks["aggregated"] = clock()
        return n  # type: ignore[no-any-return]

    def on_trades(self: Any, batch: Any) -> None:
        marks["on_trades"] = clock()
        saved[(StreamDaemon, "on_trades")](self, batch)
        end = clock()
        m = marks
        if all(k in m for k in ("stamp", "data", "handler", "decoded", "aggregated")):
            rows.append((m["data"] - m["stamp"], m["handler"] - m["data"], m["decoded"] - m["handler"],
                         m["on_trades"] - m["decoded"], m["aggregated"] - m["on_trades"], end - m["aggregated"]))

    patches = {(conn_cls, "data_received"): data_received, (alpaca.AlpacaFeed, "_on_direct"): on_direct,
               (alpaca.AlpacaFeed, "_decode"): decode, (CandleAggregator, "process"): process,
               (StreamDaemon, "on_trades"): on_trades}
    for (cls, name), fn in patches.items():
        setattr(cls, name, fn)
    proc, url = start_server(LATENCY_RATE, LATENCY_FRAME, LATENCY_TICK)
    try:
        asyncio.run(run_daemon(url, seconds, 2.0, symbols, 0.0))
    finally:
        proc.terminate()
        proc.wait(10)
        for (cls, name), fn in saved.items():
            setattr(cls, name, fn)
    a = np.array(rows[len(rows) // 5:], dtype=np.float64) / 1000
    names = ["arrival", "websocket", "decode", "hand-over", "aggregate", "publish"]
    out = {k: {f"p{q}": round(float(np.percentile(a[:, i], q)), 1) for q in (50, 90, 99)} for i, k in enumerate(names)}
    total = a.sum(axis=1)
    out["total"] = {f"p{q}": round(float(np.percentile(total, q)), 1) for q in (50, 90, 99)}
    for k, v in out.items():
        print(f"  {k:10s} p50 {v['p50']:7.1f}  p90 {v['p90']:7.1f}  p99 {v['p99']:7.1f} µs")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=80, help="symbols in the aggregator data set")
    ap.add_argument("--batch", type=int, default=4096, help="trades per aggregator batch")
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time of each daemon run")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time each stage of a frame's way (another latency run; see breakdown())")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    t_start = time.perf_counter()
    batch, syms, table = make_trades(args.symbols, date(2024, 1, 3))
    n = len(batch)
    print(f"{n:,} trades of {args.symbols} symbols")
    bench_aggregator(batch.take(slice(0, 200_000)), SymbolTable(syms.names), args.batch)  # warm-up
    agg_rate = max(bench_aggregator(batch, SymbolTable(syms.names), args.batch) for _ in range(3))
    loop_rate = bench_python_loop(batch, min(n, 200_000))
    polars_rate = max(bench_polars(table) for _ in range(2))
    figures = [
        figure("aggregator, 5 timeframes", agg_rate, "trades/s", baseline=("plain per-trade Python loop", loop_rate),
               target=(">=", 1e6), note=f"{n:,} trades, batches of {args.batch}; trade log for corrections on; Polars batch group-by "
                                         f"(no state, no lateness): {polars_rate:,.0f} trades/s"),
        figure("Polars batch group-by, 5 timeframes", polars_rate, "trades/s",
               baseline=("plain per-trade Python loop", loop_rate), note="one-shot batch over all trades"),
    ]
    symbols = [f"S{i:02d}" for i in range(20)]
    proc, url = start_server(600_000, 2000, 0.01)
    try:
        full = asyncio.run(run_daemon(url, args.seconds, 2.0, symbols, 0.05))
    finally:
        proc.terminate()
        proc.wait(10)
    figures.append(figure("daemon sustained, WebSocket → aggregator → memory bus", full["rate"], "trades/s",
                          target=(">=", 250_000), note=f"fake Alpaca server in another process offering 600k/s in "
                          f"2000-trade frames; default 50 ms partial throttle; {full['events']:,} bus events consumed; "
                          f"daemon CPU {full['cpu_us_per_trade']:.2f} µs/trade ({full['cpu_s_per_s']:.2f} CPU-s/s); "
                          f"load average {full['load_start']:.1f}→{full['load_end']:.1f} on {os.cpu_count()} cores"))
    proc, url = start_server(LATENCY_RATE, LATENCY_FRAME, LATENCY_TICK)
    try:
        lat = asyncio.run(run_daemon(url, args.seconds, 2.0, symbols, 0.0))
    finally:
        proc.terminate()
        proc.wait(10)
    proc, url = start_server(LATENCY_RATE, LATENCY_FRAME, LATENCY_TICK)
    try:
        busy = asyncio.run(run_daemon(url, args.seconds / 2, 2.0, symbols, 0.0, busy_poll=1.0))
    finally:
        proc.terminate()
        proc.wait(10)
    busy["cpu_us_per_frame"] = busy["cpu_s_per_s"] / max(busy["rate"] / LATENCY_FRAME, 1e-9) * 1e6
    print(f"busy polling: p50 {busy['latency']['p50']:.3f} ms, p99 {busy['latency']['p99']:.3f} ms, "
          f"{busy['cpu_s_per_s']:.2f} CPU-s/s")
    proc, url = start_server(LATENCY_RATE, SMALL_FRAME, SMALL_TICK)
    try:
        small = asyncio.run(run_daemon(url, args.seconds / 2, 2.0, symbols, 0.0))
    finally:
        proc.terminate()
        proc.wait(10)
    small["frame_trades"], small["frames_per_s"] = SMALL_FRAME, small["rate"] / SMALL_FRAME
    small["cpu_us_per_frame"] = small["cpu_s_per_s"] / max(small["frames_per_s"], 1e-9) * 1e6
    print(f"{SMALL_FRAME}-trade frames: p50 {small['latency']['p50']:.3f} ms, p99 {small['latency']['p99']:.3f} ms, "
          f"{small['cpu_us_per_frame']:.0f} µs CPU per frame")
    frames_per_s = lat["rate"] / LATENCY_FRAME
    lat["frame_trades"], lat["frames_per_s"] = LATENCY_FRAME, frames_per_s
    lat["cpu_us_per_frame"] = lat["cpu_s_per_s"] / max(frames_per_s, 1e-9) * 1e6
    sub = lat["latency_to_subscriber"]
    load_note = (f"load average {lat['load_start']:.1f}→{lat['load_end']:.1f} on {os.cpu_count()} cores; "
                 f"daemon CPU {lat['cpu_s_per_s']:.2f} CPU-s/s, {lat['cpu_us_per_frame']:.0f} µs per frame "
                 f"(decode, aggregation, events, the bench's subscriber)")
    figures.append(figure("trade-to-bus latency p50 at 50k trades/s", lat["latency"]["p50"], "ms",
                          higher_is_better=False, note=f"measured rate {lat['rate']:,.0f} trades/s in "
                          f"{LATENCY_FRAME}-trade frames ({frames_per_s:,.0f} frames/s); trade-to-subscriber p50 "
                          f"{sub['p50']:.3f} ms; {load_note}"))
    figures.append(figure("trade-to-bus latency p99 at 50k trades/s", lat["latency"]["p99"], "ms",
                          target=("<=", 1.0), higher_is_better=False,
                          note=f"per trade, from the server's stamp just before ws.send to the memory bus having "
                               f"accepted the first events reflecting it (partial throttle off: every frame "
                               f"publishes the partials of all 5 timeframes of every symbol it touched, "
                               f"{lat['published_in_window'] / max(1.0, frames_per_s * args.seconds):.0f} events "
                               f"per frame); {LATENCY_FRAME}-trade frames of 20 symbols every {LATENCY_TICK * 1000:g} ms; "
                               f"trade-to-subscriber p99 {sub['p99']:.3f} ms; {load_note}; with {SMALL_FRAME}-trade "
                               f"frames every {SMALL_TICK * 1000:g} ms: p50 {small['latency']['p50']:.3f} ms, p99 "
                               f"{small['latency']['p99']:.3f} ms, {small['cpu_us_per_frame']:.0f} µs CPU per frame"))
    figures.append(figure("trade-to-bus latency p99 at 50k trades/s, busy polling", busy["latency"]["p99"], "ms",
                          higher_is_better=False,
                          note=f"the same run with JONBU_STREAM_BUSY_POLL_SECONDS=1: the daemon polls instead of "
                               f"sleeping between frames ({busy['cpu_s_per_s']:.2f} CPU-s/s: one core kept busy); "
                               f"p50 {busy['latency']['p50']:.3f} ms; default (no busy polling) p99 "
                               f"{lat['latency']['p99']:.3f} ms at {lat['cpu_s_per_s']:.2f} CPU-s/s"))
    stages = None
    if args.breakdown:
        print("where a 250-trade frame's latency goes (µs):")
        stages = breakdown(args.seconds / 2, symbols)
    load_end = os.getloadavg()[0]
    print(f"load average {load_start:.2f} at start, {load_end:.2f} at end; {time.perf_counter() - t_start:.0f} s")
    write_result("stream", figures, trades=n, symbols=args.symbols, batch=args.batch,
                 python_loop_rate=loop_rate, polars_rate=polars_rate, daemon=full, latency_run=lat,
                 latency_small_frames=small, latency_busy_poll=busy, breakdown=stages,
                 load_average={"start": load_start, "end": load_end}, cpus=os.cpu_count())
    try:
        from bench.report import _chart

        _chart("stream", figures)
    except Exception as exc:  # the chart is a convenience: bench/report.py redraws it
        print(f"no chart: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
