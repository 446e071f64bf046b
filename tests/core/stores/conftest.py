"""The ``store`` fixture: every conformance test runs against both adapters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from jonbu_core.stores._template import StoreBase


@pytest.fixture(scope="session")
def migrated_pg_url(pg_url: str) -> str:
    """The session database with the schema migrated (tables emptied per test)."""
    from jonbu_core.stores.migrate import migrate_up

    migrate_up(pg_url)
    return pg_url


def _truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE bars, quarantine, symbols")


@pytest.fixture(params=["lake", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBase]:
    """A fresh, empty store of each kind."""
    s: StoreBase
    if request.param == "lake":
        from jonbu_core.stores.lake import LakeStore

        s = LakeStore(tmp_path / "lake")
    else:
        from jonbu_core.stores.postgres import PostgresStore

        url = request.getfixturevalue("migrated_pg_url")
        _truncate(url)
        s = PostgresStore(url)
    try:
        yield s
    finally:
        s.close()
