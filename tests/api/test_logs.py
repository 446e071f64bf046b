"""``GET /api/v1/logs``: the recent log records the dashboard's viewer shows."""

from __future__ import annotations

import logging
import uuid

from fastapi.testclient import TestClient

from jonbu_api.main import create_app
from jonbu_core.logging import RECENT_LOGS, setup_logging
from jonbu_core.settings import load_settings


def test_logs_route_returns_recent_records_filtered() -> None:
    setup_logging("INFO", "console", console_level="ERROR")
    marker = uuid.uuid4().hex
    logging.getLogger("jonbu.test").warning("disk almost full %s", marker)
    logging.getLogger("jonbu.test").info("routine %s", marker)
    with TestClient(create_app(load_settings(auth="off"))) as client:
        r = client.get("/api/v1/logs", params={"q": marker})
        assert r.status_code == 200
        messages = [x["message"] for x in r.json()["records"]]
        assert f"disk almost full {marker}" in messages and f"routine {marker}" in messages
        r = client.get("/api/v1/logs", params={"q": marker, "level": "WARNING"})
        assert [x["level"] for x in r.json()["records"]] == ["WARNING"]
        assert client.get("/api/v1/logs", params={"limit": 0}).status_code == 422
    assert RECENT_LOGS in logging.getLogger().handlers


def test_logs_route_needs_an_admin_key_when_auth_is_on() -> None:
    with TestClient(create_app(load_settings(auth="on"))) as client:
        r = client.get("/api/v1/logs")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
