"""``jonbu-ohlcv fetch`` and ``jonbu-ohlcv mock`` end to end (mock market and fake Alpaca)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from jonbu_cli.main import main
from jonbu_core import calendar as cal
from jonbu_core.models import BAR_SCHEMA
from jonbu_core.providers.mock import MockMarket
from jonbu_core.settings import get_settings
from jonbu_core.stores.lake import LakeStore
from tests.fakes.alpaca_rest import DEFAULT_KEY, DEFAULT_SECRET, FakeAlpacaServer

ROOT = Path(__file__).resolve().parents[2]
JAN = ["--start", "2024-01-02", "--end", "2024-01-31"]


def run(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> tuple[str, str]:
    get_settings.cache_clear()
    assert main(list(args)) == code
    out = capsys.readouterr()
    return out.out, out.err


def lake_table(data_dir: Path, symbol: str, d0: date = date(2024, 1, 2), d1: date = date(2024, 1, 31)) -> pa.Table:
    store = LakeStore(data_dir / "lake")
    try:
        lo, _ = cal.day_bounds_utc(d0)
        _, hi = cal.day_bounds_utc(d1)
        return store.read_bars(symbol, "1m", lo, hi).table
    finally:
        store.close()


def market(symbol: str) -> pa.Table:
    lo, _ = cal.day_bounds_utc(date(2024, 1, 2))
    _, hi = cal.day_bounds_utc(date(2024, 1, 31))
    return pa.Table.from_batches(list(MockMarket().bars(symbol, "1m", lo, hi)), schema=BAR_SCHEMA)


@pytest.fixture
def fake_alpaca(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(page_size=2000) as server:
        monkeypatch.setenv("APCA_API_KEY_ID", DEFAULT_KEY)
        monkeypatch.setenv("APCA_API_SECRET_KEY", DEFAULT_SECRET)
        monkeypatch.setenv("JONBU_ALPACA_DATA_URL", server.url)
        monkeypatch.setenv("JONBU_ALPACA_BACKOFF_BASE", "0.01")
        yield server


def test_fetch_mock_month_then_again_is_identical(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    out, _ = run(capsys, "fetch", "AAPL,MSFT", "--timeframe", "1m", *JAN)
    assert "AAPL" in out and "21/21" in out and "16,380" in out
    first = {s: lake_table(data_dir, s) for s in ("AAPL", "MSFT")}
    for s in ("AAPL", "MSFT"):
        assert first[s].equals(market(s))
    out, _ = run(capsys, "fetch", "AAPL,MSFT", "--timeframe", "1m", *JAN, "--json")
    doc = json.loads(out)
    assert doc["totals"]["stored"] == 0 and doc["totals"]["gaps_left"] == 0
    assert [s["skipped_days"] for s in doc["symbols"]] == [21, 21]
    for s in ("AAPL", "MSFT"):
        assert lake_table(data_dir, s).equals(first[s])


def test_fetch_alpaca_stores_exactly_what_was_served_minus_quarantined(
    capsys: pytest.CaptureFixture[str], data_dir: Path, fake_alpaca: FakeAlpacaServer
) -> None:
    fake_alpaca.faults.malformed_every = 250
    fake_alpaca.faults.duplicate_every = 300
    fake_alpaca.faults.rate_limited = 1
    fake_alpaca.faults.retry_after = "0"
    fake_alpaca.faults.server_errors = 2
    out, _ = run(capsys, "fetch", "AAPL,MSFT", "--timeframe", "1m", *JAN, "--provider", "alpaca", "--json")
    doc = json.loads(out)
    served = sum(r.rows for r in fake_alpaca.log if r.status == 200)
    t = doc["totals"]
    assert doc["provider"] == "alpaca" and doc["source"] == "alpaca-iex"
    assert t["received"] == served and t["stored"] == served - t["quarantined"]
    assert t["quarantined"] > 0 and set(t["reasons"]) >= {"duplicate_key", "missing_value"}
    rows = {s: lake_table(data_dir, s) for s in ("AAPL", "MSFT")}
    assert sum(x.num_rows for x in rows.values()) == t["stored"]
    assert t["gaps_left"] == 2 * 21 * 390 - t["stored"]
    store = LakeStore(data_dir / "lake")
    assert store.read_quarantine(limit=100_000).num_rows == t["quarantined"]
    store.close()
    # the human summary reports the quarantine
    out, _ = run(capsys, "fetch", "AAPL,MSFT", "--timeframe", "1m", *JAN, "--provider", "alpaca")
    assert "quarantined" in out


def test_fetch_alpaca_bad_keys_fail_cleanly(
    capsys: pytest.CaptureFixture[str], data_dir: Path, fake_alpaca: FakeAlpacaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APCA_API_SECRET_KEY", "wrong")
    _, err = run(capsys, "fetch", "AAPL", *JAN, "--provider", "alpaca", code=1)
    assert err.startswith("error:") and "HTTP 401" in err and "Traceback" not in err
    assert lake_table(data_dir, "AAPL").num_rows == 0


def test_fetch_fill_gaps_and_bad_input(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    run(capsys, "fetch", "NVDA", "--start", "2024-01-02", "--end", "2024-01-05")
    from datetime import UTC, datetime

    store = LakeStore(data_dir / "lake")
    store.delete_bars("NVDA", "1m", datetime(2024, 1, 3, 16, tzinfo=UTC), datetime(2024, 1, 3, 16, 30, tzinfo=UTC))
    store.close()
    out, _ = run(capsys, "fetch", "NVDA", "--start", "2024-01-02", "--end", "2024-01-05", "--fill-gaps", "--json")
    doc = json.loads(out)
    assert doc["fill_gaps"] and doc["totals"]["stored"] == 30 and doc["totals"]["gaps_left"] == 0
    _, err = run(capsys, "fetch", "NVDA", "--timeframe", "1w", "--start", "2024-01-02", code=1)
    assert "weekly" in err
    _, err = run(capsys, "fetch", "NVDA", "--timeframe", "2m", "--start", "2024-01-02", code=1)
    assert "unknown timeframe" in err
    _, err = run(capsys, "fetch", "NVDA", code=1)
    assert "--start" in err
    _, err = run(capsys, "fetch", "NVDA", "--start", "2024-01-02", "--provider", "nope", code=1)
    assert "unknown provider" in err


def test_interrupted_fetch_then_rerun_is_complete_without_duplicates(
    capsys: pytest.CaptureFixture[str], data_dir: Path, fake_alpaca: FakeAlpacaServer
) -> None:
    fake_alpaca.faults.slow = 10_000
    fake_alpaca.faults.slow_seconds = 0.15
    args = [sys.executable, "-m", "jonbu_cli.main", "fetch", "AAPL,MSFT", *JAN, "--provider", "alpaca", "--window", "2"]
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        days = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if (data_dir / "lake" / "bars").exists():
                days = len(set(cal.exchange_date(t) for t in lake_table(data_dir, "AAPL").column("ts").to_pylist()))
                if days >= 4:
                    break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert 4 <= days < 21
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    partial = lake_table(data_dir, "AAPL").num_rows + lake_table(data_dir, "MSFT").num_rows
    assert 0 < partial < 2 * 21 * 390
    fake_alpaca.faults.slow = 0
    out, _ = run(capsys, "fetch", "AAPL,MSFT", *JAN, "--provider", "alpaca", "--json")
    doc = json.loads(out)
    assert doc["totals"]["gaps_left"] == 0 and doc["symbols"][0]["skipped_days"] >= 4
    for s in ("AAPL", "MSFT"):
        table = lake_table(data_dir, s)
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        assert len(np.unique(ts)) == len(ts) == 21 * 390
        cols = ["ts", "open", "high", "low", "close", "volume", "trade_count", "vwap"]
        assert table.select(cols).equals(market(s).select(cols))


def test_mock_test_and_speed(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    out, _ = run(capsys, "mock", "test", "--symbols", "AAPL", "--start", "2024-01-12", "--end", "2024-01-17", "--json")
    doc = json.loads(out)
    assert doc["ok"] and {c["name"] for c in doc["checks"]} >= {"deterministic", "OHLC invariants"}
    assert doc["params"][0]["symbol"] == "AAPL" and len(doc["sample"]) == 8
    out, _ = run(capsys, "mock", "test", "--start", "2024-01-12", "--end", "2024-01-17")
    assert "FAILED" not in out and "1m bars = aggregated trades" in out
    out, _ = run(capsys, "mock", "speed")
    assert "200 ticks/s" in out
    out, _ = run(capsys, "mock", "speed", "35.5")
    assert json.loads((data_dir / "mock.json").read_text())["speed"] == 35.5
    out, _ = run(capsys, "mock", "speed")
    assert "35.5 ticks/s" in out
    _, err = run(capsys, "mock", "speed", "0", code=1)
    assert "mock speed" in err
    _, err = run(capsys, "mock", "test", "--start", "2024-01-13", "--end", "2024-01-15", code=1)
    assert "no XNYS session" in err
