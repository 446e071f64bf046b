"""``jonbu-ohlcv history``: stored bars of one symbol, any timeframe (rolled up on read)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jonbu_cli.common import OUTPUT_FORMATS, err_console

_PAGE = 100_000


def register(app: typer.Typer) -> None:
    """Add the ``history`` command."""
    app.command("history")(history)


def history(
    symbol: Annotated[str, typer.Argument(help="The symbol, e.g. AAPL.")],
    start: Annotated[str, typer.Option(help="Start: ISO date (start of that exchange day) or datetime (UTC if naive).")],
    timeframe: Annotated[str, typer.Option(help="1m 5m 15m 30m 1h 4h 1d 1w; above 1m rolled up from 1m unless stored.")] = "1m",
    end: Annotated[
        str | None, typer.Option(help="End (exclusive); an ISO date includes that whole day. Default: everything after start.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"Output format: {'|'.join(OUTPUT_FORMATS)}.")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many bars (the first ones).", min=1)] = None,
    source: Annotated[bool, typer.Option("--source/--no-source", help="Include the source column.")] = True,
) -> None:
    """Print stored bars of SYMBOL in [start, end), ascending.

    Columns: ts, open, high, low, close, volume, trade_count, vwap (and source).
    """
    import pyarrow as pa
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from jonbu_cli.common import open_store_cli, write_table
    from jonbu_core.errors import InvalidInputError
    from jonbu_core.models import BAR_SCHEMA, CANDLE_COLUMNS, normalize_symbol
    from jonbu_core.timeframe import parse_timeframe
    from jonbu_core.timeutil import parse_range

    if fmt not in OUTPUT_FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    sym = normalize_symbol(symbol)
    tf = parse_timeframe(timeframe)
    s, e = parse_range(start, end)
    pages: list[pa.Table] = []
    rows = 0
    with open_store_cli() as store, Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=err_console, transient=True,
        disable=not err_console.is_terminal,
    ) as progress:
        task = progress.add_task(f"reading {sym} {tf.name}…")
        cursor: str | None = None
        while True:
            want = _PAGE if limit is None else min(_PAGE, limit - rows)
            page = store.read_bars(sym, tf.name, s, e, limit=want, cursor=cursor)
            pages.append(page.table)
            rows += page.table.num_rows
            progress.update(task, description=f"reading {sym} {tf.name}: {rows:,} bars")
            cursor = page.next_cursor
            if cursor is None or (limit is not None and rows >= limit):
                break
    table = pa.concat_tables(pages) if pages else BAR_SCHEMA.empty_table()
    columns = list(CANDLE_COLUMNS) + (["source"] if source else [])
    table = table.select(columns)
    if table.num_rows == 0:
        err_console.print(f"no {tf.name} bars of {sym} in that range")
    write_table(table, fmt, output, title=f"{sym} {tf.name}")
