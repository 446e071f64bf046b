"""``jonbu-ohlcv mock``: look at and check the synthetic market; set the live tick rate."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from jonbu_cli.common import console

mock_app = typer.Typer(
    help="The deterministic synthetic market (the default provider; no keys needed).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``mock`` command group."""
    app.add_typer(mock_app, name="mock")


@mock_app.command("test")
def mock_test(
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default: the first two of JONBU_SYMBOLS).")
    ] = None,
    start: Annotated[str, typer.Option(help="First date to check (YYYY-MM-DD).")] = "2024-01-02",
    end: Annotated[str, typer.Option(help="Last date to check (include a weekend or holiday).")] = "2024-01-19",
    seed: Annotated[int | None, typer.Option(help="Market seed (default JONBU_MOCK_SEED).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print parameters, sample and checks as JSON.")] = False,
) -> None:
    """Print a sample of the mock market and check its invariants.

    Checks: same seed gives the same bytes, bars only inside exchange sessions,
    a bar for every session minute, OHLC invariants, 1-minute bars equal the
    aggregation of the trades, U-shaped intraday volume. Exits 1 if one fails.
    """
    import pyarrow as pa

    from jonbu_cli.common import settings as load_settings
    from jonbu_cli.common import write_table
    from jonbu_core import calendar as cal
    from jonbu_core.errors import JonbuError
    from jonbu_core.models import CANDLE_COLUMNS, parse_symbols
    from jonbu_core.providers.mock import MockMarket
    from jonbu_core.providers.mock_check import check_market
    from jonbu_core.timeutil import parse_date

    settings = load_settings()
    syms = parse_symbols(symbols) if symbols else settings.symbol_list[:2]
    market = MockMarket(settings.mock_seed if seed is None else seed, settings.exchange)
    first, last = parse_date(start), parse_date(end)
    days = cal.sessions(first, last, settings.exchange)
    if not days:
        raise JonbuError(f"no {settings.exchange} session between {first} and {last}")
    lo, hi = cal.day_bounds_utc(days[0])
    sample = pa.Table.from_batches(list(market.bars(syms[0], "1m", lo, hi)))
    sample = pa.concat_tables([sample.slice(0, 5), sample.slice(max(0, sample.num_rows - 3))])
    results = check_market(market, syms, first, last)
    failed = [r for r in results if not r.ok]
    if as_json:
        doc = {
            "seed": market.seed,
            "params": [vars(market.params(s)) for s in syms],
            "sample": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                       for r in sample.to_pylist()],
            "checks": [vars(r) for r in results],
            "ok": not failed,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        from rich.table import Table

        params = Table(title=f"mock market, seed {market.seed}")
        for col in ("symbol", "s0", "drift", "volatility", "volume/day", "trades/min"):
            params.add_column(col, justify="left" if col == "symbol" else "right")
        for s in syms:
            p = market.params(s)
            params.add_row(s, f"{p.s0:,.2f}", f"{p.drift:+.2%}", f"{p.volatility:.1%}", f"{p.base_volume:,.0f}",
                           f"{p.trades_per_minute:.1f}")
        console.print(params)
        write_table(sample.select(list(CANDLE_COLUMNS)), "table", title=f"{syms[0]} 1m, first session {days[0]} (first 5, last 3)")
        checks = Table(title=f"checks over {len(days)} sessions, {first} … {last}")
        for col in ("check", "result", "detail"):
            checks.add_column(col)
        for r in results:
            checks.add_row(r.name, "[green]ok[/]" if r.ok else "[red]FAILED[/]", r.detail)
        console.print(checks)
    if failed:
        raise JonbuError("mock market check failed: " + ", ".join(r.name for r in failed))


@mock_app.command("speed")
def mock_speed(
    n: Annotated[
        float | None, typer.Argument(help="Live mock ticks per second; omit to show the current rate.")
    ] = None,
) -> None:
    """Set (or show) the tick rate of the live mock feed, saved in $JONBU_DATA_DIR/mock.json."""
    from jonbu_cli.common import settings as load_settings
    from jonbu_core.providers.mock_config import load_mock_speed, mock_config_path, save_mock_speed

    settings = load_settings()
    if n is None:
        console.print(f"mock speed: {load_mock_speed(settings):g} ticks/s")
        return
    speed = save_mock_speed(settings, n)
    console.print(f"mock speed set to {speed:g} ticks/s ({mock_config_path(settings)})")
