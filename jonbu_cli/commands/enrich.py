"""``jonbu-ohlcv enrich``: indicators, patterns, context and features from the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jonbu_cli.common import OUTPUT_FORMATS, console, open_store_cli, write_table
from jonbu_core.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa


def register(app: typer.Typer) -> None:
    """Add the ``enrich`` command."""
    app.command("enrich")(enrich)


def enrich(
    symbol: Annotated[str, typer.Argument(help="Symbol to enrich, e.g. AAPL.")],
    start: Annotated[str, typer.Option(help="First bar (ISO date or datetime, UTC).")],
    timeframe: Annotated[
        str, typer.Option("--timeframe", "-t", help="Bar timeframe: 1m 5m 15m 30m 1h 4h 1d 1w.")
    ] = "1d",
    end: Annotated[
        str | None, typer.Option(help="End: an exclusive datetime, or a date (that whole day included).")
    ] = None,
    indicators: Annotated[
        str | None,
        typer.Option("--indicators", "-i", help="Indicator spec, e.g. rsi:14,ema:50,bbands:20:2 (default: all)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: table|json|csv|parquet.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Enrich stored bars with indicators, candlestick/chart patterns, market context and features.

    History before --start is loaded automatically, so values do not depend on where
    the range starts. json prints the enriched candles as the API returns them
    (ohlcv, indicators, patterns, context, features, confidence); csv and parquet
    write one flat row per bar (candle columns, indicators named as in CONTRACT.md,
    cdl_*/chart_* patterns, context, f_* features, confidence); table shows a summary.
    """
    import json
    import sys

    from rich.progress import Progress, SpinnerColumn, TextColumn

    from jonbu_core.enrich import parse_indicator_spec
    from jonbu_core.enrich.memory import tune_allocator
    from jonbu_core.enrich.service import enrich_range, enrich_range_table
    from jonbu_core.timeutil import parse_range

    tune_allocator()  # a batch process: reuse freed large arrays (jonbu_core.enrich.memory)

    if fmt not in OUTPUT_FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    specs = parse_indicator_spec(indicators)
    s, e = parse_range(start, end)
    assert s is not None
    with open_store_cli() as store, Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True,
        disable=fmt != "table" or output is not None or not console.is_terminal,
    ) as progress:
        progress.add_task(f"enriching {symbol.upper()} {timeframe}…", total=None)
        if fmt == "json":
            candles = enrich_range(store, symbol, timeframe, s, e, indicators)
            text = json.dumps([c.model_dump(mode="json") for c in candles], indent=None if output else 2)
            if output:
                output.write_text(text)
            else:
                sys.stdout.write(text + "\n")
            return
        table = enrich_range_table(store, symbol, timeframe, s, e, indicators)
    if fmt != "table":
        write_table(table, fmt, output)
        return
    keys = [k for spec in specs for k in spec.keys][:4]
    write_table(_summary(table, keys), "table", output, title=f"{symbol.upper()} {timeframe} enriched")


def _summary(table: pa.Table, keys: list[str]) -> pa.Table:
    """A narrow view for the terminal: close, a few indicators, regime, patterns, confidence."""
    import pyarrow as pa

    from jonbu_core.enrich import indicator_column

    pat_cols = [c for c in table.column_names if c.startswith(("cdl_", "chart_"))]
    values = {c: table.column(c).to_pylist() for c in pat_cols}
    names = [", ".join(c.split("_", 1)[1] for c in pat_cols if values[c][i]) for i in range(table.num_rows)]
    view = table.append_column("patterns", pa.array(names, pa.string()))
    cols = ["ts", "close", *(indicator_column(k) for k in keys), "regime", "trend_direction", "patterns",
            "confidence"]
    return view.select([c for c in cols if c in view.column_names])
