"""Structured logging set-up (JSON lines or a readable console format)."""

from __future__ import annotations

import collections
import contextvars
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

#: Request id of the current request/task (set by the API's middleware).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SECRET_KEYS = ("api_key", "secret", "password", "authorization", "token")


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id_var.get()
        if rid is not None:
            record.request_id = rid
        for key in list(record.__dict__):
            if any(s in key.lower() for s in _SECRET_KEYS):
                record.__dict__[key] = "***"
        return True


class RingBufferHandler(logging.Handler):
    """Keeps the last ``capacity`` log records of this process (for the dashboard's log viewer)."""

    def __init__(self, capacity: int = 2000) -> None:
        super().__init__(level=logging.INFO)
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)
        self._lock_rb = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Store a JSON-able summary of ``record``."""
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not break logging
            msg = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            msg = f"{msg} ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": msg,
            "request_id": getattr(record, "request_id", None),
        }
        with self._lock_rb:
            self.records.append(entry)

    def tail(self, limit: int = 300, level: str | None = None, contains: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` records (oldest first), filtered by minimum level and text."""
        floor = logging.getLevelName(level.upper()) if level else 0
        floor = floor if isinstance(floor, int) else 0
        text = contains.lower() if contains else None
        with self._lock_rb:
            items = list(self.records)
        out = [
            r for r in items
            if logging.getLevelName(r["level"]) >= floor
            and (text is None or text in r["message"].lower() or text in r["logger"].lower())
        ]
        return out[-limit:]


#: The process's recent log records (installed on the root logger by :func:`setup_logging`).
RECENT_LOGS = RingBufferHandler()


def setup_logging(
    level: str = "INFO", fmt: str = "console", stream: Any = None, console_level: str | None = None
) -> None:
    """Configure the root logger once (idempotent).

    Parameters
    ----------
    level : str
        Root level (``DEBUG``, ``INFO``…).
    fmt : str
        ``json`` for one JSON object per line, ``console`` for humans.
    stream : file-like, optional
        Where to write (stderr by default).
    console_level : str, optional
        A higher level for the stream handler only (the CLI keeps INFO out of the
        terminal while :data:`RECENT_LOGS` still records it).
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_jonbu", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._jonbu = True  # type: ignore[attr-defined]
    handler.setLevel(console_level or level)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(_ContextFilter())
    handler._jonbu_console_level = console_level  # type: ignore[attr-defined]
    root.addHandler(handler)
    if RECENT_LOGS not in root.handlers:
        RECENT_LOGS.addFilter(_ContextFilter())
        root.addHandler(RECENT_LOGS)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def set_log_level(level: str) -> None:
    """Change the root level at run time (a configuration reload), keeping handlers.

    Parameters
    ----------
    level : str
        ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for h in root.handlers:
        if getattr(h, "_jonbu", False):
            h.setLevel(getattr(h, "_jonbu_console_level", None) or level)
    for noisy in ("httpx", "httpcore", "urllib3", "websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
