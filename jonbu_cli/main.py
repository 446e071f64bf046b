"""The ``jonbu-ohlcv`` command.

Command groups live in :mod:`jonbu_cli.commands`, one module each, with a
``register(app)`` function; heavy imports happen inside the commands so that
``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click
import typer

try:  # Typer >= 0.29 vendors its own click: its usage errors are not click's
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover - older Typer uses click itself
    from click import ClickException as _TyperClickException  # type: ignore[assignment]

from jonbu_cli import commands
from jonbu_cli.common import err_console
from jonbu_core.errors import JonbuError

app = typer.Typer(
    name="jonbu-ohlcv",
    help=(
        "OHLCV market data: backfill candles, stream live ones, enrich them with "
        "indicators and patterns, export RAG datasets and serve it all over HTTP/WS.\n\n"
        "Settings come from JONBU_* environment variables (and .env)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _register_all() -> None:
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"jonbu_cli.commands.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn errors into one line and an exit status."""
    try:
        rv = app(args=argv, standalone_mode=False)
        # Without standalone mode Typer *returns* the code of a ``typer.Exit`` (and turns
        # Ctrl-C into ``Exit(130)``) instead of raising it; commands themselves return None.
        if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
            if rv == 130:
                err_console.print("interrupted")
            return rv
    except (click.exceptions.Exit, typer.Exit) as exc:
        return int(exc.exit_code or 0)
    except (click.exceptions.Abort, typer.Abort):
        err_console.print("aborted")
        return 130
    except (click.ClickException, _TyperClickException) as exc:
        exc.show()
        return int(exc.exit_code)
    except JonbuError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return 0


def run() -> None:  # pragma: no cover - console script shim
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
