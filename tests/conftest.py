"""Shared fixtures: isolated settings and data dirs, a fresh PostgreSQL database, Redis.

Everything runs against the real services on 127.0.0.1 (PostgreSQL on 5432 with
trust auth, Redis on 6379). Each test session gets its own database, dropped at
the end, and each Redis user gets its own key prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PG_ADMIN_URL = os.environ.get("JONBU_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("JONBU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts from default settings with its own data dir."""
    for key in list(os.environ):
        if (key.startswith("JONBU_") and not key.startswith("JONBU_TEST_")) or key.startswith("APCA_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("JONBU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    from jonbu_core.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The test's ``JONBU_DATA_DIR``."""
    return tmp_path / "data"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session (dropped afterwards)."""
    import psycopg

    name = f"jonbu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """URL of a database of its own for one test (dropped afterwards)."""
    import psycopg

    name = f"jonbu_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    """Redis URL for tests (database 15)."""
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix; keys under it are deleted afterwards."""
    import redis

    prefix = f"jonbu-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
