"""``jonbu-ohlcv symbols add|list|remove``: the symbol registry of the configured store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from jonbu_cli.common import console, open_store_cli

if TYPE_CHECKING:
    from jonbu_core.models import SymbolInfo

symbols_app = typer.Typer(
    help="Track, list and untrack symbols (the registry backfills and the stream follow).",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    """Add the ``symbols`` group."""
    app.add_typer(symbols_app, name="symbols")


def _print(infos: list[SymbolInfo], as_json: bool, title: str) -> None:
    if as_json:
        console.print_json(json.dumps({"symbols": [i.model_dump(mode="json") for i in infos]}))
        return
    from rich.table import Table

    table = Table(title=title)
    for col in ("symbol", "active", "added_at", "updated_at"):
        table.add_column(col)
    for i in infos:
        d = i.model_dump(mode="json")
        table.add_row(d["symbol"], "yes" if i.active else "no", d["added_at"], d["updated_at"])
    console.print(table)


@symbols_app.command("add")
def add(
    symbols: Annotated[str, typer.Argument(help="Comma-separated symbols, e.g. AAPL,MSFT (upper-cased).")],
    as_json: JsonOpt = False,
) -> None:
    """Track symbols (re-activates symbols removed earlier)."""
    from jonbu_core.models import parse_symbols

    wanted = parse_symbols(symbols)
    with open_store_cli() as store:
        infos = store.add_symbols(wanted)
    _print(infos, as_json, "tracked symbols")


@symbols_app.command("list")
def list_(
    active_only: Annotated[bool, typer.Option("--active-only", help="Only symbols still tracked.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the registry, sorted by symbol."""
    with open_store_cli() as store:
        infos = store.list_symbols(active_only=active_only)
    _print(infos, as_json, "symbols")


@symbols_app.command("remove")
def remove(
    symbol: Annotated[str, typer.Argument(help="The symbol to stop tracking (its stored bars are kept).")],
) -> None:
    """Stop tracking a symbol (marks it inactive; stored bars stay)."""
    from jonbu_core.errors import NotFoundError
    from jonbu_core.models import normalize_symbol

    sym = normalize_symbol(symbol)
    with open_store_cli() as store:
        if not store.deactivate_symbol(sym):
            raise NotFoundError(f"symbol {sym} is not tracked")
    console.print(f"{sym} removed")
