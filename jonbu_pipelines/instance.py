"""dagster-postgres storage that accepts a plain ``postgresql://`` URL (``JONBU_DAGSTER_PG_URL``).

SQLAlchemy 2.1 maps ``postgresql://`` to the psycopg 3 driver, whose server-side parameter
binding breaks dagster-postgres (``NOTIFY run_events, $1`` is a syntax error), while
dagster-postgres is written for psycopg2. These subclasses pin the ``postgresql+psycopg2``
dialect and are otherwise the dagster-postgres storages; ``deploy/dagster/dagster.yaml`` names
them as ``custom`` storage. Every process of the deployment (webserver, daemon, run workers)
rebuilds the storages from the same config, so each sub-storage is subclassed too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import pg_url_from_config

_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+[a-z0-9_]+)?://", re.IGNORECASE)


def psycopg2_url(url: str) -> str:
    """``url`` with the ``postgresql+psycopg2://`` scheme (SQLAlchemy form)."""
    return _SCHEME.sub("postgresql+psycopg2://", url.strip(), count=1)


def _kwargs(inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "inst_data": inst_data,
        "postgres_url": psycopg2_url(pg_url_from_config(config_value)),
        "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
    }


class JonbuPostgresEventLogStorage(PostgresEventLogStorage):
    """``PostgresEventLogStorage`` on the psycopg2 dialect."""

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> Any:
        return cls(**_kwargs(inst_data, config_value))


class JonbuPostgresRunStorage(PostgresRunStorage):
    """``PostgresRunStorage`` on the psycopg2 dialect."""

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> Any:
        return cls(**_kwargs(inst_data, config_value))


class JonbuPostgresScheduleStorage(PostgresScheduleStorage):
    """``PostgresScheduleStorage`` on the psycopg2 dialect."""

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> Any:
        return cls(**_kwargs(inst_data, config_value))


class JonbuPostgresStorage(DagsterPostgresStorage):
    """Runs, events and schedules in PostgreSQL (dagster-postgres, psycopg2 dialect)."""

    def __init__(
        self, postgres_url: str, should_autocreate_tables: bool = True, inst_data: ConfigurableClassData | None = None
    ) -> None:
        # The parent's __init__ would build the three storages on the given URL first.
        url = psycopg2_url(postgres_url)
        self.postgres_url = url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = JonbuPostgresRunStorage(url, should_autocreate_tables)
        self._event_log_storage = JonbuPostgresEventLogStorage(url, should_autocreate_tables)
        self._schedule_storage = JonbuPostgresScheduleStorage(url, should_autocreate_tables)
        DagsterStorage.__init__(self)  # type: ignore[no-untyped-call,arg-type]

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> Any:
        return cls(**_kwargs(inst_data, config_value))

    def _data(self, name: str) -> ConfigurableClassData | None:
        if not self.inst_data:
            return None
        return ConfigurableClassData(__name__, name, self.inst_data.config_yaml)

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        return self._data("JonbuPostgresEventLogStorage")

    @property
    def run_storage_data(self) -> ConfigurableClassData | None:
        return self._data("JonbuPostgresRunStorage")

    @property
    def schedule_storage_data(self) -> ConfigurableClassData | None:
        return self._data("JonbuPostgresScheduleStorage")
