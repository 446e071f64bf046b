"""The dashboard build served at ``/`` with an SPA fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def test_serves_dashboard_with_spa_fallback(settings: Any, store: Any, bus: Any, tmp_path: Path) -> None:
    from jonbu_api.main import create_app

    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>jonbu</title>")
    (dist / "assets" / "app-abc123.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("nope")
    app = create_app(settings, store=store, bus=bus, auth_default=True, frontend_dist=dist)
    with TestClient(app) as c:
        root = c.get("/")
        assert root.status_code == 200 and "<title>jonbu</title>" in root.text
        assert "default-src 'self'" in root.headers["content-security-policy"]
        assert root.headers["cache-control"] == "no-cache"
        asset = c.get("/assets/app-abc123.js")
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        assert c.get("/charts/AAPL").text == root.text  # client-side route
        assert c.get("/missing.png").status_code == 404
        assert c.get("/..%2Fsecret.txt").status_code == 404
        assert "nope" not in c.get("/assets/..%2F..%2Fsecret.txt").text
        r = c.get("/api/v1/nothing")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert c.get("/api/v1/symbols").status_code == 401  # the API keeps its auth
        assert c.get("/openapi.json").status_code == 200


def test_no_dashboard_build(settings: Any, store: Any, bus: Any, tmp_path: Path) -> None:
    from jonbu_api.main import create_app

    app = create_app(settings, store=store, bus=bus, frontend_dist=tmp_path / "none")
    with TestClient(app) as c:
        r = c.get("/")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
