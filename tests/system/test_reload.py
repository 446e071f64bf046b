"""Configuration reload of running processes: SIGHUP to ``serve`` and ``stream``, the admin route of ``up``."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.system.support import Procs, WsClient, base_env, free_port, until, wait_healthy


@pytest.mark.timeout(120)
async def test_sighup_reloads_serve_without_dropping_websockets(procs: Procs, data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = tmp_path / "work"
    workdir.mkdir()
    env_file = workdir / "jonbu.env"
    env_file.write_text("JONBU_RATE_LIMIT=600/minute\n")
    api = procs.start("api", ["serve", "--port", str(port)],
                      base_env(data_dir, JONBU_AUTH="off", JONBU_ENV_FILE=str(env_file)), cwd=workdir)
    await wait_healthy(url, api)
    client = WsClient("c0", f"ws://127.0.0.1:{port}/ws")
    await client.connect(["AAPL"], ["1m"])
    try:
        env_file.write_text("JONBU_RATE_LIMIT=5/minute\nJONBU_LOG_LEVEL=DEBUG\n")
        api.send(signal.SIGHUP)
        async with httpx.AsyncClient(timeout=5) as http:
            await until(lambda: "configuration reload (SIGHUP)" in api.output(), 15, "the reload", procs)
            assert api.alive(), api.tail()
            health = (await http.get(f"{url}/api/v1/health")).json()
            assert "5/minute" in str(health), health
            codes = [(await http.get(f"{url}/api/v1/symbols")).status_code for _ in range(6)]
        assert codes[:5] == [200] * 5 and codes[5] == 429, codes
        assert not client.closed.is_set(), "the WebSocket client was dropped by the reload"
    finally:
        await client.close()


@pytest.mark.timeout(150)
async def test_up_reload_reaches_the_in_process_stream_and_metrics_include_it(procs: Procs, data_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    up = procs.start("up", ["up", "--no-dagster", "--history-days", "1", "--port", str(port), "--symbols", "AAPL",
                            "--rag-sessions", "0"], base_env(data_dir))
    await wait_healthy(url, up, timeout=100)
    client = WsClient("c0", f"ws://127.0.0.1:{port}/ws")
    await client.connect(["AAPL", "NVDA"], ["1m"])
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.post(f"{url}/api/v1/symbols", json={"symbols": ["NVDA"]})).status_code == 201
            r = await http.post(f"{url}/api/v1/admin/reload")
            assert r.status_code == 200, r.text
            assert r.json()["extra"]["stream"]["added"] == ["NVDA"], r.json()
            await until(lambda: "NVDA" in client.partial_symbols, 30, "live NVDA candles", procs)
            stats = (await http.get(f"{url}/api/v1/stream/stats")).json()
            metrics = (await http.get(f"{url}/metrics")).text
        assert "NVDA" in str(stats), stats
        # One /metrics for the whole process: the API's series and the in-process stream's.
        assert "jonbu_http_requests_total" in metrics and "jonbu_stream_trades_total" in metrics
    finally:
        await client.close()
    up.send(signal.SIGTERM)
    assert await up.await_exit(30) == 0, up.tail()


@pytest.mark.timeout(120)
async def test_sighup_to_stream_follows_the_registry(
    procs: Procs, stack_env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    from jonbu_core.settings import load_settings
    from jonbu_core.stores.factory import open_store

    env = base_env(data_dir, **stack_env, JONBU_LOG_LEVEL="DEBUG")  # the CLI shows INFO only at DEBUG
    st = open_store(load_settings(store="postgres", database_url=stack_env["JONBU_DATABASE_URL"]))
    st.add_symbols(["AAPL"])
    stream = procs.start("stream", ["stream"], env)
    await until(lambda: "SIGHUP reloads" in stream.output(), 60, "the daemon's signal handlers", procs)
    st.add_symbols(["MSFT"])
    st.close()
    stream.send(signal.SIGHUP)
    await until(lambda: "configuration reload (SIGHUP)" in stream.output(), 30, "the reload", procs)
    assert "'added': ['MSFT']" in stream.output(), stream.tail()
    assert stream.alive(), stream.tail()
    stream.send(signal.SIGTERM)
    assert await stream.await_exit(30) == 0, stream.tail()
