"""The web console's operations: a whitelist of CLI commands run as function calls.

A console line is split like a shell would (:func:`shlex.split`) but never given
to one: the first word picks an operation from :data:`OPERATIONS`, the rest are
parsed by that operation's own argument parser, and the operation calls
``jonbu_core`` functions directly. Output is a stream of events::

    {"type": "start", "command": "symbols list"}
    {"type": "line", "text": "AAPL  active"}
    {"type": "progress", "done": 3, "total": 10, "text": "AAPL 2024-01-04 stored"}
    {"type": "end", "ok": true, "exit_code": 0}
    {"type": "end", "ok": false, "exit_code": 1, "error": {"code": "invalid_input", "message": "…"}}
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from jonbu_api.state import AppState
from jonbu_core.errors import InvalidInputError, JonbuError
from jonbu_core.models import parse_symbols

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Run = Callable[[AppState, list[str]], AsyncIterator[Event]]


def line(text: str) -> Event:
    """An output line."""
    return {"type": "line", "text": text}


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise InvalidInputError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise InvalidInputError(message or f"{self.prog}: invalid arguments")


def _parser(prog: str) -> _Parser:
    return _Parser(prog=prog, add_help=False, allow_abbrev=False)


@dataclass(frozen=True)
class Operation:
    """One whitelisted console command."""

    name: str
    usage: str
    help: str
    run: Run


# ------------------------------------------------------------------ operations
async def _help(state: AppState, args: list[str]) -> AsyncIterator[Event]:
    _parser("help").parse_args(args)
    for op in OPERATIONS.values():
        yield line(f"{op.usage:<60} {op.help}")


async def _health(state: AppState, args: list[str]) -> AsyncIterator[Event]:
    from jonbu_api.routers.health import compute_health

    _parser("health").parse_args(args)
    out = await compute_health(state)
    yield line(f"status: {out.status}  (uptime {out.uptime_s:,.0f}s, version {out.version})")
    for name, comp in out.components.items():
        extra = {k: v for k, v in comp.model_dump(exclude_none=True).items() if k != "status"}
        details = ", ".join(f"{k}={v}" for k, v in extra.items())
        yield line(f"  {name:<8} {comp.status:<9} {details}")


async def _metrics(state: AppState, args: list[str]) -> AsyncIterator[Event]:
    p = _parser("metrics")
    p.add_argument("filter", nargs="?", default="jonbu_")
    ns = p.parse_args(args)
    for text in state.metrics.render().decode().splitlines():
        if text and not text.startswith("#") and ns.filter in text:
            yield line(text)


async def _symbols(state: AppState, args: list[str]) -> AsyncIterator[Event]:
    p = _parser("symbols")
    p.add_argument("action", choices=["list", "add", "remove"])
    p.add_argument("symbols", nargs="?")
    ns = p.parse_args(args)
    if ns.action == "list":
        infos = await state.run_store("list_symbols", state.store.list_symbols)
        if not infos:
            yield line("no symbols tracked")
        for info in infos:
            yield line(f"{info.symbol:<10} {'active' if info.active else 'inactive':<9} since {info.added_at:%Y-%m-%d}")
        return
    if not ns.symbols:
        raise InvalidInputError(f"symbols {ns.action} needs SYMBOLS (e.g. AAPL,MSFT)")
    wanted = parse_symbols(ns.symbols)
    if ns.action == "add":
        added = await state.run_store("add_symbols", state.store.add_symbols, wanted)
        yield line("tracking " + ", ".join(i.symbol for i in added))
        return
    for sym in wanted:
        found = await state.run_store("deactivate_symbol", state.store.deactivate_symbol, sym)
        yield line(f"{sym}: {'removed' if found else 'was not tracked'}")


async def _fetch(state: AppState, args: list[str]) -> AsyncIterator[Event]:
    p = _parser("fetch")
    p.add_argument("symbols")
    p.add_argument("--timeframe", default="1m")
    p.add_argument("--start", required=True)
    p.add_argument("--end")
    p.add_argument("--provider", choices=["mock", "alpaca"])
    ns = p.parse_args(args)
    from jonbu_core import ingest
    from jonbu_core.providers.factory import open_provider

    symbols = parse_symbols(ns.symbols)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def progress(ev: Any) -> None:
        event = {
            "type": "progress", "done": ev.done, "total": ev.total,
            "text": f"{ev.symbol} {ev.day} {ev.status} ({ev.rows} rows)",
        }
        loop.call_soon_threadsafe(queue.put_nowait, event)

    def work() -> Any:
        provider = open_provider(state.settings, ns.provider)
        try:
            return ingest.fetch(
                state.store, provider, symbols, ns.timeframe, ns.start, ns.end, progress=progress
            )
        finally:
            provider.close()
            loop.call_soon_threadsafe(queue.put_nowait, None)

    task = asyncio.ensure_future(state.run_blocking(work))
    while (item := await queue.get()) is not None:
        yield item
    summary = await task
    yield line(
        f"received {summary.received:,} rows, stored {summary.rows_stored:,}, "
        f"quarantined {summary.quarantined:,}, gaps left {summary.gaps_left:,} in {summary.seconds:.1f}s"
    )
    for err in summary.errors:
        yield line(f"error: {err}")
    state.latest_cache.clear()


async def _mock(state: AppState, args: list[str]) -> AsyncIterator[Event]:
    p = _parser("mock")
    p.add_argument("action", choices=["test", "speed"])
    p.add_argument("value", nargs="?")
    ns = p.parse_args(args)
    if ns.action == "speed":
        from jonbu_core.providers.mock_config import load_mock_speed, save_mock_speed

        if ns.value is None:
            yield line(f"mock speed: {load_mock_speed(state.settings):g} ticks/s")
            return
        speed = save_mock_speed(state.settings, ns.value)
        yield line(f"mock speed set to {speed:g} ticks/s (the live mock feed picks it up)")
        return
    from jonbu_core.providers.mock import MockProvider

    symbol = parse_symbols(ns.value or state.settings.symbol_list[0])[0]
    provider = MockProvider(state.settings)
    end = datetime.now(UTC)

    def sample() -> Any:
        import pyarrow as pa

        batches = list(provider.bars([symbol], "1d", end - timedelta(days=10), end))
        return pa.Table.from_batches(batches) if batches else None

    table = await state.run_blocking(sample)
    if table is None or table.num_rows == 0:
        yield line(f"mock market: no sessions for {symbol} in the last 10 days")
        return
    yield line(f"mock market for {symbol} (seed {state.settings.mock_seed}): {table.num_rows} daily bars")
    for row in table.to_pylist():
        yield line(
            f"  {row['ts']:%Y-%m-%d}  o {row['open']:.2f}  h {row['high']:.2f}  l {row['low']:.2f}  "
            f"c {row['close']:.2f}  v {row['volume']:,.0f}"
        )


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("help", "help", "List the console commands.", _help),
        Operation("health", "health", "Component status of this server.", _health),
        Operation("metrics", "metrics [FILTER]", "Prometheus metrics whose line contains FILTER.", _metrics),
        Operation("symbols", "symbols list | add A,B | remove A", "The symbol registry.", _symbols),
        Operation(
            "fetch", "fetch SYMBOLS --start DATE [--end DATE] [--timeframe 1m] [--provider mock|alpaca]",
            "Backfill sessions from the provider into the store.", _fetch,
        ),
        Operation("mock", "mock test [SYMBOL] | speed [N]", "The synthetic market: sample bars, live tick rate.", _mock),
    )
}


async def run_line(state: AppState, command: str) -> AsyncIterator[Event]:
    """Run one console line; yields events and always ends with an ``end`` event."""
    yield {"type": "start", "command": command}
    try:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise InvalidInputError(f"cannot parse the line: {exc}") from None
        if not argv:
            raise InvalidInputError("empty command")
        op = OPERATIONS.get(argv[0])
        if op is None:
            raise InvalidInputError(f"unknown command {argv[0]!r}; try: {', '.join(OPERATIONS)}")
        async for event in op.run(state, argv[1:]):
            yield event
    except JonbuError as exc:
        yield {"type": "end", "ok": False, "exit_code": 1, "error": {"code": exc.code, "message": exc.message}}
        return
    except Exception as exc:
        logger.exception("console command %r failed", command)
        yield {"type": "end", "ok": False, "exit_code": 1, "error": {"code": "internal", "message": str(exc)}}
        return
    yield {"type": "end", "ok": True, "exit_code": 0}
