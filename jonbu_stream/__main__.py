"""``python -m jonbu_stream``: the stream daemon alone (same as ``jonbu-ohlcv stream``)."""

from __future__ import annotations

from jonbu_core.logging import setup_logging
from jonbu_core.settings import get_settings
from jonbu_stream.daemon import run_daemon


def main() -> None:
    """Read settings from the environment and stream until SIGTERM/SIGINT."""
    settings = get_settings()
    setup_logging(settings.log_level, settings.log_format)
    run_daemon(settings)


if __name__ == "__main__":
    main()
