"""Shared helpers of the CLI commands: consoles, settings, store, output formats."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from jonbu_core.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

    from jonbu_core.settings import Settings
    from jonbu_core.stores.base import BarStore

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

OUTPUT_FORMATS = ("table", "json", "csv", "parquet")


def settings() -> Settings:
    """The settings, with logging configured (fails with one line on a bad value)."""
    from jonbu_core.logging import setup_logging
    from jonbu_core.settings import get_settings

    s = get_settings()
    setup_logging(s.log_level, s.log_format, console_level="WARNING" if s.log_level == "INFO" else s.log_level)
    return s


@contextmanager
def open_store_cli() -> Iterator[BarStore]:
    """Open the configured store for one command and close it afterwards."""
    from jonbu_core.stores.factory import open_store

    store = open_store(settings())
    try:
        yield store
    finally:
        store.close()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C inside the block, so long work stops between writes.

    Python's default SIGTERM ends the process on the spot; with this, a ``kill`` or a
    container stop raises :class:`KeyboardInterrupt` in the main thread instead, so
    the write in progress finishes (every store write is atomic), ``finally`` blocks
    close pools and the command reports what it kept.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _jsonable(v: Any) -> Any:
    from datetime import date, datetime

    if isinstance(v, datetime):
        from jonbu_core.models import iso_z

        return iso_z(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and v != v:
        return None
    return v


def write_table(
    table: pa.Table,
    fmt: str,
    output: Path | None = None,
    *,
    title: str | None = None,
    max_rows: int = 200,
) -> None:
    """Write an Arrow table as a Rich table, JSON (a list of objects), CSV or Parquet.

    Parquet needs ``output`` unless stdout is redirected. Timestamps are ISO 8601 UTC.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt not in OUTPUT_FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    if fmt == "parquet":
        if output is None and sys.stdout.isatty():
            raise InvalidInputError("--format parquet needs --output FILE (or a redirected stdout)")
        pq.write_table(table, str(output) if output else sys.stdout.buffer)
        return
    if fmt == "csv":
        if output is None:
            pacsv.write_csv(table, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            pacsv.write_csv(table, str(output))
        return
    if fmt == "json":
        rows = [{k: _jsonable(v) for k, v in r.items()} for r in table.to_pylist()]
        text = json.dumps(rows, indent=None if output else 2)
        if output:
            output.write_text(text)
        else:
            sys.stdout.write(text + "\n")
        return
    rt = Table(title=title, show_lines=False)
    for name in table.column_names:
        rt.add_column(name, justify="right" if name not in ("symbol", "timeframe", "source", "ts") else "left")
    rows = table.to_pylist()
    shown = rows if len(rows) <= max_rows else rows[: max_rows // 2] + rows[-max_rows // 2 :]
    for i, r in enumerate(shown):
        if len(rows) > max_rows and i == max_rows // 2:
            rt.add_row(*(["…"] * len(table.column_names)))
        rt.add_row(*(_fmt_cell(_jsonable(v)) for v in r.values()))
    target = Console(file=output.open("w")) if output else console
    target.print(rt)
    if len(rows) > max_rows:
        target.print(f"[dim]{len(rows)} rows ({max_rows} shown; use --format csv|json|parquet for all)[/]")


def _fmt_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)
