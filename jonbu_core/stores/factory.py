"""Pick and open the configured :class:`~jonbu_core.stores.base.BarStore`.

``JONBU_STORE=lake`` (default) opens the Delta Lake tables under
``settings.lake_dir``; ``JONBU_STORE=postgres`` connects to
``JONBU_DATABASE_URL``.

Migrations: opening a Postgres store applies pending migrations
(``auto_migrate=True``, the default) under a PostgreSQL advisory lock, so several
processes starting at once are safe and ``make demo`` needs no extra step.
Reverting (``jonbu-ohlcv migrate down``) is always explicit. With
``auto_migrate=False`` a database whose schema is missing or behind fails with a
clear :class:`~jonbu_core.errors.StoreError` telling to run ``jonbu-ohlcv migrate up``.
"""

from __future__ import annotations

from jonbu_core.errors import ConfigError
from jonbu_core.settings import Settings
from jonbu_core.stores.base import BarStore


def open_store(settings: Settings, *, auto_migrate: bool = True) -> BarStore:
    """Open the store named by ``settings.store``.

    Parameters
    ----------
    settings : Settings
        Runtime settings (``store``, ``data_dir``, ``database_url``, ``exchange``).
    auto_migrate : bool
        Postgres only: apply pending migrations first (else fail if any is pending).

    Returns
    -------
    BarStore
        A :class:`~jonbu_core.stores.lake.LakeStore` or
        :class:`~jonbu_core.stores.postgres.PostgresStore`; call ``close()`` when done.

    Raises
    ------
    ConfigError
        For an unknown store or a missing database URL.
    StoreError
        When the database cannot be reached or its schema is missing.
    """
    if settings.store == "lake":
        from jonbu_core.stores.lake import LakeStore

        return LakeStore(settings.lake_dir, exchange=settings.exchange)
    if settings.store == "postgres":
        if not settings.database_url:
            raise ConfigError("JONBU_DATABASE_URL: required when JONBU_STORE=postgres")
        from jonbu_core.stores.postgres import PostgresStore

        return PostgresStore(settings.database_url, exchange=settings.exchange, auto_migrate=auto_migrate)
    raise ConfigError(f"JONBU_STORE: unknown store {settings.store!r}; expected lake or postgres")
