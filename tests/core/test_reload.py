"""Configuration reload: the env file is read again; only run-time-safe settings change."""

from __future__ import annotations

from pathlib import Path

import pytest

from jonbu_core.errors import ConfigError
from jonbu_core.reload import reload_settings
from jonbu_core.settings import load_settings


def test_reload_applies_reloadable_settings_and_reports_the_rest(tmp_path: Path) -> None:
    current = load_settings()
    env = tmp_path / ".env"
    env.write_text(
        "JONBU_RATE_LIMIT=5/second\nJONBU_LOG_LEVEL=DEBUG\nJONBU_SYMBOLS=aapl, tsla\n"
        "JONBU_STORE=postgres\nJONBU_DATABASE_URL=postgresql://u:secret@h/db\nOTHER=1\n"
    )
    result = reload_settings(current, env)
    assert result.changed == {
        "rate_limit": ("600/minute", "5/second"),
        "log_level": ("INFO", "DEBUG"),
        "symbols": (current.symbols, "AAPL,TSLA"),
    }
    assert result.settings.rate_limit_parsed == (5, 1)
    assert result.settings.symbol_list == ["AAPL", "TSLA"]
    assert result.settings.store == current.store  # needs a restart: not applied
    assert result.restart_required == ["JONBU_DATABASE_URL", "JONBU_STORE"]
    public = result.public()
    assert "secret" not in repr(public)
    assert public["changed"]["rate_limit"] == {"old": "600/minute", "new": "5/second"}
    # A second reload of the same file changes nothing more.
    again = reload_settings(result.settings, env)
    assert again.changed == {}
    assert again.settings == result.settings


def test_reload_reads_jonbu_env_file_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "conf" / "jonbu.env"
    env.parent.mkdir()
    env.write_text("JONBU_RATE_LIMIT=7/minute\n")
    monkeypatch.setenv("JONBU_ENV_FILE", str(env))
    current = load_settings()
    assert current.rate_limit == "7/minute"  # startup reads the same file
    env.write_text("JONBU_RATE_LIMIT=8/minute\n")
    result = reload_settings(current)
    assert result.env_file == str(env)
    assert result.settings.rate_limit == "8/minute"


def test_a_bad_value_fails_the_whole_reload_with_the_variable_named(tmp_path: Path) -> None:
    current = load_settings()
    env = tmp_path / ".env"
    env.write_text("JONBU_LOG_LEVEL=DEBUG\nJONBU_RATE_LIMIT=lots\n")
    with pytest.raises(ConfigError, match="JONBU_RATE_LIMIT"):
        reload_settings(current, env)


def test_without_an_env_file_nothing_changes(tmp_path: Path) -> None:
    current = load_settings()
    result = reload_settings(current, tmp_path / "missing.env")
    assert result.changed == {} and result.restart_required == [] and result.env_file == ""
    assert result.settings == current
