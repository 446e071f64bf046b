"""Configuration reload: re-read the settings that can change in a running process.

A running process cannot see changes to its own environment, so what an operator
edits is the env file (``.env`` in the working directory, or the file named by
``JONBU_ENV_FILE``; in Kubernetes a mounted ConfigMap). On ``SIGHUP`` or
``POST /api/v1/admin/reload`` the file is read again and the settings in
:data:`RELOADABLE` are applied without dropping a connection:

* ``JONBU_SYMBOLS``: the default tracked symbols (the stream also re-reads the
  symbol registry and subscribes to added symbols, unsubscribes removed ones);
* ``JONBU_RATE_LIMIT`` / ``JONBU_RATE_LIMIT_BACKEND``: new token buckets;
* ``JONBU_LOG_LEVEL``: the root logger's level.

For reloadable settings the file wins over the process environment (it is the
only source that can change). Any other variable whose value in the file differs
from the running value is reported in ``restart_required`` and left alone.
A bad value fails the whole reload with :class:`~jonbu_core.errors.ConfigError`
(one line naming the variable) and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from jonbu_core.errors import ConfigError
from jonbu_core.settings import Settings, env_file_path, env_var_name, load_settings

logger = logging.getLogger(__name__)

RELOADABLE: tuple[str, ...] = ("symbols", "rate_limit", "rate_limit_backend", "log_level")
"""Settings applied at run time; everything else needs a restart."""

_SECRET_FIELDS = frozenset({"alpaca_api_key_id", "alpaca_secret_key", "database_url"})


@dataclass(frozen=True)
class ReloadResult:
    """What a reload found and applied.

    Attributes
    ----------
    settings : Settings
        The settings now in effect (the old ones with the reloadable fields replaced).
    changed : dict
        Reloadable fields whose value changed: ``{field: (old, new)}``.
    restart_required : list of str
        Variables (``JONBU_…``) whose value in the env file differs from the running
        value but cannot change without a restart.
    env_file : str
        The file that was read (``""`` when there was none).
    """

    settings: Settings
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    restart_required: list[str] = field(default_factory=list)
    env_file: str = ""

    def public(self) -> dict[str, Any]:
        """A JSON-able summary (values of secret settings are never included)."""
        return {
            "changed": {k: {"old": _show(k, old), "new": _show(k, new)} for k, (old, new) in self.changed.items()},
            "restart_required": list(self.restart_required),
            "env_file": self.env_file,
        }


def _show(name: str, value: Any) -> Any:
    if name in _SECRET_FIELDS:
        return "***"
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _file_values(path: Path) -> dict[str, str]:
    """``JONBU_*`` (and ``APCA_*``) assignments of an env file (empty when it does not exist)."""
    if not path.is_file():
        return {}
    try:
        raw = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the env file ({exc})") from None
    return {k: v for k, v in raw.items() if v is not None and (k.startswith("JONBU_") or k.startswith("APCA_"))}


def _field_of(var: str) -> str | None:
    if var in ("APCA_API_KEY_ID", "JONBU_ALPACA_API_KEY_ID"):
        return "alpaca_api_key_id"
    if var in ("APCA_API_SECRET_KEY", "JONBU_ALPACA_SECRET_KEY"):
        return "alpaca_secret_key"
    if var.startswith("JONBU_"):
        name = var[len("JONBU_"):].lower()
        return name if name in Settings.model_fields else None
    return None


def _comparable(value: Any) -> Any:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def reload_settings(current: Settings, env_file: Path | str | None = None) -> ReloadResult:
    """Re-read the env file and apply its reloadable settings to ``current``.

    Parameters
    ----------
    current : Settings
        The settings the process runs with.
    env_file : Path or str, optional
        The file to read (default :func:`jonbu_core.settings.env_file_path`).

    Returns
    -------
    ReloadResult
        The new effective settings and what changed.

    Raises
    ------
    ConfigError
        When a value in the file is invalid (nothing is applied then).
    """
    path = Path(env_file) if env_file is not None else env_file_path()
    values = _file_values(path)
    fields: dict[str, str] = {}
    for var, value in values.items():
        name = _field_of(var)
        if name is not None:
            fields[name] = value
    # Validate every value of the file the way startup would (one clear line on error),
    # with the file winning over the frozen process environment.
    from_file = load_settings(_env_file=None, **fields) if fields else current
    changed: dict[str, tuple[Any, Any]] = {}
    for name in RELOADABLE:
        if name in fields:
            old, new = getattr(current, name), getattr(from_file, name)
            if old != new:
                changed[name] = (old, new)
    restart = sorted(
        env_var_name(name)
        for name in fields
        if name not in RELOADABLE and _comparable(getattr(from_file, name)) != _comparable(getattr(current, name))
    )
    effective = current.model_copy(update={k: new for k, (_, new) in changed.items()})
    if changed:
        logger.info("configuration reloaded from %s: %s", path,
                    ", ".join(f"{k}={_show(k, new)}" for k, (_, new) in changed.items()))
    else:
        logger.info("configuration reloaded from %s: nothing changed", path if path.is_file() else "(no env file)")
    if restart:
        logger.warning("configuration: %s changed in %s but need a restart to apply", ", ".join(restart), path)
    return ReloadResult(effective, changed, restart, str(path) if path.is_file() else "")


__all__ = ["RELOADABLE", "ReloadResult", "reload_settings"]
