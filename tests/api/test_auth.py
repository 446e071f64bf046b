"""API keys, scopes and rate limits."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jonbu_api.auth import FileKeyStore, KeyExistsError, hash_key, key_file
from jonbu_api.ratelimit import MemoryRateLimiter, RedisRateLimiter
from jonbu_core.errors import InvalidInputError, NotFoundError

PUBLIC = {("get", "/api/v1/health"), ("get", "/metrics")}
ADMIN_PREFIXES = ("/api/v1/admin", "/api/v1/console", "/api/v1/logs")
ADMIN_OPS = {("post", "/api/v1/symbols"), ("delete", "/api/v1/symbols/{symbol}")}

_SAMPLE = {"symbol": "AAPL", "name": "nobody"}
_BODIES: dict[tuple[str, str], Any] = {
    ("post", "/api/v1/symbols"): {"symbols": ["IBM"]},
    ("post", "/api/v1/console"): {"command": "help"},
    ("post", "/api/v1/admin/keys"): {"name": "x1"},
}


def _operations(app: Any) -> list[tuple[str, str]]:
    spec = app.openapi()
    return [(m, p) for p, ops in spec["paths"].items() for m in ops]


def _call(c: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    url = path.replace("{symbol}", "AAPL").replace("{name}", "nobody")
    params = {"q": "x"} if "rag" in path else None
    return c.request(method.upper(), url, headers=headers, json=_BODIES.get((method, path)), params=params)


def test_every_non_public_route_needs_a_key(auth_client: TestClient) -> None:
    ops = _operations(auth_client.app)
    assert len(ops) >= 17
    for method, path in ops:
        if (method, path) in PUBLIC:
            assert _call(auth_client, method, path, {}).status_code in (200, 503)
            continue
        for headers in ({}, {"X-API-Key": "jk_wrong"}, {"Authorization": "Bearer nope"}):
            r = _call(auth_client, method, path, headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")


def test_admin_routes_reject_read_keys(auth_client: TestClient, keys: dict[str, str]) -> None:
    read = {"X-API-Key": keys["read"]}
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    for method, path in _operations(auth_client.app):
        if (method, path) in PUBLIC:
            continue
        needs_admin = path.startswith(ADMIN_PREFIXES) or (method, path) in ADMIN_OPS
        r = _call(auth_client, method, path, read)
        if needs_admin:
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"]["code"] == "forbidden"
        else:
            assert r.status_code not in (401, 403), (method, path, r.text)
        r = _call(auth_client, method, path, admin)
        assert r.status_code not in (401, 403), (method, path, r.text)


def test_revoked_key_stops_working(auth_client: TestClient, keys: dict[str, str], settings: Any) -> None:
    h = {"X-API-Key": keys["read"]}
    assert auth_client.get("/api/v1/symbols", headers=h).status_code == 200
    FileKeyStore(key_file(settings.data_dir)).revoke("reader")
    assert auth_client.get("/api/v1/symbols", headers=h).status_code == 401


def test_key_created_over_the_api_works(auth_client: TestClient, keys: dict[str, str]) -> None:
    r = auth_client.post("/api/v1/admin/keys", json={"name": "svc", "scope": "read"},
                         headers={"X-API-Key": keys["admin"]})
    assert r.status_code == 201
    assert auth_client.get("/api/v1/symbols", headers={"X-API-Key": r.json()["key"]}).status_code == 200


def test_key_store_keeps_only_hashes(tmp_path: Path) -> None:
    ks = FileKeyStore(tmp_path / "keys.json")
    info, key = ks.create("alice", "admin")
    raw = (tmp_path / "keys.json").read_text()
    assert key not in raw and hash_key(key) in raw
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert ks.verify(key) == info and info.allows("admin") and info.allows("read")
    assert ks.verify(key + "x") is None and ks.verify("") is None
    other = FileKeyStore(tmp_path / "keys.json")  # another process's view
    assert other.verify(key) is not None
    with pytest.raises(KeyExistsError):
        ks.create("alice")
    with pytest.raises(InvalidInputError):
        ks.create("bad name!")
    with pytest.raises(InvalidInputError):
        ks.create("bob", "root")  # type: ignore[arg-type]
    ks.revoke("alice")
    assert other.verify(key) is None
    with pytest.raises(NotFoundError):
        ks.revoke("alice")
    _, key2 = ks.create("alice", "read")
    assert ks.verify(key2) is not None and not ks.verify(key2).allows("admin")  # type: ignore[union-attr]
    doc = json.loads((tmp_path / "keys.json").read_text())
    assert [k["name"] for k in doc["keys"]] == ["alice", "alice"]


def test_auth_off_allows_everything_but_keeps_buckets(client: TestClient) -> None:
    assert client.post("/api/v1/console", json={"command": "help"}).status_code == 200
    assert client.get("/api/v1/symbols", headers={"X-API-Key": "jk_garbage"}).status_code == 200


# ------------------------------------------------------------------ rate limits
def test_rate_limit_n_plus_one_gets_429(make_client: Any, keys: dict[str, str]) -> None:
    from jonbu_core.settings import load_settings

    s = load_settings(rate_limit="5/minute")
    with make_client(settings=s, auth_default=True) as c:
        h = {"X-API-Key": keys["read"]}
        for _ in range(5):
            assert c.get("/api/v1/symbols", headers=h).status_code == 200
        r = c.get("/api/v1/symbols", headers=h)
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 12
        # another key has its own bucket; health and metrics are never limited
        assert c.get("/api/v1/symbols", headers={"X-API-Key": keys["admin"]}).status_code == 200
        assert c.get("/api/v1/health").status_code == 200
        assert "jonbu_rate_limited_total 1.0" in c.get("/metrics").text


def test_rate_limit_by_address_without_key(make_client: Any) -> None:
    from jonbu_core.settings import load_settings

    with make_client(settings=load_settings(rate_limit="3/hour"), auth_default=False) as c:
        codes = [c.get("/api/v1/symbols").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]


def test_memory_bucket_refills() -> None:
    rl = MemoryRateLimiter(2, 1.0)
    assert rl.hit_sync("k", now=0.0) is None
    assert rl.hit_sync("k", now=0.0) is None
    retry = rl.hit_sync("k", now=0.0)
    assert retry == pytest.approx(0.5)
    assert rl.hit_sync("k", now=0.6) is None
    assert rl.hit_sync("other", now=0.6) is None


async def test_redis_bucket_is_shared(redis_url: str, redis_prefix: str) -> None:
    a = RedisRateLimiter(redis_url, 3, 60.0, prefix=redis_prefix)
    b = RedisRateLimiter(redis_url, 3, 60.0, prefix=redis_prefix)
    try:
        results = [await a.hit("key:x"), await b.hit("key:x"), await a.hit("key:x"), await b.hit("key:x")]
        assert results[:3] == [None, None, None]
        assert results[3] is not None and 0 < results[3] <= 20.0
        assert await a.hit("key:y") is None
    finally:
        await a.close()
        await b.close()


async def test_redis_limiter_falls_back_to_memory() -> None:
    rl = RedisRateLimiter("redis://127.0.0.1:1/0", 1, 60.0)
    try:
        assert await rl.hit("k") is None
        assert await rl.hit("k") is not None
    finally:
        await rl.close()


def test_redis_backend_chosen_by_settings(redis_url: str) -> None:
    from jonbu_api.ratelimit import open_rate_limiter
    from jonbu_core.settings import load_settings

    assert open_rate_limiter(load_settings()).name == "memory"
    assert open_rate_limiter(load_settings(rate_limit_backend="redis", redis_url=redis_url)).name == "redis"
    assert open_rate_limiter(load_settings(bus="redis", redis_url=redis_url)).name == "redis"
