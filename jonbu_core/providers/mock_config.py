"""Runtime settings of the mock market kept in ``$JONBU_DATA_DIR/mock.json``.

``jonbu-ohlcv mock speed N`` writes the live tick rate here; the live mock feed
reads it (and may re-read it while running). Without the file the rate is
``settings.mock_speed`` (``JONBU_MOCK_SPEED``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jonbu_core.errors import InvalidInputError

if TYPE_CHECKING:
    from jonbu_core.settings import Settings

logger = logging.getLogger(__name__)

MOCK_CONFIG_FILE = "mock.json"
MAX_SPEED = 1_000_000.0


def mock_config_path(settings: Settings) -> Path:
    """Where the mock configuration lives (``$JONBU_DATA_DIR/mock.json``)."""
    return Path(settings.data_dir) / MOCK_CONFIG_FILE


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _check_speed(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInputError(f"mock speed must be a number, got {value!r}")
    try:
        speed = float(value)
    except ValueError:
        raise InvalidInputError(f"mock speed must be a number, got {value!r}") from None
    if not math.isfinite(speed) or speed <= 0 or speed > MAX_SPEED:
        raise InvalidInputError(f"mock speed must be in (0, {MAX_SPEED:,.0f}] ticks per second, got {value!r}")
    return speed


def load_mock_speed(settings: Settings) -> float:
    """The live mock tick rate (ticks per second): the saved value, else ``settings.mock_speed``.

    A missing, unreadable or invalid file falls back to the setting (with a warning
    for a bad file), so a broken file never stops the stream.
    """
    data = _read(mock_config_path(settings))
    if "speed" in data:
        try:
            return _check_speed(data["speed"])
        except InvalidInputError as exc:
            logger.warning("ignoring %s: %s", mock_config_path(settings), exc.message)
    return float(settings.mock_speed)


def save_mock_speed(settings: Settings, n: float) -> float:
    """Persist the live mock tick rate ``n`` (ticks per second) atomically; returns it.

    Raises
    ------
    InvalidInputError
        If ``n`` is not a finite number in ``(0, 1e6]``.
    """
    speed = _check_speed(n)
    path = mock_config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _read(path)
    data["speed"] = speed
    fd, tmp = tempfile.mkstemp(prefix=".mock.", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return speed


__all__ = ["MOCK_CONFIG_FILE", "load_mock_speed", "mock_config_path", "save_mock_speed"]
