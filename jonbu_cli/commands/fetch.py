"""``jonbu-ohlcv fetch``: backfill bars from a provider into the store, resumably."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jonbu_cli.common import console, err_console, sigterm_as_interrupt

if TYPE_CHECKING:
    from jonbu_core.ingest import IngestSummary


def register(app: typer.Typer) -> None:
    """Add the ``fetch`` command."""
    app.command("fetch")(fetch)


def fetch(
    symbols: Annotated[str, typer.Argument(help="Comma-separated symbols, e.g. AAPL,MSFT.")],
    timeframe: Annotated[
        str, typer.Option("--timeframe", "-t", help="Bar timeframe: 1m, 5m, 15m, 30m, 1h, 4h or 1d.")
    ] = "1m",
    start: Annotated[str, typer.Option(help="First session date (YYYY-MM-DD).")] = "",
    end: Annotated[
        str | None, typer.Option(help="Last session date, inclusive (default: today).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="mock or alpaca (default JONBU_PROVIDER).")
    ] = None,
    fill_gaps: Annotated[
        bool, typer.Option("--fill-gaps", help="Request only the missing bars of partly stored sessions.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Re-fetch and replace sessions that are already complete.")
    ] = False,
    window: Annotated[
        int, typer.Option(help="Sessions asked of the provider per request (bounds memory).", min=1, max=250)
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Fetch historical bars of SYMBOLS into the store.

    Sessions already complete in the store are skipped, so re-running finishes an
    interrupted fetch without duplicates. Bad rows are quarantined with a reason;
    the summary shows rows stored, quarantined and expected bars still missing.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from jonbu_cli.common import open_store_cli
    from jonbu_cli.common import settings as load_settings
    from jonbu_core import ingest
    from jonbu_core.calendar import sessions
    from jonbu_core.errors import InvalidInputError, ProviderError
    from jonbu_core.models import parse_symbols
    from jonbu_core.providers.factory import open_provider
    from jonbu_core.timeframe import EXCHANGE_TZ
    from jonbu_core.timeutil import parse_date

    if not start:
        raise InvalidInputError("--start is required (a session date such as 2024-01-02)")
    settings = load_settings()
    syms = parse_symbols(symbols)
    prov = open_provider(settings, provider)
    out = err_console if as_json else console
    # Per-batch quarantine warnings would tear the progress bars; the summary reports them.
    quiet = logging.getLogger("jonbu_core.validation")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    done, total = [0], [0]  # sessions handled / per symbol (for the message of an interrupted fetch)
    try:
        with sigterm_as_interrupt(), open_store_cli() as store, Progress(
            TextColumn("[bold]{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sessions  {task.fields[rows]:>9,} rows  {task.fields[bad]:>5,} quarantined"),
            TimeElapsedColumn(),
            console=out,
        ) as progress:
            n = len(sessions(parse_date(start), parse_date(end) if end else datetime.now(EXCHANGE_TZ).date(), settings.exchange))
            tasks: dict[str, Any] = {s: progress.add_task(s, total=n, rows=0, bad=0) for s in syms}

            total[0] = n

            def on_event(ev: ingest.ProgressEvent) -> None:
                done[0] += 1
                task = tasks[ev.symbol]
                fields = progress.tasks[task].fields
                progress.update(task, advance=1, rows=fields["rows"] + ev.rows, bad=fields["bad"] + ev.quarantined)

            summary = ingest.fetch(store, prov, syms, timeframe, start, end, fill_gaps=fill_gaps, force=force,
                                   progress=on_event, exchange=settings.exchange, window=window)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, wherever it landed
        err_console.print(
            f"interrupted after {done[0]} of {len(syms) * total[0]} sessions: every stored session is complete; "
            "run the same command again to fetch the rest"
        )
        raise
    finally:
        quiet.setLevel(level)
        prov.close()
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2, default=str) + "\n")
    else:
        _print_summary(summary)
    if summary.errors:
        raise ProviderError(f"{len(summary.errors)} provider error(s), first: {summary.errors[0]}; re-run to retry")


def _print_summary(summary: IngestSummary) -> None:
    from rich.table import Table

    title = (f"{summary.provider} → {summary.store}  {summary.timeframe}  {summary.start} … {summary.end}"
             f"{'  (fill gaps)' if summary.fill_gaps else ''}  in {summary.seconds:.1f}s")
    table = Table(title=title)
    for col in ("symbol", "sessions", "skipped", "fetched", "stored", "quarantined", "gaps left"):
        table.add_column(col, justify="left" if col == "symbol" else "right", no_wrap=True)
    for s in summary.symbols:
        table.add_row(s.symbol, str(s.sessions), str(s.skipped_days), str(s.fetched_days),
                      f"{s.stored:,}", f"{s.quarantined:,}", f"{s.gaps_left:,}")
    if len(summary.symbols) > 1:
        table.add_row("[bold]total", str(sum(s.sessions for s in summary.symbols)),
                      str(sum(s.skipped_days for s in summary.symbols)),
                      str(sum(s.fetched_days for s in summary.symbols)),
                      f"{summary.rows_stored:,}", f"{summary.quarantined:,}", f"{summary.gaps_left:,}")
    console.print(table)
    if summary.reasons:
        reasons = ", ".join(f"{r}: {n:,}" for r, n in sorted(summary.reasons.items()))
        console.print(f"[yellow]quarantined[/] {summary.quarantined:,} rows ({reasons})")
    for err in summary.errors:
        err_console.print(f"[red]failed[/] {err}", highlight=False)
