"""Fixtures of the system tests: subprocesses that are always killed, a migrated Postgres + Redis env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.support import Procs


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Start ``jonbu-ohlcv`` subprocesses; every one still running is SIGKILLed afterwards."""
    logs = tmp_path / "logs"
    logs.mkdir()
    p = Procs(logs)
    try:
        yield p
    finally:
        p.kill_all()


@pytest.fixture
def stack_env(fresh_pg_url: str, redis_url: str, redis_prefix: str, data_dir: Path) -> dict[str, str]:
    """Settings of a production-like deployment: migrated Postgres store, Redis bus, auth off."""
    from jonbu_core.stores.migrate import migrate_up

    migrate_up(fresh_pg_url)
    data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "JONBU_STORE": "postgres",
        "JONBU_DATABASE_URL": fresh_pg_url,
        "JONBU_BUS": "redis",
        "JONBU_REDIS_URL": redis_url,
        "JONBU_REDIS_PREFIX": redis_prefix,
        "JONBU_AUTH": "off",
    }
