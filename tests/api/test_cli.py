"""``keys``, ``serve``, ``health`` and ``metrics`` commands (a real uvicorn on loopback)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jonbu_cli.main import main


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers() -> Iterator[None]:
    """``main()`` sets up logging on pytest's captured stderr; detach it afterwards."""
    yield
    import logging

    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_jonbu", False):
            root.removeHandler(h)


def test_keys_commands(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    assert main(["keys", "create", "alice", "--scope", "admin", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    key = created["key"]
    assert created["scope"] == "admin" and key.startswith("jk_")
    assert key not in (data_dir / "api_keys.json").read_text()
    assert main(["keys", "create", "bob"]) == 0
    out = capsys.readouterr().out
    assert "Created key bob (scope read)" in out and "jk_" in out
    assert main(["keys", "create", "bob"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["keys", "list", "--json"]) == 0
    assert [k["name"] for k in json.loads(capsys.readouterr().out)["keys"]] == ["alice", "bob"]
    assert main(["keys", "revoke", "bob"]) == 0
    assert main(["keys", "revoke", "bob"]) == 1
    assert "no active API key" in capsys.readouterr().err
    assert main(["keys", "create", "x", "--scope", "root"]) == 1
    assert main(["keys", "list"]) == 0
    assert "alice" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``jonbu-ohlcv serve`` in a subprocess (auth on by default), stopped with SIGINT afterwards."""
    port = _free_port()
    # JONBU_AUTH unset: `serve` requires keys by default
    env = {**os.environ, "JONBU_DATA_DIR": str(data_dir), "JONBU_LOG_FORMAT": "json"}
    env.pop("JONBU_AUTH", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jonbu_cli.main", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"serve did not start: {out[-2000:]}")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_serve_health_metrics(server: tuple[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    url, proc = server
    assert httpx.get(url + "/api/v1/symbols", timeout=5).status_code == 401
    assert main(["keys", "create", "ops", "--json"]) == 0
    key = json.loads(capsys.readouterr().out)["key"]
    r = httpx.get(url + "/api/v1/symbols", headers={"X-API-Key": key}, timeout=5)
    assert r.status_code == 200 and r.json() == {"symbols": []}
    assert r.headers["x-request-id"]
    from websockets.sync.client import connect

    with connect(url.replace("http", "ws") + f"/ws?api_key={key}", proxy=None, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe", "symbols": ["AAPL"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
    assert main(["health", "--url", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "ok" and doc["components"]["auth"]["enabled"] is True
    assert main(["health", "--url", url]) == 0
    assert "store" in capsys.readouterr().out
    assert main(["metrics", "--url", url, "--filter", "jonbu_http_requests_total"]) == 0
    assert 'route="/api/v1/symbols"' in capsys.readouterr().out
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    log = proc.stdout.read().decode()
    access = [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"jonbu_api.access"' in line]
    assert any(a["route"] == "/api/v1/symbols" and a["status"] == 200 and a.get("request_id") for a in access)
    assert key not in log
    assert "api_key=***" in log  # uvicorn's "WebSocket /ws?api_key=…" line, redacted


def test_health_command_without_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--url", f"http://127.0.0.1:{_free_port()}", "--timeout", "2"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_ws_urls_with_keys_are_redacted_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from jonbu_api.middleware import install_log_redaction

    install_log_redaction()
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/ws?api_key=jk_SECRET123&x=1"
        )
    assert "jk_SECRET123" not in caplog.text
    assert "api_key=***&x=1" in caplog.text


def test_serve_shutdown_closes_websockets_with_1001(
    server: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM: the hub says "going away" (1001) before uvicorn closes what is left (1012)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url, proc = server
    assert main(["keys", "create", "ws", "--json"]) == 0
    key = json.loads(capsys.readouterr().out)["key"]
    with connect(url.replace("http", "ws") + f"/ws?api_key={key}", proxy=None, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe", "symbols": ["AAPL"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as exc:
            while True:
                ws.recv(timeout=15)
    assert exc.value.rcvd is not None and exc.value.rcvd.code == 1001
    assert proc.wait(timeout=20) == 0


def test_keys_commands_with_postgres(
    capsys: pytest.CaptureFixture[str], data_dir: Path, fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With JONBU_STORE=postgres the CLI manages the keys in the database, not the file."""
    monkeypatch.setenv("JONBU_STORE", "postgres")
    monkeypatch.setenv("JONBU_DATABASE_URL", fresh_pg_url)
    assert main(["keys", "create", "alice", "--scope", "admin", "--json"]) == 0
    key = json.loads(capsys.readouterr().out)["key"]
    assert main(["keys", "create", "alice"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["keys", "list", "--json"]) == 0
    assert [k["name"] for k in json.loads(capsys.readouterr().out)["keys"]] == ["alice"]
    assert not (data_dir / "api_keys.json").exists()
    from jonbu_api.keystore import PgKeyStore

    ks = PgKeyStore(fresh_pg_url)
    try:
        info = ks.verify(key)
        assert info is not None and info.scope == "admin"
    finally:
        ks.close()
    assert main(["keys", "revoke", "alice"]) == 0
    assert main(["keys", "revoke", "alice"]) == 1
    assert "no active API key" in capsys.readouterr().err
