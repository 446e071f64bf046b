"""``export rag|training``, ``narrate`` and ``search``: narratives, RAG exports, semantic search."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from jonbu_cli.common import console, err_console

export_app = typer.Typer(
    name="export",
    help="Export datasets: narratives + embeddings into LanceDB (rag), features + targets to Parquet (training).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``export rag``, ``export training``, ``narrate`` and ``search``."""
    app.add_typer(export_app, name="export")
    app.command("narrate")(narrate)
    app.command("search")(search)


def _symbols(value: str | None) -> list[str]:
    from jonbu_cli.common import settings as load_settings
    from jonbu_core.models import parse_symbols

    return parse_symbols(value) if value else load_settings().symbol_list


@export_app.command("rag")
def export_rag(
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD) or time (ISO 8601, UTC if naive).")],
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default: JONBU_SYMBOLS).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last day, inclusive, or an exclusive ISO time (default: now).")
    ] = None,
    timeframe: Annotated[
        str, typer.Option("--timeframe", "-t", help="Candle timeframe: 1m, 5m, 15m, 30m, 1h, 4h, 1d or 1w.")
    ] = "15m",
    indicators: Annotated[
        str | None, typer.Option(help="Indicator spec for the enrichment, e.g. rsi:14,ema:50 (default set).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Enrich stored candles, write narratives and their embeddings into LanceDB.

    Rows are keyed by (symbol, timeframe, ts): exporting a range again replaces its
    rows. Runs offline with the bundled all-MiniLM-L6-v2 model (JONBU_EMBEDDING_*).
    Bars must be stored first (`jonbu-ohlcv fetch`).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from jonbu_cli.common import settings as load_settings
    from jonbu_core.enrich.memory import tune_allocator
    from jonbu_core.rag.embedder import get_embedder
    from jonbu_core.rag.export import export_rag as run_export
    from jonbu_core.timeframe import parse_timeframe
    from jonbu_core.timeutil import parse_range

    tune_allocator()  # a batch process: reuse freed large arrays (jonbu_core.enrich.memory)
    settings = load_settings()
    syms = _symbols(symbols)
    parse_timeframe(timeframe)
    parse_range(start, end)  # fail on a bad range before loading the model
    out = err_console if as_json else console
    with out.status("loading the embedding model…"):
        embedder = get_embedder(settings)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("candles"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=out,
    ) as progress:
        task = progress.add_task(f"export {timeframe}", total=None)

        def on_progress(done: int, total: int, message: str) -> None:
            progress.update(task, completed=done, total=total, description=message)

        summary = run_export(
            settings, syms, timeframe, start, end, on_progress, indicators=indicators, embedder=embedder
        )
        progress.update(task, completed=summary.rows_written, total=max(1, summary.rows_written),
                        description="done")
    if as_json:
        doc = summary.model_dump(mode="json")
        doc["embeddings_per_second"] = round(summary.embeddings_per_second, 1)
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    console.print(
        f"[green]exported[/] {summary.rows_written:,} {summary.timeframe} candles "
        f"({summary.inserted:,} new, {summary.updated:,} replaced) of {', '.join(summary.symbols)} "
        f"in {summary.seconds:.1f}s — {summary.embeddings_per_second:,.0f} embeddings/s "
        f"({summary.model}, {summary.dimension}-d); table now holds {summary.table_rows:,} rows",
        highlight=False,
    )
    if summary.indexes:
        console.print(f"indexes: {', '.join(summary.indexes)}", highlight=False)
    for sym in summary.empty_symbols:
        err_console.print(
            f"[yellow]warning:[/] no {summary.timeframe} bars of {sym} stored in the range "
            f"(run `jonbu-ohlcv fetch {sym} --start …` first)",
            highlight=False,
        )
    if summary.sample_narrative:
        console.print("\n[dim]sample narrative:[/]")
        console.print(summary.sample_narrative, highlight=False, markup=False)


@export_app.command("training")
def export_training(
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD) or time (ISO 8601).")],
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default: JONBU_SYMBOLS).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Last day, inclusive (default: now).")] = None,
    timeframe: Annotated[
        str, typer.Option("--timeframe", "-t", help="Candle timeframe: 1m, 5m, 15m, 30m, 1h, 4h, 1d or 1w.")
    ] = "15m",
    horizons: Annotated[
        str, typer.Option(help="Target horizons in bars, comma-separated (future returns over each).")
    ] = "1,4,16",
    output: Annotated[
        Path | None, typer.Option(help="Data set root (default: $JONBU_DATA_DIR/training).")
    ] = None,
    indicators: Annotated[
        str | None, typer.Option(help="Indicator spec for the enrichment (default set).")
    ] = None,
    keep_incomplete: Annotated[
        bool, typer.Option("--keep-incomplete", help="Keep warm-up rows and rows with missing targets (nulls).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Write normalised features and future-return targets to Parquet, partitioned by symbol.

    One file per symbol and exchange day under timeframe=TF/symbol=SYM/, plus a
    _manifest.json describing every column. Features never see the future; targets
    are returns from each close to the close N bars later.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from jonbu_cli.common import settings as load_settings
    from jonbu_core.enrich.memory import tune_allocator
    from jonbu_core.errors import InvalidInputError
    from jonbu_core.rag.training import export_training as run_export

    tune_allocator()  # a batch process: reuse freed large arrays (jonbu_core.enrich.memory)
    settings = load_settings()
    syms = _symbols(symbols)
    try:
        hs = [int(h) for h in horizons.split(",") if h.strip()]
    except ValueError:
        raise InvalidInputError(f"--horizons: expected bar counts such as 1,4,16 (got {horizons!r})") from None
    out = err_console if as_json else console
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("symbols"), TimeElapsedColumn(), console=out) as progress:
        task = progress.add_task("training set", total=len(syms))

        def on_progress(done: int, total: int, message: str) -> None:
            progress.update(task, completed=done, total=total, description=message)

        summary = run_export(settings, syms, timeframe, start, end, hs, output, indicators=indicators,
                             drop_incomplete=not keep_incomplete, progress=on_progress)
    doc: dict[str, Any] = {
        "output": str(summary.output), "timeframe": summary.timeframe, "horizons": list(summary.horizons),
        "symbols": summary.symbols, "rows": summary.rows, "files": len(summary.files),
        "features": len(summary.feature_names), "dropped": summary.dropped,
        "empty_symbols": summary.empty_symbols, "seconds": round(summary.seconds, 3),
    }
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    console.print(
        f"[green]wrote[/] {summary.rows:,} rows ({len(summary.feature_names)} features, "
        f"targets over {', '.join(map(str, summary.horizons))} bars) in {len(summary.files)} files "
        f"under {summary.output} — {summary.dropped:,} warm-up/incomplete rows dropped",
        highlight=False,
    )
    for sym in summary.empty_symbols:
        err_console.print(f"[yellow]warning:[/] no {summary.timeframe} bars of {sym} in the range", highlight=False)


def narrate(
    symbol: Annotated[str, typer.Argument(help="The symbol, e.g. AAPL.")],
    timeframe: Annotated[
        str, typer.Option("--timeframe", "-t", help="Candle timeframe: 1m, 5m, 15m, 30m, 1h, 4h, 1d or 1w.")
    ] = "1d",
    at: Annotated[
        str | None,
        typer.Option(help="A time inside the candle (ISO 8601, UTC if naive) or a date; default: the latest."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, markdown or json.")] = "text",
    indicators: Annotated[
        str | None, typer.Option(help="Indicator spec for the enrichment (default set).")
    ] = None,
) -> None:
    """Describe one stored candle in words: price, indicators, patterns, trend, levels.

    The candle is enriched on demand. Times are shown in the exchange's time zone.
    """
    from jonbu_cli.common import open_store_cli
    from jonbu_core.errors import InvalidInputError
    from jonbu_core.models import iso_z
    from jonbu_core.narrative import FORMATS
    from jonbu_core.narrative.service import narrative_at

    if fmt not in FORMATS:
        raise InvalidInputError(f"--format: expected one of {', '.join(FORMATS)} (got {fmt!r})")
    with open_store_cli() as store:
        candle, text, exact = narrative_at(store, symbol, timeframe, at, fmt, indicators=indicators)
    if at is not None and not exact:
        err_console.print(
            f"[yellow]note:[/] no {timeframe} candle contains {at}; showing the last one before it "
            f"({iso_z(candle.ohlcv.ts)})",
            highlight=False,
        )
    if isinstance(text, dict):
        sys.stdout.write(json.dumps(text, indent=2, ensure_ascii=False) + "\n")
    else:
        console.print(text, highlight=False, markup=False)


def search(
    query: Annotated[str, typer.Argument(help='What to look for, e.g. "hammer reversal with oversold RSI".')],
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", "-t", help="Only this timeframe.")] = None,
    start: Annotated[str | None, typer.Option(help="Only candles from this day/time on.")] = None,
    end: Annotated[str | None, typer.Option(help="Only candles up to this day (inclusive) or time.")] = None,
    k: Annotated[int, typer.Option("--k", "-k", help="Number of results.", min=1, max=200)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Semantic search over exported narratives (vector + full-text, hybrid).

    Searches what `export rag` wrote to LanceDB, best match first.
    """
    from rich.table import Table

    from jonbu_cli.common import settings as load_settings
    from jonbu_core.narrative.facts import local_time_label
    from jonbu_core.rag.search import search as run_search

    settings = load_settings()
    with err_console.status("searching…"):
        results = run_search(settings, query, symbol=symbol, timeframe=timeframe, start=start, end=end, k=k)
    if as_json:
        doc = {"results": [r.model_dump(mode="json", include={"symbol", "timeframe", "ts", "text", "score"})
                           for r in results]}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    if not results:
        err_console.print("no results (nothing exported yet? run `jonbu-ohlcv export rag …`)")
        return
    table = Table(title=f"search: {query}", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("candle", no_wrap=True)
    table.add_column("narrative")
    for i, r in enumerate(results, 1):
        table.add_row(str(i), f"{r.score:.3f}", f"{r.symbol} {r.timeframe}\n{local_time_label(r.ts, r.timeframe)}",
                      r.text.split("\n", 1)[1] if "\n" in r.text else r.text)
    console.print(table)
