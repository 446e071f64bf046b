"""``jonbu-ohlcv migrate up|down|status``: versioned SQL migrations of the Postgres store."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from jonbu_cli.common import console

migrate_app = typer.Typer(
    help="PostgreSQL schema migrations (JONBU_DATABASE_URL). The lake store needs none.",
    no_args_is_help=True,
)

UrlOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="postgresql:// URL (default JONBU_DATABASE_URL).", show_default=False),
]


def register(app: typer.Typer) -> None:
    """Add the ``migrate`` group."""
    app.add_typer(migrate_app, name="migrate")


def _url(url: str | None) -> str:
    from jonbu_cli.common import settings
    from jonbu_core.errors import ConfigError

    value = url or settings().database_url
    if not value:
        raise ConfigError("JONBU_DATABASE_URL: required for migrations (or pass --database-url)")
    if not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError("--database-url: expected a postgresql:// URL")
    return value


@migrate_app.command("up")
def up(
    database_url: UrlOpt = None,
    target: Annotated[int | None, typer.Option(help="Stop after this version.", min=1)] = None,
) -> None:
    """Apply every pending migration (safe to run again: applies nothing then)."""
    from jonbu_core.stores.migrate import migrate_up

    done = migrate_up(_url(database_url), target=target)
    if not done:
        console.print("schema is up to date")
    for m in done:
        console.print(f"applied {m.version:04d}_{m.name}")


@migrate_app.command("down")
def down(
    database_url: UrlOpt = None,
    steps: Annotated[int, typer.Option(help="How many migrations to revert.", min=1)] = 1,
) -> None:
    """Revert the newest applied migration (or --steps N of them)."""
    from jonbu_core.stores.migrate import migrate_down

    done = migrate_down(_url(database_url), steps=steps)
    if not done:
        console.print("nothing to revert")
    for m in done:
        console.print(f"reverted {m.version:04d}_{m.name}")


@migrate_app.command("status")
def status(
    database_url: UrlOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show which migrations are applied and which are pending."""
    from jonbu_core.models import iso_z
    from jonbu_core.stores.migrate import migration_status

    rows = migration_status(_url(database_url))
    if as_json:
        console.print_json(json.dumps({"migrations": [
            {"version": r.version, "name": r.name, "applied": r.applied,
             "applied_at": iso_z(r.applied_at) if r.applied_at else None, "changed": r.changed}
            for r in rows
        ]}))
        return
    from rich.table import Table

    table = Table(title="migrations")
    for col in ("version", "name", "state", "applied_at"):
        table.add_column(col)
    for r in rows:
        state = "applied" if r.applied else "pending"
        if r.changed:
            state += " (file changed since)"
        table.add_row(f"{r.version:04d}", r.name, state, iso_z(r.applied_at) if r.applied_at else "")
    console.print(table)
