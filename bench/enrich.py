"""Benchmark of on-demand enrichment (issue #6).

Measures, in one run on the same 1M 1m candles:

* batch: ``enrich_table`` (every indicator of the default set, 61 candlestick
  patterns, chart patterns, context, levels, features, confidence, Arrow table) in
  ns/candle — wall with the TA-Lib calls on the thread pool (2 threads, the library's
  default for large tables), wall and CPU time on one thread (``parallel=False``),
  and once with glibc's default allocator before
  :func:`jonbu_core.enrich.memory.tune_allocator` — against the floor: the bare
  TA-Lib Function-API calls for the same indicators on one thread;
* incremental: ``IncrementalEnricher.update`` per new candle, p50/p99 µs (wall and
  thread CPU time; setup objects frozen with ``gc.freeze`` as in a daemon after
  start-up), against a naive baseline (the batch path over the warm-up window per
  candle) and against its floor: the bare TA-Lib streaming-handle updates of one bar
  (advanced in one C loop, and, for comparison, through ``talib.stream``).

The machine load average is recorded next to every figure (the box is shared).

Data: the mock market (``jonbu_core.providers.mock.MockMarket``), generated once in
two spawned processes and cached as Parquet in the temp dir (``--data mock``; the
default ``auto`` uses that cache when present and a NumPy GBM otherwise, so a
default run stays around a minute). Writes ``bench/results/enrich.json`` and the
chart ``bench/results/enrich.png`` (drawn by ``bench/report.py``'s code).

    .venv/bin/python bench/enrich.py [--candles 1000000] [--data auto|mock|gbm] [--updates 50000]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import talib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import figure, write_result
from jonbu_core.enrich import enrich_candles, enrich_table, parse_indicator_spec
from jonbu_core.enrich.engine import cached_plan
from jonbu_core.enrich.graph import Graph, TaCall, base_series, evaluate
from jonbu_core.enrich.incremental import IncrementalEnricher
from jonbu_core.enrich.memory import tune_allocator
from jonbu_core.enrich.service import required_warmup
from jonbu_core.models import bars_to_candles

CACHE = Path(tempfile.gettempdir()) / "jonbu-bench"


def _mock_chunk(args: tuple[int, str, str, str]) -> pa.Table:
    from jonbu_core.providers.mock import MockMarket

    seed, symbol, start, end = args
    m = MockMarket(seed)
    batches = list(m.bars(symbol, "1m", datetime.fromisoformat(start), datetime.fromisoformat(end)))
    return pa.Table.from_batches(batches) if batches else pa.table({})


def mock_bars(n: int, seed: int = 42) -> pa.Table:
    """``n`` 1m bars of the mock market (cached in the temp dir)."""
    path = CACHE / f"mock_1m_seed{seed}_{n}.parquet"
    if path.exists():
        return pq.read_table(path)
    from jonbu_core.calendar import sessions

    days = sessions(date(2014, 1, 1), date(2026, 12, 31))
    need = n // 390 + 20
    days = days[:need]
    cuts = np.array_split(np.arange(len(days)), 8)
    jobs = [(seed, "BENCH", datetime(days[c[0]].year, days[c[0]].month, days[c[0]].day, tzinfo=UTC).isoformat(),
             (datetime(days[c[-1]].year, days[c[-1]].month, days[c[-1]].day, tzinfo=UTC) + timedelta(days=1)).isoformat())
            for c in cuts if len(c)]
    print(f"generating {n:,} mock 1m bars once ({len(days)} sessions, 2 processes)…", flush=True)
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        parts = [t for t in pool.map(_mock_chunk, jobs) if t.num_rows]
    table = pa.concat_tables(parts).slice(0, n)
    CACHE.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return table


def gbm_bars(n: int, seed: int = 42) -> pa.Table:
    """``n`` 1m bars of a GBM on regular-session minutes."""
    from jonbu_core.calendar import session_minutes, sessions

    rng = np.random.default_rng(seed)
    days = sessions(date(2014, 1, 1), date(2026, 12, 31))[: n // 390 + 20]
    ts = np.concatenate([session_minutes(d).astype("datetime64[us]").astype(np.int64) for d in days])[:n]
    c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    o = np.r_[100.0, c[:-1]] * np.exp(rng.normal(0.0, 0.0002, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0.0, 0.0004, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0.0, 0.0004, n)))
    v = np.round(rng.lognormal(8.0, 0.6, n))
    return pa.table({"ts": pa.array(ts, pa.timestamp("us", tz="UTC")), "open": o, "high": h, "low": lo,
                     "close": c, "volume": v, "trade_count": pa.nulls(n, pa.int64()),
                     "vwap": (h + lo + c) / 3.0})


def _best(fn: Any, repeat: int, clock: Any = time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def _timed(fn: Any, repeat: int) -> tuple[float, float]:
    """(best wall seconds, best process CPU seconds — every thread) over ``repeat`` runs."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _talib_calls(graph: Graph, arrays: dict[str, np.ndarray[Any, Any]]) -> list[tuple[Any, list[Any], tuple[Any, ...]]]:
    """The TA-Lib calls of ``graph`` whose inputs are plain bar series (the bare floor)."""
    calls = []
    for node in graph.nodes:
        if isinstance(node, TaCall) and all(s in arrays for s in node.inputs):
            calls.append((getattr(talib, node.func), [arrays[s] for s in node.inputs], node.params))
    return calls


def bench_batch(bars: pa.Table, repeat: int) -> dict[str, float]:
    """Batch figures; ``*_ns`` are per candle. Everything after ``tune`` runs with the tuned allocator."""
    n = bars.num_rows
    specs = parse_indicator_spec(None)
    cols = {k: np.ascontiguousarray(bars.column(k).to_numpy(zero_copy_only=False), dtype=np.float64)
            for k in ("open", "high", "low", "close", "volume", "vwap")}
    base = base_series(cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"], cols["vwap"])
    g_ind = Graph()
    for s in specs:
        s.declare(g_ind)
    floor_calls = _talib_calls(g_ind, base)
    plan_graph = cached_plan(tuple(specs)).graph
    n_all = sum(isinstance(nd, TaCall) for nd in plan_graph.nodes)

    def floor() -> None:
        for fn, args, params in floor_calls:
            fn(*args, *params)

    def whole_graph() -> None:
        evaluate(plan_graph, dict(base), False)

    def ours(parallel: bool) -> Any:
        return lambda: enrich_table(bars, timeframe="1m", parallel=parallel)

    ns = 1e9 / n
    out: dict[str, float] = {}
    enrich_table(bars.slice(0, 20000))  # warm caches (plan, abstract lookbacks)
    # 1. glibc's default allocator (8 MB arrays come from mmap and are faulted in again each time)
    w, c = _timed(ours(True), 1)
    out.update(default_alloc_parallel_wall_ns=w * ns, default_alloc_parallel_cpu_ns=c * ns,
               default_alloc_load=_load())
    w, c = _timed(floor, repeat)
    out.update(default_alloc_floor_ns=w * ns, default_alloc_floor_cpu_ns=c * ns)
    # 2. tuned allocator (jonbu_core.enrich.memory.tune_allocator): freed arrays are reused
    out["allocator_tuned"] = float(tune_allocator())
    enrich_table(bars, timeframe="1m")  # grow the heap once
    out["load_before_batch"] = _load()
    w, c = _timed(floor, repeat)
    out.update(floor_ns=w * ns, floor_cpu_ns=c * ns)
    w, c = _timed(ours(False), repeat)
    out.update(ours_serial_ns=w * ns, ours_serial_cpu_ns=c * ns, load_serial=_load())
    w, c = _timed(ours(True), repeat)
    out.update(ours_parallel_ns=w * ns, ours_parallel_cpu_ns=c * ns, load_parallel=_load())
    w, _ = _timed(whole_graph, max(1, repeat - 1))
    out["graph_ns"] = w * ns
    sub = bars.slice(n - 20000)
    t_obj = _best(lambda: enrich_candles(sub, timeframe="1m"), 1)
    out.update(objects_us=t_obj / sub.num_rows * 1e6, n_floor_calls=float(len(floor_calls)),
               n_all_calls=float(n_all), load_after_batch=_load())
    return out


def bench_incremental(bars: pa.Table, updates: int, naive: int) -> dict[str, float]:
    warm = required_warmup(None, "1m")
    seed_n = max(warm, 5000)
    total = min(bars.num_rows, seed_n + updates)
    candles = bars_to_candles(bars.slice(seed_n, total - seed_n))
    enr = IncrementalEnricher(timeframe="1m")
    t0 = time.perf_counter()
    enr.seed(bars.slice(0, seed_n))
    seed_s = time.perf_counter() - t0
    for c in candles[:200]:  # settle
        enr.update(c)
    gc.collect()
    gc.freeze()  # setup objects are long-lived, as in a daemon after start-up
    half = 200 + (len(candles) - 200) // 2
    update = enr.update
    clock = time.perf_counter_ns
    times = np.empty(half - 200, dtype=np.int64)
    for i, c in enumerate(candles[200:half]):
        t = clock()
        update(c)
        times[i] = clock() - t
    # the same on thread CPU time (robust to a shared, busy machine), minus the clock's own cost
    cpu_clock = time.thread_time_ns
    overhead = int(np.median([-(cpu_clock() - cpu_clock()) for _ in range(2000)]))
    cpu = np.empty(len(candles) - half, dtype=np.int64)
    for i, c in enumerate(candles[half:]):
        t = cpu_clock()
        update(c)
        cpu[i] = cpu_clock() - t - overhead
    gc.unfreeze()
    # naive baseline: re-run the batch path over the warm-up window for every new candle
    naive_t = np.empty(naive)
    for i in range(naive):
        end = seed_n + i + 1
        window = bars.slice(end - warm, warm)
        t = clock()
        enrich_candles(window, None, start=None, timeframe="1m")[-1:]
        naive_t[i] = clock() - t
    us = times / 1000.0
    cpu_us = cpu / 1000.0
    return {"p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)),
            "n_cpu": float(len(cpu_us)), "cpu_p50_us": float(np.percentile(cpu_us, 50)), "cpu_p99_us": float(np.percentile(cpu_us, 99)),
            "cpu_clock_overhead_ns": float(overhead),
            "mean_us": float(us.mean()), "max_us": float(us.max()), "n_updates": float(len(us)),
            "seed_bars": float(seed_n), "seed_s": seed_s, "naive_p50_us": float(np.percentile(naive_t, 50) / 1000.0)}


def bench_stream_floor(bars: pa.Table, seed_n: int, updates: int) -> dict[str, float]:
    """Floor of the incremental path: only the TA-Lib streaming-handle updates of one bar.

    Every TA-Lib call of the plan (indicators, context inputs, 61 candlesticks, feature
    min-max) as a streaming handle opened on ``seed_n`` bars, then advanced for each new
    bar with the inputs the batch path computed; per-bar thread CPU time, two ways:

    * ``cpu_p50_us``: the C handles advanced by one C loop (a
      :class:`jonbu_core.enrich.native.Program` of only the TA-Lib calls, inputs
      written before the clock starts) — what the incremental path itself pays;
    * ``py_cpu_p50_us``: the ``talib.stream`` Python handles, each ``update`` called
      from a Python loop (the path without the C helper).
    """
    import ctypes

    from talib import stream

    from jonbu_core.enrich import native
    from jonbu_core.enrich.engine import compute

    total = min(bars.num_rows, seed_n + updates)
    res = compute(bars.slice(0, total), parse_indicator_spec(None), "1m", parallel=False)
    calls = [n for n in res.plan.graph.nodes if isinstance(n, TaCall)]
    names = sorted({s for n in calls for s in (*n.inputs, *n.outputs)})
    slot = {name: i for i, name in enumerate(names)}
    inputs = sorted({s for n in calls for s in n.inputs})
    rows = list(zip(*(res.series[s][seed_n:total].tolist() for s in inputs), strict=True))
    m = total - seed_n
    clock = time.thread_time_ns
    overhead = int(np.median([-(clock() - clock()) for _ in range(2000)]))
    out: dict[str, float] = {"n_handles": float(len(calls)), "n_bars": float(m),
                             "n_cdl_handles": float(sum(n.func.startswith("CDL") for n in calls))}
    if native.available():
        buf = (ctypes.c_double * len(names))()
        handles = [native.NativeHandle.open(n.func, [res.series[s][:seed_n] for s in n.inputs], n.params, n.n_out)
                   for n in calls]
        prog = native.Program([native.Instr(tuple(slot[s] for s in n.inputs), tuple(slot[s] for s in n.outputs),
                                            handle=h) for n, h in zip(calls, handles, strict=True)],
                              buf, (ctypes.c_double * 1)(), True)
        run, addr = prog.run, prog.address
        at = [slot[s] for s in inputs]
        t_native = np.empty(m, dtype=np.int64)
        for i in range(m):
            for k, x in zip(at, rows[i], strict=True):
                buf[k] = x
            t0 = clock()
            run(addr)
            t_native[i] = clock() - t0 - overhead
        out["cpu_p50_us"] = float(np.percentile(t_native, 50) / 1000)
        out["cpu_p99_us"] = float(np.percentile(t_native, 99) / 1000)
    ups, args, is_cdl = [], [], []
    for n in calls:
        ups.append(getattr(stream, n.func)(*(res.series[s][:seed_n] for s in n.inputs), *n.params).update)
        args.append(list(zip(*(res.series[s][seed_n:total].tolist() for s in n.inputs), strict=True)))
        is_cdl.append(n.func.startswith("CDL"))
    t_py = np.empty(m, dtype=np.int64)
    t_cdl = np.empty(m, dtype=np.int64)
    for i in range(m):
        t0 = clock()
        for u, a, c in zip(ups, args, is_cdl, strict=True):
            if c:
                u(*a[i])
        t1 = clock()
        for u, a, c in zip(ups, args, is_cdl, strict=True):
            if not c:
                u(*a[i])
        t2 = clock()
        t_cdl[i] = t1 - t0 - overhead
        t_py[i] = t2 - t0 - 2 * overhead
    out["py_cpu_p50_us"] = float(np.percentile(t_py, 50) / 1000)
    out["py_cdl_cpu_p50_us"] = float(np.percentile(t_cdl, 50) / 1000)
    out.setdefault("cpu_p50_us", out["py_cpu_p50_us"])
    out.setdefault("cpu_p99_us", float(np.percentile(t_py, 99) / 1000))
    out["native"] = float(native.available())
    return out


def main() -> None:
    """Run the benchmark and write bench/results/enrich.json."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candles", type=int, default=1_000_000, help="1m candles to enrich in batch")
    ap.add_argument("--data", choices=("auto", "mock", "gbm"), default="auto",
                    help="mock: the mock market (generated once, ~1-3 min, then cached in the temp dir); "
                         "gbm: a NumPy GBM; auto: mock when cached, else gbm")
    ap.add_argument("--updates", type=int, default=50_000, help="incremental updates to time")
    ap.add_argument("--naive", type=int, default=100, help="candles for the naive incremental baseline")
    ap.add_argument("--repeat", type=int, default=5, help="batch runs (best is kept)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    load_before = list(os.getloadavg())
    source = args.data
    if source == "auto":
        source = "mock" if (CACHE / f"mock_1m_seed42_{args.candles}.parquet").exists() else "gbm"
        if source == "gbm":
            print("no cached mock-market data: using a GBM (run once with --data mock to cache it)")
    bars = mock_bars(args.candles) if source == "mock" else gbm_bars(args.candles)
    n = bars.num_rows
    print(f"{n:,} 1m candles ({source}); load {time.perf_counter() - t_start:.1f}s", flush=True)
    b = bench_batch(bars, args.repeat)
    load_inc = _load()
    inc = bench_incremental(bars, args.updates, args.naive)
    inc["load_before"], inc["load_after"] = load_inc, _load()
    sfloor = bench_stream_floor(bars, max(required_warmup(None, "1m"), 5000), min(args.updates, 20_000))
    sfloor["load"] = _load()
    floor_name = f"bare TA-Lib calls for the same indicators ({int(b['n_floor_calls'])} calls, 1 thread)"
    what = ("enrich_table: default indicators + 61 candlesticks + chart patterns + context + levels + "
            "38 features + confidence, as an Arrow table")
    tuned = "allocator tuned (jonbu_core.enrich.memory.tune_allocator)"

    def ld(*keys: str, src: dict[str, float] = b) -> str:
        return "load " + "/".join(f"{src[k]:.2f}" for k in keys) + f" on {os.cpu_count()} cores"

    figures = [
        figure(f"batch full enrichment, {n:,} 1m candles, parallel wall (2 threads)", b["ours_parallel_ns"],
               "ns/candle", baseline=(floor_name, b["floor_ns"]), target=("<=", 1000.0), higher_is_better=False,
               note=f"{what}; TA-Lib calls and the swing stage on the thread pool; {tuned}; "
                    f"{ld('load_parallel')}"),
        figure("batch full enrichment vs floor, parallel wall", b["ours_parallel_ns"], "ns/candle",
               baseline=(floor_name, b["floor_ns"]), target=("x<=", 10.0), higher_is_better=False,
               note=f"wall of 2 threads against the 1-thread floor; {ld('load_parallel')}"),
        figure("batch full enrichment, 1 thread, wall", b["ours_serial_ns"], "ns/candle",
               baseline=(floor_name, b["floor_ns"]), target=("x<=", 10.0), higher_is_better=False,
               note=f"parallel=False; {tuned}; {ld('load_serial')}"),
        figure("batch full enrichment, 1 thread, CPU time", b["ours_serial_cpu_ns"], "ns/candle",
               baseline=("floor, CPU time", b["floor_cpu_ns"]), target=("x<=", 10.0), higher_is_better=False,
               note=f"process CPU time: robust to other load on the machine; {ld('load_serial')}"),
        figure("batch full enrichment, parallel, CPU time of all threads", b["ours_parallel_cpu_ns"], "ns/candle",
               baseline=("floor, CPU time", b["floor_cpu_ns"]), higher_is_better=False,
               note=f"{ld('load_parallel')}"),
        figure("batch full enrichment, default glibc allocator, parallel wall",
               b["default_alloc_parallel_wall_ns"], "ns/candle",
               baseline=("floor, default allocator", b["default_alloc_floor_ns"]), higher_is_better=False,
               note=f"first 1M run of the process, before tune_allocator (8 MB arrays mmap'd and faulted in "
                    f"again); CPU {b['default_alloc_parallel_cpu_ns']:,.0f} ns/candle; {ld('default_alloc_load')}"),
        figure("graph only: every TA-Lib call of the plan + element-wise ops, 1 thread", b["graph_ns"], "ns/candle",
               baseline=(floor_name, b["floor_ns"]), higher_is_better=False,
               note=f"{int(b['n_all_calls'])} TA-Lib calls (indicators, context inputs, 61 candlesticks, "
                    "feature min-max) and the ops; no pivots/levels/patterns/table"),
        figure("enrich_candles (EnrichedCandle objects, API path)", b["objects_us"], "µs/candle",
               higher_is_better=False, note=ld("load_after_batch")),
        figure("incremental update p50, wall", inc["p50_us"], "µs/candle",
               baseline=("naive: batch over the warm-up window per candle", inc["naive_p50_us"]),
               target=("<=", 20.0), higher_is_better=False, note=ld("load_before", "load_after", src=inc)),
        figure("incremental update p99, wall", inc["p99_us"], "µs/candle", target=("<=", 100.0),
               higher_is_better=False,
               note=f"{int(inc['n_updates']):,} updates, GC on (setup objects frozen with gc.freeze); "
                    f"{ld('load_before', 'load_after', src=inc)}"),
        figure("incremental update p50, thread CPU time", inc["cpu_p50_us"], "µs/candle", target=("<=", 20.0),
               baseline=(f"floor: the {int(sfloor['n_handles'])} bare TA-Lib streaming updates of one bar",
                         sfloor["cpu_p50_us"]), higher_is_better=False,
               note=f"per-update thread CPU time (robust to a busy machine); the floor advances the C handles "
                    f"in one C loop{'' if sfloor['native'] else ' (C helper not built: talib.stream handles)'}; "
                    f"through talib.stream's Python handles the same updates take {sfloor['py_cpu_p50_us']:.1f} µs "
                    f"({sfloor['py_cdl_cpu_p50_us']:.1f} µs of it the {int(sfloor['n_cdl_handles'])} candlestick "
                    f"handles); floor {ld('load', src=sfloor)}"),
        figure("incremental update p99, thread CPU time", inc["cpu_p99_us"], "µs/candle", target=("<=", 100.0),
               higher_is_better=False, note=ld("load_before", "load_after", src=inc)),
    ]
    path = write_result("enrich", figures, candles=n, data=source, incremental=inc, batch=b, stream_floor=sfloor,
                        seconds=time.perf_counter() - t_start, load_average=load_before,
                        load_average_after=list(os.getloadavg()),
                        note="the machine is shared: compare load_average with the core count")
    try:  # the chart bench/report.py draws for this bench, without re-rendering the others
        from bench.report import _chart

        _chart("enrich", figures)
    except Exception as exc:  # the chart is optional (matplotlib)
        print(f"no chart: {exc}")
    print(f"wrote {path} in {time.perf_counter() - t_start:.0f}s; load {load_before[0]:.2f} -> "
          f"{os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    main()
