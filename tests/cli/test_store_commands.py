"""``symbols``, ``migrate`` and ``history`` commands against real stores."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from jonbu_cli.main import app, main
from jonbu_core.settings import get_settings
from tests.core.stores._data import session_bars

runner = CliRunner()
D1, D2 = date(2024, 1, 2), date(2024, 1, 3)


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def fail(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err, err
    # One message (Rich may wrap it at the console width when stderr is not a terminal).
    return " ".join(line.strip() for line in err.splitlines())


@pytest.fixture
def use_postgres(monkeypatch: pytest.MonkeyPatch, fresh_pg_url: str) -> str:
    monkeypatch.setenv("JONBU_STORE", "postgres")
    monkeypatch.setenv("JONBU_DATABASE_URL", fresh_pg_url)
    get_settings.cache_clear()
    return fresh_pg_url


def _seed_lake() -> None:
    from jonbu_core.stores.factory import open_store

    store = open_store(get_settings())
    try:
        store.write_bars(session_bars("AAPL", D1))
        store.write_bars(session_bars("AAPL", D2))
    finally:
        store.close()


# ------------------------------------------------------------------ symbols
def test_symbols_add_list_remove_on_the_lake(capsys: pytest.CaptureFixture[str]) -> None:
    out = json.loads(run("symbols", "add", "msft,aapl", "--json"))
    assert [s["symbol"] for s in out["symbols"]] == ["MSFT", "AAPL"]
    assert "AAPL" in run("symbols", "list")
    run("symbols", "remove", "aapl")
    listed = json.loads(run("symbols", "list", "--json"))["symbols"]
    assert [(s["symbol"], s["active"]) for s in listed] == [("AAPL", False), ("MSFT", True)]
    active = json.loads(run("symbols", "list", "--active-only", "--json"))["symbols"]
    assert [s["symbol"] for s in active] == ["MSFT"]
    assert "ZZZ is not tracked" in fail(capsys, "symbols", "remove", "ZZZ")
    assert "invalid symbol" in fail(capsys, "symbols", "add", "no way")


def test_symbols_on_postgres(use_postgres: str) -> None:
    run("symbols", "add", "NVDA")
    with psycopg.connect(use_postgres) as conn:
        assert conn.execute("SELECT symbol, active FROM symbols").fetchall() == [("NVDA", True)]


# ------------------------------------------------------------------ migrate
def test_migrate_up_status_down_up(fresh_pg_url: str) -> None:
    url = ["--database-url", fresh_pg_url]
    status = json.loads(run("migrate", "status", "--json", *url))["migrations"]
    assert status and not any(m["applied"] for m in status)
    assert "applied 0001_initial" in run("migrate", "up", *url)
    assert "up to date" in run("migrate", "up", *url)
    status = json.loads(run("migrate", "status", "--json", *url))["migrations"]
    assert all(m["applied"] and not m["changed"] for m in status)
    assert "applied" in run("migrate", "status", *url)
    newest = status[-1]
    assert f"reverted {newest['version']:04d}_{newest['name']}" in run("migrate", "down", *url)
    status = json.loads(run("migrate", "status", "--json", *url))["migrations"]
    assert status[-1]["applied"] is False
    run("migrate", "up", *url)
    with psycopg.connect(fresh_pg_url) as conn:
        assert conn.execute("SELECT to_regclass('bars') IS NOT NULL").fetchone() == (True,)


def test_migrate_needs_a_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert "JONBU_DATABASE_URL" in fail(capsys, "migrate", "status")


def test_migrate_reports_an_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    err = fail(capsys, "migrate", "up", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert "cannot connect" in err


# ------------------------------------------------------------------ history
def test_history_csv_of_1m_bars() -> None:
    _seed_lake()
    out = run("history", "aapl", "--start", "2024-01-02", "--end", "2024-01-02", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 390
    assert list(rows[0]) == ["ts", "open", "high", "low", "close", "volume", "trade_count", "vwap", "source"]
    want = session_bars("AAPL", D1)
    assert float(rows[0]["open"]) == want.column("open")[0].as_py()
    assert rows[0]["ts"].startswith("2024-01-02") and rows[0]["source"] == "mock"


def test_history_rolls_up_any_timeframe_to_json() -> None:
    _seed_lake()
    bars = json.loads(run("history", "AAPL", "--timeframe", "1h", "--start", "2024-01-02", "--format", "json"))
    assert len(bars) == 2 * 7  # 14:30-20:00 UTC touches seven hour buckets a day
    assert bars[0]["ts"] == "2024-01-02T14:00:00Z"
    want = session_bars("AAPL", D1)
    assert bars[0]["open"] == want.column("open")[0].as_py()
    assert bars[0]["volume"] == sum(want.slice(0, 30).column("volume").to_pylist())
    daily = json.loads(run("history", "AAPL", "--timeframe", "1d", "--start", "2024-01-01", "--format", "json"))
    assert [b["ts"] for b in daily] == ["2024-01-02T05:00:00Z", "2024-01-03T05:00:00Z"]


def test_history_limit_table_and_parquet(tmp_path: Path) -> None:
    _seed_lake()
    out = run("history", "AAPL", "--timeframe", "5m", "--start", "2024-01-02", "--limit", "3")
    assert "AAPL 5m" in out
    assert sum(1 for line in out.splitlines() if "mock" in line) == 3
    target = tmp_path / "out.parquet"
    run("history", "AAPL", "--start", "2024-01-02T15:00:00Z", "--end", "2024-01-02T16:00:00Z",
        "--format", "parquet", "--output", str(target))
    table = pq.read_table(target)
    assert table.num_rows == 60 and table.column_names[0] == "ts"


def test_history_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert "unknown timeframe" in fail(capsys, "history", "AAPL", "--timeframe", "7m", "--start", "2024-01-02")
    assert "invalid date" in fail(capsys, "history", "AAPL", "--start", "yesterday-ish")
    assert "must be before" in fail(capsys, "history", "AAPL", "--start", "2024-01-03", "--end", "2024-01-01")
    assert "unknown format" in fail(capsys, "history", "AAPL", "--start", "2024-01-02", "--format", "xml")


def test_history_on_postgres(use_postgres: str) -> None:
    _seed_lake()  # the factory opens the configured (postgres) store
    bars = json.loads(run("history", "AAPL", "--timeframe", "15m", "--start", "2024-01-03", "--format", "json"))
    assert len(bars) == 26
    assert bars[-1]["ts"] == "2024-01-03T20:45:00Z"
