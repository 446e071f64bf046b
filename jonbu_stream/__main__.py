"""``python -m jonbu_stream``: the stream daemon alone (same as ``jonbu-ohlcv stream``)."""

from __future__ import annotations

import signal
from types import FrameType

# Installed before the heavy imports (NumPy, PyArrow, Polars… take seconds on a loaded
# machine): a SIGTERM/SIGINT during start-up is remembered and honoured as a graceful
# stop once the daemon runs, instead of killing the process with the default action.
_requested: list[int] = []


def _early(signum: int, frame: FrameType | None) -> None:
    _requested.append(signum)


signal.signal(signal.SIGTERM, _early)
signal.signal(signal.SIGINT, _early)


def main() -> None:
    """Read settings from the environment and stream until SIGTERM/SIGINT."""
    from jonbu_core.logging import setup_logging
    from jonbu_core.settings import get_settings
    from jonbu_stream.daemon import run_daemon

    settings = get_settings()
    setup_logging(settings.log_level, settings.log_format)
    run_daemon(settings, stop_requested=lambda: bool(_requested))


if __name__ == "__main__":
    main()
