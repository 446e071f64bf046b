"""Settings: defaults, environment, one-line errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from jonbu_core.errors import ConfigError
from jonbu_core.settings import get_settings, load_settings


def test_defaults(data_dir: Path) -> None:
    s = load_settings()
    assert s.store == "lake" and s.provider == "mock" and s.bus == "memory"
    assert s.lake_dir == data_dir / "lake"
    assert s.symbol_list == ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA"]
    assert s.rate_limit_parsed == (600, 60)
    assert s.auth_enabled() is True and s.auth_enabled(default=False) is False


def test_environment_and_alpaca_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JONBU_STORE", "postgres")
    monkeypatch.setenv("JONBU_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("JONBU_SYMBOLS", "aapl, msft,AAPL")
    monkeypatch.setenv("APCA_API_KEY_ID", "key")
    monkeypatch.setenv("JONBU_AUTH", "off")
    monkeypatch.setenv("JONBU_RATE_LIMIT", "5/second")
    get_settings.cache_clear()
    s = get_settings()
    assert s.store == "postgres" and s.database_url == "postgresql://u@h/db"
    assert s.symbol_list == ["AAPL", "MSFT"]
    assert s.alpaca_api_key_id is not None and s.alpaca_api_key_id.get_secret_value() == "key"
    assert s.auth_enabled() is False and s.rate_limit_parsed == (5, 1)


@pytest.mark.parametrize(
    "var,value",
    [
        ("JONBU_STORE", "sqlite"),
        ("JONBU_RATE_LIMIT", "lots"),
        ("JONBU_SYMBOLS", "AAPL,not valid"),
        ("JONBU_DATABASE_URL", "mysql://x"),
        ("JONBU_API_PORT", "70000"),
        ("JONBU_ALPACA_FEED", "otc"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.message
    assert message.startswith(f"{var}:") and "\n" not in message


def test_postgres_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JONBU_STORE", "postgres")
    with pytest.raises(ConfigError, match="JONBU_DATABASE_URL"):
        load_settings()
