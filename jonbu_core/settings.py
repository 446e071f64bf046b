"""Settings: one pydantic-settings class behind a cached :func:`get_settings`.

Every variable is read from the environment (prefix ``JONBU_``; Alpaca's own
``APCA_*`` names for credentials) and from the env file (``.env``, or the file
named by ``JONBU_ENV_FILE``; see :mod:`jonbu_core.reload` for changing some of
them in a running process). A bad value raises
:class:`~jonbu_core.errors.ConfigError` with one line naming the variable.
"""

from __future__ import annotations

import os
import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jonbu_core.errors import ConfigError

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

DEFAULT_SYMBOLS = "AAPL,MSFT,GOOGL,AMZN,NVDA"


class Settings(BaseSettings):
    """All runtime settings of jonbu-ohlcv (see CONTRACT.md, *Settings*)."""

    model_config = SettingsConfigDict(
        env_prefix="JONBU_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Path("./data")
    store: Literal["lake", "postgres"] = "lake"
    database_url: str | None = None
    provider: Literal["mock", "alpaca"] = "mock"
    alpaca_api_key_id: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("APCA_API_KEY_ID", "JONBU_ALPACA_API_KEY_ID")
    )
    alpaca_secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("APCA_API_SECRET_KEY", "JONBU_ALPACA_SECRET_KEY"),
    )
    alpaca_feed: Literal["iex", "sip"] = "iex"
    alpaca_data_url: str | None = None
    alpaca_stream_url: str | None = None
    alpaca_requests_per_minute: int = Field(default=200, gt=0)
    alpaca_adjustment: Literal["raw", "split", "dividend", "all"] = "raw"
    """Corporate-action adjustment of Alpaca bars (``JONBU_ALPACA_ADJUSTMENT``)."""
    alpaca_timeout_seconds: float = Field(default=30.0, gt=0)
    """Per-request timeout of the Alpaca REST client (``JONBU_ALPACA_TIMEOUT_SECONDS``)."""
    alpaca_max_retries: int = Field(default=6, ge=0, le=50)
    """Retries of a failed Alpaca request (429/5xx/timeouts) (``JONBU_ALPACA_MAX_RETRIES``)."""
    alpaca_backoff_base: float = Field(default=0.5, ge=0)
    """First retry backoff in seconds, doubled per retry (``JONBU_ALPACA_BACKOFF_BASE``)."""
    bus: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "jonbu"
    auth: Literal["on", "off"] | None = None
    rate_limit: str = "600/minute"
    rate_limit_backend: Literal["auto", "memory", "redis"] = "auto"
    """Where rate-limit buckets live (``JONBU_RATE_LIMIT_BACKEND``); ``auto``: Redis when ``bus=redis``."""
    symbols: str = DEFAULT_SYMBOLS
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"
    exchange: str = "XNYS"
    allowed_lateness_seconds: float = Field(default=5.0, ge=0)
    stream_feed: Literal["auto", "mock", "alpaca", "replay"] = "auto"
    """Live feed of the stream daemon (``JONBU_STREAM_FEED``); ``auto``: ``alpaca`` when
    ``JONBU_PROVIDER=alpaca``, else ``mock``."""
    stream_partial_interval: float = Field(default=0.05, ge=0)
    """Seconds between partial-bar updates per (symbol, timeframe) on the bus (0: every batch)."""
    stream_watchdog_seconds: float = Field(default=30.0, gt=0)
    """A connected feed silent this long during market hours is treated as dead."""
    stream_metrics_port: int = Field(default=0, ge=0, lt=65536)
    """Port of the stream daemon's own Prometheus endpoint (``jonbu-ohlcv stream``; 0: off)."""
    stream_busy_poll_seconds: float = Field(default=0.0, ge=0)
    """While trades flow, the stream daemon polls the network without sleeping, until
    this long after the last trade (0: off, the default). It keeps one core busy, and
    that core's caches warm: trade-to-bus latency about halves on hosts whose idle cores
    sleep deeply (virtual machines). For a host or pod dedicated to one daemon."""
    stream_max_gap_hours: float = Field(default=72.0, ge=0)
    """Longest gap the daemon backfills from REST after a reconnect or restart."""
    mock_seed: int = 42
    mock_speed: float = Field(default=200.0, gt=0)
    cors_origins: str = "*"
    api_port: int = Field(default=8000, gt=0, lt=65536)
    dagster_pg_url: str | None = None
    dagster_start: date = date(2024, 1, 2)
    """First session of the Dagster daily partitions (``JONBU_DAGSTER_START``)."""
    dagster_lookback_sessions: int = Field(default=20, gt=0, le=5000)
    """Sessions the new-symbol sensor backfills (``JONBU_DAGSTER_LOOKBACK_SESSIONS``)."""
    dagster_coverage_min: float = Field(default=0.95, ge=0.0, le=1.0)
    """Session coverage below which the raw-bar coverage check fails."""
    embedding_model: str | None = None
    embedding_device: Literal["cpu", "cuda", "auto"] = "auto"
    embedding_batch_size: int = Field(default=64, gt=0)

    @field_validator("rate_limit")
    @classmethod
    def _check_rate(cls, v: str) -> str:
        if not _RATE_RE.match(v):
            raise ValueError("expected N/second|minute|hour|day, e.g. 600/minute")
        return v.strip()

    @field_validator("symbols")
    @classmethod
    def _check_symbols(cls, v: str) -> str:
        from jonbu_core.models import parse_symbols

        return ",".join(parse_symbols(v))

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, v: str | None) -> str | None:
        if v is not None and v and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected a postgresql:// URL")
        return v or None

    # ----------------------------------------------------------------- derived
    @property
    def symbol_list(self) -> list[str]:
        """The default tracked symbols as a list."""
        return [s for s in self.symbols.split(",") if s]

    @property
    def rate_limit_parsed(self) -> tuple[int, int]:
        """``(requests, period_seconds)`` of :attr:`rate_limit`."""
        m = _RATE_RE.match(self.rate_limit)
        assert m is not None
        return int(m.group(1)), _PERIOD_SECONDS[m.group(2)]

    @property
    def lake_dir(self) -> Path:
        """Root of the Delta Lake tables."""
        return self.data_dir / "lake"

    @property
    def lancedb_dir(self) -> Path:
        """LanceDB database directory."""
        return self.data_dir / "lancedb"

    def auth_enabled(self, default: bool = True) -> bool:
        """Whether API keys are required (``JONBU_AUTH``; ``default`` when unset)."""
        if self.auth is None:
            return default
        return self.auth == "on"


def env_file_path() -> Path:
    """The env file settings are read from: ``$JONBU_ENV_FILE``, else ``.env`` in the working directory."""
    return Path(os.environ.get("JONBU_ENV_FILE") or ".env")


def env_var_name(field: str) -> str:
    """The environment variable of a settings field (``rate_limit`` → ``JONBU_RATE_LIMIT``)."""
    return _env_name((field,))


def _env_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    if field in {"APCA_API_KEY_ID", "APCA_API_SECRET_KEY"}:
        return field
    if field == "alpaca_api_key_id":
        return "APCA_API_KEY_ID"
    if field == "alpaca_secret_key":
        return "APCA_API_SECRET_KEY"
    return "JONBU_" + field.upper()


def load_settings(**overrides: object) -> Settings:
    """Build :class:`Settings` from the environment, failing with one clear line.

    Parameters
    ----------
    **overrides
        Values that win over the environment (used by tests and the CLI).

    Raises
    ------
    ConfigError
        When a variable has a bad value; the message names the variable.
    """
    overrides.setdefault("_env_file", env_file_path())
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err.get("msg", "invalid value")
        value = err.get("input")
        raise ConfigError(f"{_env_name(tuple(err['loc']))}: {msg} (got {value!r})") from None
    if settings.store == "postgres" and not settings.database_url:
        raise ConfigError("JONBU_DATABASE_URL: required when JONBU_STORE=postgres")
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` to re-read)."""
    return load_settings()
