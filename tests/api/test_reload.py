"""``POST /api/v1/admin/reload``: new rate limits and log level, connections kept, admin only."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from jonbu_core.bus.memory import MemoryBus
from tests.api.test_ws import ev, publish, recv


def _hdr(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_reload_needs_an_admin_key(auth_client: TestClient, keys: dict[str, str]) -> None:
    assert auth_client.post("/api/v1/admin/reload").status_code == 401
    r = auth_client.post("/api/v1/admin/reload", headers=_hdr(keys["read"]))
    assert r.status_code == 403 and r.json()["error"]["code"]


def test_reload_applies_rate_limit_and_log_level_without_dropping_websockets(
    auth_client: TestClient, keys: dict[str, str], bus: MemoryBus, tmp_path: Path
) -> None:
    admin = _hdr(keys["admin"])
    root = logging.getLogger()
    level_before = root.level
    try:
        with auth_client.websocket_connect(f"/ws?api_key={keys['read']}") as ws:
            ws.send_json({"action": "subscribe", "symbols": ["AAPL"], "timeframes": ["1m"]})
            assert recv(ws)["type"] == "subscribed"
            # The env file is read from the working directory (the test's tmp dir).
            (tmp_path / ".env").write_text("JONBU_RATE_LIMIT=3/minute\nJONBU_LOG_LEVEL=WARNING\nJONBU_BUS=redis\n")
            r = auth_client.post("/api/v1/admin/reload", headers=admin)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            assert body["changed"]["rate_limit"] == {"old": "600/minute", "new": "3/minute"}
            assert body["changed"]["log_level"]["new"] == "WARNING"
            assert body["restart_required"] == ["JONBU_BUS"]
            assert root.level == logging.WARNING
            # The WebSocket opened before the reload still gets updates.
            publish(auth_client, bus, ev(close=1.7))
            assert recv(ws)["candle"]["close"] == 1.7
        health = auth_client.get("/api/v1/health").json()
        assert "3/minute" in str(health)
        # Fresh buckets of 3 per minute: the 4th request of the read key is limited.
        statuses = [auth_client.get("/api/v1/symbols", headers=_hdr(keys["read"])).status_code for _ in range(4)]
        assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    finally:
        root.setLevel(level_before)


def test_a_bad_env_file_answers_422_and_changes_nothing(
    auth_client: TestClient, keys: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("JONBU_RATE_LIMIT=1/minute\nJONBU_LOG_LEVEL=LOUD\n")
    r = auth_client.post("/api/v1/admin/reload", headers=_hdr(keys["admin"]))
    assert r.status_code == 422
    assert "JONBU_LOG_LEVEL" in r.json()["error"]["message"]
    statuses = {auth_client.get("/api/v1/symbols", headers=_hdr(keys["read"])).status_code for _ in range(3)}
    assert statuses == {200}


def test_reload_calls_the_embedding_process_hook(make_client: Any, tmp_path: Path) -> None:
    seen: list[Any] = []

    async def hook(result: Any) -> dict[str, Any]:
        seen.append(result)
        return {"symbols": result.settings.symbol_list}

    (tmp_path / ".env").write_text("JONBU_SYMBOLS=AAPL,TSLA\n")
    with make_client(auth_default=False, on_reload=hook) as c:
        r = c.post("/api/v1/admin/reload")
    assert r.status_code == 200, r.text
    assert r.json()["extra"] == {"symbols": ["AAPL", "TSLA"]}
    assert len(seen) == 1 and seen[0].changed["symbols"][1] == "AAPL,TSLA"
