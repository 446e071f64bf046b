"""API keys in PostgreSQL (``JONBU_STORE=postgres``): the store, the factory, the app using it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from jonbu_api.auth import FileKeyStore, KeyExistsError, hash_key
from jonbu_api.keystore import PgKeyStore, open_key_store
from jonbu_core.errors import NotFoundError, StoreError
from jonbu_core.settings import load_settings


@pytest.fixture
def pg_keys(fresh_pg_url: str) -> Iterator[PgKeyStore]:
    ks = PgKeyStore(fresh_pg_url, refresh_seconds=0)
    yield ks
    ks.close()


def test_create_list_verify_revoke(pg_keys: PgKeyStore, fresh_pg_url: str) -> None:
    info, key = pg_keys.create("alice", "admin")
    assert key.startswith("jk_") and info.prefix == key[:8] and info.created_at.endswith("Z")
    assert pg_keys.verify(key) == info and pg_keys.verify(key + "x") is None and pg_keys.verify("") is None
    _, key_b = pg_keys.create("bob")
    with pytest.raises(KeyExistsError):
        pg_keys.create("bob", "admin")
    assert [k.name for k in pg_keys.list()] == ["alice", "bob"] and pg_keys.count_active() == 2
    revoked = pg_keys.revoke("bob")
    assert revoked.revoked_at is not None and not revoked.active
    assert pg_keys.verify(key_b) is None
    with pytest.raises(NotFoundError):
        pg_keys.revoke("bob")
    _, key_b2 = pg_keys.create("bob")  # the name is free again; the revoked key stays on record
    assert pg_keys.verify(key_b2) is not None
    assert [(k.name, k.active) for k in pg_keys.list(include_revoked=True)] == [
        ("alice", True), ("bob", False), ("bob", True)]
    with psycopg.connect(fresh_pg_url) as conn:  # only hashes are stored
        rows = conn.execute("SELECT name, scope, hash, prefix FROM api_keys").fetchall()
    stored = " ".join(str(v) for row in rows for v in row)
    assert all(k not in stored for k in (key, key_b, key_b2)) and hash_key(key) in stored


def test_replicas_share_keys(pg_keys: PgKeyStore, fresh_pg_url: str) -> None:
    other = PgKeyStore(fresh_pg_url, refresh_seconds=0)  # another API replica
    try:
        _, key = pg_keys.create("carol")
        assert other.verify(key) is not None
        other.revoke("carol")
        assert pg_keys.verify(key) is None
    finally:
        other.close()


def test_cached_keys_survive_a_database_outage(fresh_pg_url: str) -> None:
    ks = PgKeyStore(fresh_pg_url, refresh_seconds=0)
    _, key = ks.create("dave")
    assert ks.verify(key) is not None
    ks.close()  # every query now fails: the last copy answers
    assert ks.verify(key) is not None


def test_factory_chooses_by_store_setting(data_dir: Path, fresh_pg_url: str) -> None:
    assert isinstance(open_key_store(load_settings(data_dir=data_dir)), FileKeyStore)
    ks = open_key_store(load_settings(data_dir=data_dir, store="postgres", database_url=fresh_pg_url))
    try:
        assert isinstance(ks, PgKeyStore)
    finally:
        ks.close()  # type: ignore[attr-defined]
    no_url = load_settings(data_dir=data_dir).model_copy(update={"store": "postgres"})
    with pytest.raises(StoreError, match="JONBU_DATABASE_URL"):
        open_key_store(no_url)


def test_app_uses_postgres_keys(data_dir: Path, fresh_pg_url: str, store: Any, bus: Any) -> None:
    from jonbu_api.main import create_app

    settings = load_settings(data_dir=data_dir, store="postgres", database_url=fresh_pg_url, auth="on")
    ks = PgKeyStore(fresh_pg_url)
    try:
        _, admin = ks.create("boss", "admin")
    finally:
        ks.close()
    app = create_app(settings, store=store, bus=bus, frontend_dist=Path("/nonexistent"))
    with TestClient(app) as c:
        assert c.get("/api/v1/symbols").status_code == 401
        assert c.get("/api/v1/symbols", headers={"X-API-Key": admin}).status_code == 200
        r = c.post("/api/v1/admin/keys", json={"name": "reader"}, headers={"X-API-Key": admin})
        assert r.status_code == 201
        assert c.get("/api/v1/symbols", headers={"X-API-Key": r.json()["key"]}).status_code == 200
    assert not (data_dir / "api_keys.json").exists()
    ks = PgKeyStore(fresh_pg_url)
    try:
        assert [k.name for k in ks.list()] == ["boss", "reader"]
    finally:
        ks.close()
