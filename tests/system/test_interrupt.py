"""Stopping long work: SIGTERM/SIGINT during a backfill keeps only complete sessions and resumes;
SIGINT (Ctrl-C) stops ``up`` as cleanly as SIGTERM."""

from __future__ import annotations

import signal
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.system.support import Procs, WsClient, base_env, free_port, until, wait_healthy

START, END = "2024-01-02", "2024-03-28"  # 61 sessions


def _stored_days(data_dir: Path, symbols: list[str]) -> dict[str, dict[date, int]]:
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store

    st = open_store(load_settings(data_dir=data_dir))
    try:
        return {s: st.stored_days(s, "1m", date(2024, 1, 2), date(2024, 3, 28)) for s in symbols}
    finally:
        st.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_during_fetch_keeps_whole_sessions_and_a_rerun_completes(
    procs: Procs, data_dir: Path, sig: int
) -> None:
    symbols = ["AAPL", "MSFT", "NVDA"]
    env = base_env(data_dir)
    args = ["fetch", ",".join(symbols), "--start", START, "--end", END, "--window", "1"]
    first = procs.start("fetch", args, env)
    # Wait until some sessions are committed (one Delta commit per session with --window 1), then stop it.
    log = data_dir / "lake" / "bars" / "_delta_log"
    await until(lambda: log.is_dir() and len(list(log.glob("*.json"))) >= 5, 90, "stored sessions", procs)
    first.send(sig)
    rc = await first.await_exit(20)
    assert rc == 130, first.tail()
    assert "interrupted after" in first.output() and "run the same command again" in first.output(), first.tail()
    kept = _stored_days(data_dir, symbols)
    n_kept = sum(len(d) for d in kept.values())
    assert 0 < n_kept < 3 * 61, (n_kept, first.tail())
    assert all(n == 390 for days in kept.values() for n in days.values()), kept  # no half-written session
    # The same command again fetches only the rest and ends with every session, once.
    second = procs.start("fetch2", [*args, "--json"], env)
    assert await second.await_exit(150) == 0, second.tail()
    import json

    summary = json.loads(second.output()[second.output().index("{"):])
    skipped = sum(s["skipped_days"] for s in summary["symbols"])
    assert skipped == n_kept, (skipped, n_kept)
    final = _stored_days(data_dir, symbols)
    assert all(len(d) == 61 and set(d.values()) == {390} for d in final.values()), final


@pytest.mark.timeout(180)
async def test_up_stopped_during_its_backfill_resumes_on_the_next_start(procs: Procs, data_dir: Path) -> None:
    port = free_port()
    env = base_env(data_dir)
    args = ["up", "--no-dagster", "--history-days", "400", "--port", str(port), "--symbols", "AAPL,MSFT,NVDA",
            "--rag-sessions", "0"]
    up = procs.start("up", args, env)
    log = data_dir / "lake" / "bars" / "_delta_log"
    await until(lambda: "Backfilling" in up.output() and log.is_dir() and len(list(log.glob("*.json"))) >= 2,
                 90, "the backfill to store something", procs)
    up.send(signal.SIGTERM)
    rc = await up.await_exit(20)
    assert rc == 0, up.tail()
    assert "backfill interrupted" in up.output() and "stopped cleanly" in up.output(), up.tail()
    # Second start: backfills only what is missing, then serves; Ctrl-C stops it with 0.
    up2 = procs.start("up2", args, env)
    await wait_healthy(f"http://127.0.0.1:{port}", up2, timeout=150)
    client = WsClient("c0", f"ws://127.0.0.1:{port}/ws")
    await client.connect(["AAPL"], ["1m"])
    try:
        await until(lambda: client.partials > 0, 30, "live candles", procs)
        up2.send(signal.SIGINT)
        code = await client.wait_closed(15)
        rc2 = await up2.await_exit(30)
    finally:
        await client.close()
    assert rc2 == 0, up2.tail()
    assert code == 1001, (code, up2.tail())
    assert "stopped cleanly" in up2.output(), up2.tail()
    async with httpx.AsyncClient(timeout=5) as http:  # the server is gone
        with pytest.raises(httpx.TransportError):
            await http.get(f"http://127.0.0.1:{port}/api/v1/health")
