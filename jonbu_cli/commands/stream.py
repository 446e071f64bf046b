"""``jonbu-ohlcv stream``: the streaming daemon alone."""

from __future__ import annotations

from typing import Annotated

import typer

from jonbu_cli.common import console


def register(app: typer.Typer) -> None:
    """Add the ``stream`` command."""
    app.command("stream")(stream)


def stream(
    feed: Annotated[
        str | None, typer.Option(help="Feed: mock, alpaca or replay (default JONBU_STREAM_FEED, auto).")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Symbols to stream (default: the store's active symbols).")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Replay: first date/time (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option(help="Replay: end date/time (exclusive; a date includes that day).")] = None,
    speed: Annotated[
        float | None, typer.Option(help="mock: trades per second; replay: simulated seconds per second (0: max).")
    ] = None,
    replay_source: Annotated[
        str, typer.Option(help="Replay stored 1m 'bars' or provider 'trades'.")
    ] = "trades",
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (default JONBU_STREAM_METRICS_PORT).")
    ] = None,
    busy_poll: Annotated[
        float | None, typer.Option(
            help="Seconds to keep polling the network without sleeping after each trade: lower, steadier "
                 "latency for one busy core (default JONBU_STREAM_BUSY_POLL_SECONDS, 0: off).", min=0)
    ] = None,
) -> None:
    """Run the streaming daemon: live trades → multi-timeframe candles → bus and store.

    Runs until Ctrl-C or SIGTERM, then flushes every closed bar. The mock feed streams
    at any time of day; the alpaca feed reconnects by itself and backfills missed
    minutes from the REST API. Status goes to the bus (served by the API's
    /api/v1/stream/stats).
    """
    import asyncio

    from jonbu_cli.common import settings as load
    from jonbu_core.errors import InvalidInputError
    from jonbu_core.models import parse_symbols
    from jonbu_core.timeutil import parse_range

    s = load()
    if metrics_port is not None:
        s = s.model_copy(update={"stream_metrics_port": metrics_port})
    if busy_poll is not None:
        s = s.model_copy(update={"stream_busy_poll_seconds": busy_poll})
    syms = parse_symbols(symbols) if symbols else None
    a, b = parse_range(start, end) if (start or end) else (None, None)
    if replay_source not in ("bars", "trades"):
        raise InvalidInputError("--replay-source must be bars or trades")
    console.print(f"[bold]jonbu-ohlcv stream[/] feed={feed or s.stream_feed} bus={s.bus} store={s.store} "
                  "(Ctrl-C to stop)")
    asyncio.run(_run(s, feed, syms, a, b, speed, replay_source))
    console.print("[green]stream stopped cleanly[/]")


async def _run(settings, feed, symbols, start, end, speed, replay_source) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from jonbu_core.bus.factory import open_bus
    from jonbu_core.stores.factory import open_store
    from jonbu_stream.daemon import StreamDaemon, install_signal_handlers
    from jonbu_stream.feeds import open_feed

    store = await asyncio.to_thread(open_store, settings)
    bus = open_bus(settings)
    await bus.start()
    try:
        f = None
        if feed is not None or speed is not None or start is not None:
            f = open_feed(settings, feed, symbols=symbols, store=store, start=start, end=end, speed=speed,
                          replay_source=replay_source)
        daemon = StreamDaemon(settings, store, bus, f, symbols=symbols)
        install_signal_handlers(daemon)  # SIGTERM/SIGINT: graceful stop; SIGHUP: reload
        if settings.stream_metrics_port:
            from prometheus_client import start_http_server

            start_http_server(settings.stream_metrics_port, registry=daemon.metrics.registry)
        await daemon.run()
        st = daemon.status()
        console.print(f"trades {st['trades']['total']:,} (late {st['trades']['late']:,}), "
                      f"bars closed {st['bars_closed']:,}, stored {st['stored']:,}")
    finally:
        await bus.close()
        await asyncio.to_thread(store.close)
