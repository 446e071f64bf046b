"""Structured logging set-up (JSON lines or a readable console format)."""

from __future__ import annotations

import contextvars
import logging
import sys
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


def setup_logging(level: str = "INFO", fmt: str = "console", stream: Any = None) -> None:
    """Configure the root logger once (idempotent).

    Parameters
    ----------
    level : str
        Root level (``DEBUG``, ``INFO``…).
    fmt : str
        ``json`` for one JSON object per line, ``console`` for humans.
    stream : file-like, optional
        Where to write (stderr by default).
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_jonbu", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._jonbu = True  # type: ignore[attr-defined]
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
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
