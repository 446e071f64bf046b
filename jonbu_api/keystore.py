"""Where API keys are kept: :func:`open_key_store` chooses, :class:`PgKeyStore` is the shared one.

* ``JONBU_STORE=lake`` (default): :class:`~jonbu_api.auth.FileKeyStore`,
  ``$JONBU_DATA_DIR/api_keys.json`` — fine for one server.
* ``JONBU_STORE=postgres``: :class:`PgKeyStore`, the ``api_keys`` table of
  ``JONBU_DATABASE_URL`` (migration ``0002_api_keys``), shared by every API replica
  and by ``jonbu-ohlcv keys``.

Both store only the SHA-256 hash of a key (:func:`~jonbu_api.auth.hash_key`).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from jonbu_api.auth import (
    KEY_PREFIX,
    FileKeyStore,
    KeyExistsError,
    KeyInfo,
    KeyStore,
    Scope,
    hash_key,
    key_file,
    validate_name,
    validate_scope,
)
from jonbu_core.errors import NotFoundError, StoreError
from jonbu_core.settings import Settings

logger = logging.getLogger(__name__)

_COLUMNS = "name, scope, hash, prefix, created_at, revoked_at"


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _info(row: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        name=row["name"], scope=validate_scope(row["scope"]), hash=row["hash"], prefix=row["prefix"],
        created_at=_iso(row["created_at"]) or "", revoked_at=_iso(row["revoked_at"]),
    )


class PgKeyStore:
    """:class:`~jonbu_api.auth.KeyStore` in PostgreSQL (table ``api_keys``).

    :meth:`verify` runs on every request, so it answers from an in-memory copy of the
    active keys, re-read at most every ``refresh_seconds``: a key created or revoked
    through another replica (or the CLI) takes effect here within that delay; through
    this instance, at once. When the database is unreachable the last copy is kept.

    Parameters
    ----------
    url : str
        ``postgresql://`` URL.
    auto_migrate : bool
        Apply pending migrations first (idempotent, under the migrations' advisory lock).
    refresh_seconds : float
        Maximum age of the cached active keys.
    """

    name = "postgres"

    def __init__(self, url: str, *, auto_migrate: bool = True, refresh_seconds: float = 2.0) -> None:
        if auto_migrate:
            from jonbu_core.stores.migrate import migrate_up

            migrate_up(url)
        self.refresh_seconds = refresh_seconds
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url, min_size=1, max_size=4, open=False, timeout=10,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 10},
        )
        try:
            self._pool.open(wait=True, timeout=10)
        except Exception as exc:
            self._pool.close()
            raise StoreError(f"cannot connect to PostgreSQL for API keys: {exc}") from exc
        self._lock = threading.Lock()
        self._by_hash: dict[str, KeyInfo] = {}
        self._loaded_at = -float("inf")
        self._warned_at = -float("inf")

    # ------------------------------------------------------------- helpers
    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        try:
            with self._pool.connection() as conn:
                cur = conn.execute(sql.encode(), params)
                return cur.fetchall() if cur.description else []
        except psycopg.errors.UniqueViolation:
            raise
        except psycopg.Error as exc:
            raise StoreError(f"API key store: {str(exc).strip().splitlines()[0]}") from exc

    def _reload(self) -> None:
        rows = self._query(f"SELECT {_COLUMNS} FROM api_keys WHERE revoked_at IS NULL")
        with self._lock:
            self._by_hash = {r["hash"]: _info(r) for r in rows}
            self._loaded_at = time.monotonic()

    def _fresh(self) -> dict[str, KeyInfo]:
        if time.monotonic() - self._loaded_at > self.refresh_seconds:
            try:
                self._reload()
            except StoreError as exc:
                now = time.monotonic()
                if now - self._warned_at > 60:
                    self._warned_at = now
                    logger.warning("%s; using the API keys read last", exc)
                self._loaded_at = now  # retry after refresh_seconds, not on every request
        return self._by_hash

    # ---------------------------------------------------------- operations
    def create(self, name: str, scope: Scope = "read") -> tuple[KeyInfo, str]:
        """Create a key called ``name`` with ``scope``; the key is returned once."""
        name = validate_name(name)
        scope = validate_scope(scope)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        try:
            rows = self._query(
                f"INSERT INTO api_keys (name, scope, hash, prefix) VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
                (name, scope, hash_key(key), key[:8]),
            )
        except psycopg.errors.UniqueViolation:
            raise KeyExistsError(f"a key called {name!r} exists; revoke it first") from None
        info = _info(rows[0])
        with self._lock:
            self._by_hash = {**self._by_hash, info.hash: info}
        logger.info("created API key %s (scope %s)", name, scope)
        return info, key

    def list(self, include_revoked: bool = False) -> list[KeyInfo]:
        """Every key (active only unless ``include_revoked``), sorted by name."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._query(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY name, created_at")
        return [_info(r) for r in rows]

    def revoke(self, name: str) -> KeyInfo:
        """Revoke the active key called ``name``.

        Raises
        ------
        NotFoundError
            If there is no active key with that name.
        """
        rows = self._query(
            f"UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL RETURNING {_COLUMNS}",
            (name,),
        )
        if not rows:
            raise NotFoundError(f"no active API key called {name!r}")
        info = _info(rows[0])
        with self._lock:
            self._by_hash = {h: e for h, e in self._by_hash.items() if h != info.hash}
        logger.info("revoked API key %s", name)
        return info

    def verify(self, key: str) -> KeyInfo | None:
        """The active entry of ``key``, or ``None`` (looked up by hash in the cached copy)."""
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 128:
            return None
        return self._fresh().get(hash_key(key))

    def count_active(self) -> int:
        """Number of active keys."""
        rows = self._query("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL")
        return int(rows[0]["n"])

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()


def open_key_store(settings: Settings) -> KeyStore:
    """The key store of these settings (the one place that chooses; see the module docstring).

    Raises
    ------
    StoreError
        ``JONBU_STORE=postgres`` without ``JONBU_DATABASE_URL``, or the database is unreachable.
    """
    if settings.store == "postgres":
        if not settings.database_url:
            raise StoreError("JONBU_STORE=postgres needs JONBU_DATABASE_URL (API keys are kept there)")
        return PgKeyStore(settings.database_url)
    return FileKeyStore(key_file(settings.data_dir))


def close_key_store(keys: KeyStore) -> None:
    """Close a key store that holds connections (a no-op for the file store)."""
    close = getattr(keys, "close", None)
    if callable(close):
        close()
