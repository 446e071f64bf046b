"""Fixtures of the provider and ingestion tests: the fake Alpaca server and a store of each kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jonbu_core.stores.base import BarStore
from tests.fakes.alpaca_rest import alpaca_server  # noqa: F401  (fixture)


@pytest.fixture(scope="session")
def ingest_pg_url(pg_url: str) -> str:
    """The session database, migrated."""
    from jonbu_core.stores.migrate import migrate_up

    migrate_up(pg_url)
    return pg_url


def open_test_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> BarStore:
    """An empty store of ``kind`` (``lake`` under tmp_path, ``postgres`` truncated)."""
    if kind == "lake":
        from jonbu_core.stores.lake import LakeStore

        return LakeStore(tmp_path / "lake")
    import psycopg

    from jonbu_core.stores.postgres import PostgresStore

    url = request.getfixturevalue("ingest_pg_url")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE bars, quarantine, symbols")
    return PostgresStore(url)


@pytest.fixture(params=["lake", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BarStore]:
    """A fresh, empty store of each kind."""
    store = open_test_store(request.param, tmp_path, request)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def lake_store(tmp_path: Path) -> Iterator[BarStore]:
    """A fresh lake store."""
    from jonbu_core.stores.lake import LakeStore

    store = LakeStore(tmp_path / "lake")
    try:
        yield store
    finally:
        store.close()
