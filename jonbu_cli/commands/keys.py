"""``jonbu-ohlcv keys``: create, list and revoke API keys (only their hashes are stored)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from jonbu_cli.common import console

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``keys`` group."""
    app.add_typer(keys_app, name="keys")


@contextlib.contextmanager
def _store() -> Iterator[Any]:
    """The key store the API uses with these settings (file, or Postgres with JONBU_STORE=postgres)."""
    from jonbu_api.keystore import close_key_store, open_key_store
    from jonbu_cli.common import settings

    keys = open_key_store(settings())
    try:
        yield keys
    finally:
        close_key_store(keys)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the key (letters, digits, . _ - @).")],
    scope: Annotated[str, typer.Option(help="read (every GET) or admin (also symbols, console, keys).")] = "read",
    as_json: Annotated[bool, typer.Option("--json", help="Print the key as JSON.")] = False,
) -> None:
    """Create an API key and show it once: only its hash is kept."""
    with _store() as keys:
        info, key = keys.create(name, scope)
    if as_json:
        console.print_json(json.dumps({**info.public(), "key": key}))
        return
    console.print(f"Created key [bold]{info.name}[/] (scope {info.scope}). Store it now; it is not shown again:")
    console.print(key, highlight=False, soft_wrap=True)
    console.print("[dim]Send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`.[/]")


@keys_app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="Also list revoked keys.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API keys (names, scopes, prefixes; never the keys)."""
    from rich.table import Table

    with _store() as keys:
        entries = keys.list(include_revoked)
    if as_json:
        console.print_json(json.dumps({"keys": [e.public() for e in entries]}))
        return
    if not entries:
        console.print("no API keys (create one with `jonbu-ohlcv keys create NAME`)")
        return
    table = Table("name", "scope", "prefix", "created", "revoked")
    for e in entries:
        table.add_row(e.name, e.scope, e.prefix + "…", e.created_at, e.revoked_at or "")
    console.print(table)


@keys_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="Name of the key to revoke.")]) -> None:
    """Revoke an API key (running servers notice within a request)."""
    with _store() as keys:
        info = keys.revoke(name)
    console.print(f"revoked {info.name} ({info.prefix}…)")
