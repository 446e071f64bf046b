"""Ingestion benchmark: bars/s from the mock market and from the fake Alpaca server into each store.

Data: ``--symbols`` symbols (5) × the 21 sessions of January 2024, 1m bars
(40,950 bars by default), fetched with :func:`jonbu_core.ingest.fetch` (resume check,
per-session ``replace_day``, validation and coverage included) into a fresh store.

Figures and their baselines, measured in the same run on the same rows:

* mock market generation: a month of 1m bars for every symbol from a fresh
  :class:`MockMarket` (the issue asks for "about a second"; target ≤ 1.5 s);
* mock → store, against generation + the store alone: the same bars generated,
  then written with ``write_bars`` in the batches fetch writes (20 sessions of one
  symbol) with no orchestration at all (target ≥ 0.7×: resume check, routing,
  validation, progress and the final coverage check cost at most ~40 %);
* fake Alpaca → store (the real alpaca-py client; the server runs in its own
  process, ``python -m tests.fakes.alpaca_rest``, pages of 10,000 bars), against
  the HTTP floor + the store alone: the same requests replayed with plain
  ``requests`` + ``json`` (no Arrow, no validation) plus the store's ``write_bars``
  time (target ≥ 0.6×).

Stores: ``lake`` in a temporary directory; ``postgres`` in a temporary database
created and dropped on ``JONBU_BENCH_PG_ADMIN_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``; skipped with a note if it is not
reachable). Each figure is the best of ``--repeat`` runs (3), each on a fresh store.
Run: ``.venv/bin/python bench/ingest.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import figure, write_result  # noqa: E402

from jonbu_core import calendar as cal  # noqa: E402
from jonbu_core.ingest import fetch  # noqa: E402
from jonbu_core.models import BAR_SCHEMA  # noqa: E402
from jonbu_core.providers.alpaca import AlpacaProvider  # noqa: E402
from jonbu_core.providers.mock import MockMarket, MockProvider  # noqa: E402
from jonbu_core.providers.ratelimit import RetryPolicy  # noqa: E402
from jonbu_core.settings import load_settings  # noqa: E402
from jonbu_core.stores.base import BarStore  # noqa: E402

PG_ADMIN = os.environ.get("JONBU_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START, END = date(2024, 1, 2), date(2024, 1, 31)
ALL_SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "XOM"]
KEY, SECRET = "bench-key", "bench-secret"
WINDOW = 20  # sessions per provider request and per store write (fetch's default)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@contextmanager
def lake_store() -> Iterator[BarStore]:
    from jonbu_core.stores.lake import LakeStore

    with tempfile.TemporaryDirectory(prefix="jonbu-bench-ingest-") as tmp:
        store = LakeStore(Path(tmp) / "lake")
        try:
            yield store
        finally:
            store.close()


@contextmanager
def pg_store() -> Iterator[BarStore]:
    import psycopg

    from jonbu_core.stores.postgres import PostgresStore

    name = f"jonbu_bench_ingest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        store = PostgresStore(url)
        try:
            yield store
        finally:
            store.close()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fake_server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.alpaca_rest", "--port", str(port), "--key", KEY, "--secret", SECRET,
         "--page-size", "10000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "fake Alpaca" not in line:
            raise RuntimeError(f"fake server did not start: {line!r}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def mock_bars(symbols: list[str]) -> dict[tuple[str, date], pa.Table]:
    """Pre-generated bars per (symbol, session): the store-floor input."""
    market = MockMarket()
    out = {}
    for sym in symbols:
        for day in cal.sessions(START, END):
            lo, hi = cal.day_bounds_utc(day)
            out[(sym, day)] = pa.Table.from_batches(list(market.bars(sym, "1m", lo, hi)), schema=BAR_SCHEMA)
    return out


def store_floor(open_store: Callable[[], Any], data: dict[tuple[str, date], pa.Table], window: int) -> float:
    """The store alone: ``write_bars`` of the same pre-generated rows, in the same batches fetch writes."""
    batches: list[pa.Table] = []
    for sym in dict.fromkeys(s for s, _ in data):
        days = [d for s, d in data if s == sym]
        for i in range(0, len(days), window):
            batches.append(pa.concat_tables([data[(sym, d)] for d in days[i : i + window]]))
    with open_store() as store:
        return timed(lambda: [store.write_bars(b) for b in batches])


def run_fetch(open_store: Callable[[], Any], provider: Any, symbols: list[str], expect: int) -> float:
    with open_store() as store:
        summary = None

        def go() -> None:
            nonlocal summary
            summary = fetch(store, provider, symbols, "1m", START, END)

        secs = timed(go)
        assert summary is not None and summary.rows_stored == expect and summary.gaps_left == 0, summary
        return secs


def http_floor(url: str, log: list[tuple[str, dict[str, str]]]) -> tuple[float, int]:
    """Replay the provider's requests with plain requests + json (no Arrow, no store)."""
    import requests

    session = requests.Session()
    headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
    rows = 0
    t0 = time.perf_counter()
    for path, params in log:
        body = session.get(url + "/v2" + path, params=params, headers=headers, timeout=30).json()
        rows += sum(len(v) for v in body["bars"].values())
    return time.perf_counter() - t0, rows


class Recording(AlpacaProvider):
    """An Alpaca provider that remembers the requests it sent (to replay them for the floor)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sent: list[tuple[str, dict[str, str]]] = []

    def _attempt(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((path, {k: str(getattr(v, "value", v)) for k, v in params.items() if v is not None}))
        return super()._attempt(path, params)


def alpaca(url: str, cls: type[AlpacaProvider] = AlpacaProvider) -> AlpacaProvider:
    return cls(KEY, SECRET, url=url, requests_per_minute=100_000, retry=RetryPolicy(base=0.05))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbols", type=int, default=5, help="number of symbols (1-10)")
    ap.add_argument("--no-postgres", action="store_true", help="skip the postgres store")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept (shared machine)")
    args = ap.parse_args()
    symbols = ALL_SYMBOLS[: max(1, min(args.symbols, len(ALL_SYMBOLS)))]
    n = len(symbols) * len(cal.sessions(START, END)) * 390
    settings = load_settings()
    figures: list[dict[str, Any]] = []
    notes: dict[str, Any] = {"bars": n, "symbols": symbols, "range": f"{START}..{END}", "window": WINDOW,
                             "repeat": args.repeat, "statistic": "best of repeat (each run on a fresh store)"}

    rep = max(1, args.repeat)
    lo, hi = cal.day_bounds_utc(START)[0], cal.day_bounds_utc(END)[1]

    def generate() -> float:
        return timed(lambda: [list(MockMarket().bars(s, "1m", lo, hi)) for s in symbols])

    data = mock_bars(symbols)
    stores: list[tuple[str, Callable[[], Any]]] = [("lake", lake_store)]
    if not args.no_postgres:
        try:
            with pg_store():
                pass
            stores.append(("postgres", pg_store))
        except Exception as exc:  # no server: say so in the results
            notes["postgres"] = f"skipped: {exc}"
            print(f"postgres skipped: {exc}", file=sys.stderr)

    # Baselines and measurements alternate within each repeat, so a burst of load
    # from other processes hits both sides; the best run of each is kept.
    times: dict[str, list[float]] = {}

    def keep(key: str, secs: float) -> None:
        times.setdefault(key, []).append(secs)

    with fake_server() as url:
        warm = alpaca(url, Recording)
        with lake_store() as store:  # warms the server's cache and records the requests
            fetch(store, warm, symbols, "1m", START, END)
        assert isinstance(warm, Recording)
        notes["alpaca_requests"] = len(warm.sent)
        for _ in range(rep):
            keep("gen", generate())
            http_s, http_rows = http_floor(url, warm.sent)
            assert http_rows == n, (http_rows, n)
            keep("http", http_s)
            for name, opener in stores:
                keep(f"{name}_floor", store_floor(opener, data, WINDOW))
                keep(f"{name}_mock", run_fetch(opener, MockProvider(settings), symbols, n))
                keep(f"{name}_fake", run_fetch(opener, alpaca(url), symbols, n))
    best = {k: min(v) for k, v in times.items()}
    notes["seconds"] = {k: [round(x, 4) for x in v] for k, v in times.items()}
    gen_s, http_s = best["gen"], best["http"]
    notes["http_download_bars_s"] = round(n / http_s)
    figures.append(figure(f"mock market: a month of 1m bars, {len(symbols)} symbols", gen_s, "s",
                          target=("<=", 1.5), higher_is_better=False, note=f"{n:,} bars, {n / gen_s:,.0f} bars/s"))
    for name, _ in stores:
        floor_s = best[f"{name}_floor"]
        notes[f"{name}_write_bars_floor_bars_s"] = round(n / floor_s)
        figures.append(figure(
            f"mock → {name}", n / best[f"{name}_mock"], "bars/s", target=("x>=", 0.7),
            baseline=(f"generate + {name} write_bars", n / (gen_s + floor_s)),
            note=f"store write alone {n / floor_s:,.0f} bars/s, generation alone {n / gen_s:,.0f} bars/s",
        ))
        figures.append(figure(
            f"fake Alpaca → {name}", n / best[f"{name}_fake"], "bars/s", target=("x>=", 0.6),
            baseline=(f"HTTP+JSON download + {name} write_bars", n / (http_s + floor_s)),
            note=f"{len(warm.sent)} requests of up to 10,000 bars; download alone {n / http_s:,.0f} bars/s",
        ))
    write_result("ingest", figures, **notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
