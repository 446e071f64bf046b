"""Versioned SQL migrations for the PostgreSQL store.

Files live in :mod:`jonbu_core.stores.migrations` as ``NNNN_name.up.sql`` and
``NNNN_name.down.sql`` (the down file is optional: without it a migration cannot
be reverted). Applied versions are recorded in ``schema_migrations`` with a
checksum of the up file. Every run holds a PostgreSQL advisory lock, so processes
starting together apply each migration once; each migration runs in its own
transaction together with its bookkeeping row.

* :func:`migrate_up` — apply every pending migration (idempotent);
* :func:`migrate_down` — revert the newest applied migration(s);
* :func:`migration_status` — what is applied, what is pending, what changed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg

from jonbu_core.errors import StoreError

logger = logging.getLogger(__name__)

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$")
#: Arbitrary constant key of the advisory lock taken while migrating.
LOCK_KEY = 0x6A6F6E6275  # "jonbu"

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One versioned migration."""

    version: int
    name: str
    up_sql: str
    down_sql: str | None

    @property
    def checksum(self) -> str:
        """SHA-256 of the up file (detects edited migrations)."""
        return hashlib.sha256(self.up_sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationStatus:
    """State of one migration in a database."""

    version: int
    name: str
    applied_at: datetime | None
    changed: bool = False
    """The up file differs from what was applied."""

    @property
    def applied(self) -> bool:
        """Whether the migration is applied."""
        return self.applied_at is not None


def discover() -> list[Migration]:
    """The migrations shipped in :mod:`jonbu_core.stores.migrations`, by version.

    Raises
    ------
    StoreError
        On two migrations with the same version or a down file without up file.
    """
    ups: dict[int, tuple[str, str]] = {}
    downs: dict[int, str] = {}
    root = resources.files("jonbu_core.stores.migrations")
    for entry in root.iterdir():
        m = _FILE_RE.match(entry.name)
        if not m:
            continue
        version, name, kind = int(m.group(1)), m.group(2), m.group(3)
        text = entry.read_text(encoding="utf-8")
        target = ups if kind == "up" else downs
        if version in target:
            raise StoreError(f"two {kind} migrations with version {version:04d}")
        if kind == "up":
            ups[version] = (name, text)
        else:
            downs[version] = text
    orphans = set(downs) - set(ups)
    if orphans:
        raise StoreError(f"down migrations without up file: {sorted(orphans)}")
    return [Migration(v, ups[v][0], ups[v][1], downs.get(v)) for v in sorted(ups)]


def _connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {str(exc).strip().splitlines()[0]}") from exc


def _applied(conn: psycopg.Connection[tuple[Any, ...]]) -> dict[int, tuple[str, datetime]]:
    rows = conn.execute("SELECT version, checksum, applied_at FROM schema_migrations").fetchall()
    return {int(v): (str(c), a) for v, c, a in rows}


def _locked(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    conn.execute(_BOOTSTRAP)


def migration_status(url: str) -> list[MigrationStatus]:
    """Every known migration with when it was applied (``None`` = pending)."""
    with _connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        applied = _applied(conn) if exists and exists[0] else {}
    out = []
    for m in discover():
        got = applied.get(m.version)
        out.append(MigrationStatus(m.version, m.name, got[1] if got else None, bool(got and got[0] != m.checksum)))
    return out


def pending_migrations(url: str) -> list[Migration]:
    """Migrations not applied yet."""
    done = {s.version for s in migration_status(url) if s.applied}
    return [m for m in discover() if m.version not in done]


def migrate_up(url: str, target: int | None = None) -> list[Migration]:
    """Apply pending migrations (up to ``target`` if given); returns those applied.

    Idempotent: a second run applies nothing.
    """
    done: list[Migration] = []
    with _connect(url) as conn:
        _locked(conn)
        try:
            applied = _applied(conn)
            for m in discover():
                if m.version in applied or (target is not None and m.version > target):
                    continue
                with conn.transaction():
                    conn.execute(m.up_sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                logger.info("applied migration %04d_%s", m.version, m.name)
                done.append(m)
        except psycopg.Error as exc:
            raise StoreError(f"migration failed: {str(exc).strip().splitlines()[0]}") from exc
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return done


def migrate_down(url: str, steps: int = 1) -> list[Migration]:
    """Revert the newest ``steps`` applied migrations; returns those reverted.

    Raises
    ------
    StoreError
        If a migration to revert has no down file.
    """
    known = {m.version: m for m in discover()}
    done: list[Migration] = []
    with _connect(url) as conn:
        _locked(conn)
        try:
            for version in sorted(_applied(conn), reverse=True)[:steps]:
                m = known.get(version)
                if m is None or m.down_sql is None:
                    raise StoreError(f"migration {version:04d} cannot be reverted (no down file)")
                with conn.transaction():
                    conn.execute(m.down_sql.encode())
                    conn.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))
                logger.info("reverted migration %04d_%s", m.version, m.name)
                done.append(m)
        except psycopg.Error as exc:
            raise StoreError(f"migration failed: {str(exc).strip().splitlines()[0]}") from exc
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return done
