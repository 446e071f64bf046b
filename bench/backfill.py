"""Backfill throughput of raw_bars_1m through Dagster: partitions/s and bars/s with 1 and 2 workers.

A backfill of SYMBOLS × SESSIONS (10 × 20 by default) of the mock market is cut into runs the
way the asset's BackfillPolicy.multi_run(20) cuts it (one run per symbol: 20 sessions fetched
with one provider request), and the runs are executed by a pool of warm worker processes
(spawn), each run materializing ``raw_bars_1m`` and its checks in process into a fresh lake,
recording to one Dagster instance configured as in production (deploy/dagster/dagster.yaml,
PostgreSQL on a fresh database; SQLite if PostgreSQL is unreachable). Worker start-up (imports, loading the definitions) is
measured apart: Dagster's default run launcher pays it once per run, a warm pool once per worker.

Baseline, same run, same data: the bare ingest work (provider → ``store.replace_day``) of the
same partitions in one process, without Dagster.

    .venv/bin/python bench/backfill.py [--symbols 10] [--sessions 20]

Writes bench/results/backfill.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "UNH",
           "XOM", "JNJ", "WMT", "PG", "MA", "HD", "CVX", "KO", "PEP", "BAC",
           "ABBV", "COST", "MRK", "AVGO", "ADBE", "CRM", "NFLX", "AMD", "INTC", "ORCL"]

_STATE: dict[str, Any] = {}


def _sessions(n: int) -> list[date]:
    from jonbu_core.calendar import sessions

    return sessions(date(2024, 1, 2), date(2024, 12, 31))[:n]


def _worker_init(data_dir: str, instance_ref: Any) -> None:
    os.environ["JONBU_DATA_DIR"] = data_dir
    import warnings

    warnings.filterwarnings("ignore")
    import dagster as dg

    from jonbu_pipelines.defs.ingest.assets import raw_bars_1m
    from jonbu_pipelines.defs.quality.checks import raw_bars_1m_checks
    from jonbu_pipelines.resources import resources_from_settings

    res = resources_from_settings()
    _STATE.update(
        dg=dg,
        assets=[raw_bars_1m, raw_bars_1m_checks],
        resources={"store": res["store"], "provider": res["provider"]},
        instance=dg.DagsterInstance.from_ref(instance_ref),
    )


def _warm(_: int) -> float:
    time.sleep(0.2)  # every worker gets one
    return time.time()


def _run(chunk: tuple[str, str, int]) -> tuple[bool, int, float]:
    first, last, n = chunk
    t0 = time.perf_counter()
    result = _STATE["dg"].materialize(
        _STATE["assets"],
        resources=_STATE["resources"],
        instance=_STATE["instance"],
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last,
              "dagster/backfill": "bench"},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    return bool(result.success), n, time.perf_counter() - t0


def _count_bars(data_dir: Path) -> int:
    from deltalake import DeltaTable

    return int(DeltaTable(str(data_dir / "lake" / "bars")).to_pyarrow_dataset().count_rows())


def _baseline(data_dir: str, symbols: list[str], days: list[date]) -> float:
    """Bare ingest of the same partitions in this (fresh, spawned) process; returns seconds."""
    os.environ["JONBU_DATA_DIR"] = data_dir
    from jonbu_core.providers.factory import open_provider
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store
    from jonbu_pipelines.defs.ingest.fetch import fetch_days

    settings = load_settings()
    store, provider = open_store(settings), open_provider(settings)
    t0 = time.perf_counter()
    for sym in symbols:
        fetch_days(store, provider, sym, "1m", days, keep_bars=False)
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed


PG_ADMIN_URL = os.environ.get("JONBU_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def _instance(root: Path, kind: str = "postgres") -> Iterator[tuple[Any, str]]:
    """The production instance (deploy/dagster/dagster.yaml: PostgreSQL) on a fresh database.

    Falls back to SQLite (on tmpfs when there is one) if PostgreSQL is not reachable; SQLite
    serialises concurrent writers of the run log, so its 2-worker figure is lower.
    """
    import dagster as dg

    home = Path(tempfile.mkdtemp(prefix="jonbu-dagster-home-", dir=root))
    name = f"jonbu_bench_{uuid.uuid4().hex[:10]}"
    try:
        if kind != "postgres":
            raise RuntimeError("sqlite asked for")
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception:
        shm = Path("/dev/shm")
        sqlite_home = Path(tempfile.mkdtemp(prefix="jonbu-dagster-home-", dir=shm if shm.is_dir() else root))
        with dg.instance_for_test(temp_dir=str(sqlite_home)) as inst:
            yield inst, "sqlite"
        shutil.rmtree(sqlite_home, ignore_errors=True)
        return
    shutil.copy(ROOT / "deploy" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    os.environ["JONBU_DAGSTER_PG_URL"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        inst = dg.DagsterInstance.from_config(str(home))
        try:
            yield inst, "postgres"
        finally:
            inst.dispose()
    finally:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dagster(workers: int, root: Path, symbols: list[str], days: list[date], kind: str) -> dict[str, Any]:
    data_dir = root / f"workers{workers}"
    with _instance(root, kind) as (instance, storage):
        instance.add_dynamic_partitions("symbols", symbols)
        chunks = [(f"{days[0]}|{s}", f"{days[-1]}|{s}", len(days)) for s in symbols]
        ctx = multiprocessing.get_context("spawn")
        t_start = time.perf_counter()
        pool = ctx.Pool(workers, initializer=_worker_init, initargs=(str(data_dir), instance.get_ref()))
        try:
            pool.map(_warm, range(workers), chunksize=1)
            startup = time.perf_counter() - t_start
            t0 = time.perf_counter()
            outs = pool.map(_run, chunks, chunksize=1)
            elapsed = time.perf_counter() - t0
        finally:
            # close + join: terminate() would interrupt Dagster's handlers in the workers
            pool.close()
            pool.join()
        runs_ok = sum(ok for ok, _, _ in outs)
        bars = _count_bars(data_dir)
        run_secs = sorted(s for _, _, s in outs)
    partitions = len(symbols) * len(days)
    return {
        "workers": workers,
        "instance": storage,
        "runs": len(chunks),
        "runs_succeeded": runs_ok,
        "partitions": partitions,
        "bars": bars,
        "seconds": round(elapsed, 3),
        "partitions_per_s": round(partitions / elapsed, 2),
        "bars_per_s": round(bars / elapsed, 0),
        "run_seconds_median": round(run_secs[len(run_secs) // 2], 3),
        "worker_startup_seconds": round(startup, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10, help="symbols (max 30)")
    parser.add_argument("--sessions", type=int, default=20, help="sessions from 2024-01-02")
    parser.add_argument("--instance", choices=["postgres", "sqlite"], default="postgres",
                        help="Dagster instance storage (postgres as deployed; sqlite as `make dagster`)")
    args = parser.parse_args()
    symbols = SYMBOLS[: args.symbols]
    days = _sessions(args.sessions)
    root = Path(tempfile.mkdtemp(prefix="jonbu-bench-backfill-"))
    try:
        ctx = multiprocessing.get_context("spawn")
        pool = ctx.Pool(1)
        try:
            base_secs = pool.apply(_baseline, (str(root / "baseline"), symbols, days))
        finally:
            pool.close()
            pool.join()
        base_bars = _count_bars(root / "baseline")
        partitions = len(symbols) * len(days)
        baseline = {
            "what": "bare ingest (provider -> store.replace_day) of the same partitions, 1 process, no Dagster",
            "seconds": round(base_secs, 3),
            "partitions_per_s": round(partitions / base_secs, 2),
            "bars_per_s": round(base_bars / base_secs, 0),
            "bars": base_bars,
        }
        print(f"baseline (no Dagster): {baseline['partitions_per_s']} partitions/s, {baseline['bars_per_s']:.0f} bars/s")
        runs = []
        for workers in (1, 2):
            out = _dagster(workers, root, symbols, days, args.instance)
            runs.append(out)
            print(f"dagster, {workers} worker(s): {out['partitions_per_s']} partitions/s, "
                  f"{out['bars_per_s']:.0f} bars/s ({out['runs_succeeded']}/{out['runs']} runs ok, "
                  f"start-up {out['worker_startup_seconds']} s)")
        one, two = runs
        overhead_ms = 1000 * (1 / one["partitions_per_s"] - 1 / baseline["partitions_per_s"])
        targets = {
            "all_runs_succeed": all(r["runs_succeeded"] == r["runs"] for r in runs),
            "same_bars_as_baseline": all(r["bars"] == base_bars for r in runs),
            "dagster_overhead_at_most_250ms_per_partition": overhead_ms <= 250,
            "2_workers_at_least_1_3x_1_worker": two["partitions_per_s"] >= 1.3 * one["partitions_per_s"],
        }
        import sys

        sys.path.insert(0, str(ROOT))
        from bench._common import figure, write_result

        figures = [
            figure("backfill through Dagster, 1 worker", one["partitions_per_s"], "partitions/s",
                   baseline=("bare ingest, no Dagster", baseline["partitions_per_s"]),
                   note=f"{partitions} partitions ({len(symbols)} symbols x {len(days)} sessions), "
                        f"{one['runs']} runs of one symbol; worker start-up {one['worker_startup_seconds']} s apart"),
            figure("Dagster overhead per partition", overhead_ms, "ms", target=("<=", 250.0), higher_is_better=False,
                   note="1 / (1-worker partitions/s) - 1 / (bare partitions/s)"),
            figure("backfill through Dagster, 2 workers", two["partitions_per_s"], "partitions/s",
                   baseline=("1 worker", one["partitions_per_s"]), target=("x>=", 1.3),
                   note="2 cores: the ideal is 2x"),
            figure("bars stored per second, 2 workers", two["bars_per_s"], "bars/s",
                   baseline=("bare ingest", baseline["bars_per_s"])),
        ]
        write_result(
            "backfill", figures,
            size={"symbols": len(symbols), "sessions": len(days), "partitions": partitions,
                  "first_session": str(days[0]), "last_session": str(days[-1]),
                  "runs_of": "20 sessions of one symbol (BackfillPolicy.multi_run(20))"},
            baseline=baseline, dagster=runs, checks=targets, instance=args.instance,
            load_average=list(os.getloadavg()),
        )
        if not (targets["all_runs_succeed"] and targets["same_bars_as_baseline"]):
            print("backfill: runs failed or stored different bars than the baseline", file=sys.stderr)
            return 1
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
