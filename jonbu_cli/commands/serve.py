"""``jonbu-ohlcv serve``: the API (and the built dashboard) alone, under uvicorn."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jonbu_cli.common import console, err_console


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command."""
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port (default JONBU_API_PORT, 8000).", min=1, max=65535)
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (each has its own WebSocket hub).", min=1)] = 1,
    proxy_headers: Annotated[
        bool, typer.Option("--proxy-headers/--no-proxy-headers", help="Trust X-Forwarded-* from --forwarded-allow-ips.")
    ] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies whose X-Forwarded-* headers are trusted (comma-separated).")
    ] = "127.0.0.1",
) -> None:
    """Serve the REST API, the WebSocket stream and the dashboard (frontend/dist) over HTTP.

    API keys are required unless JONBU_AUTH=off: create one with
    `jonbu-ohlcv keys create NAME`. Live candles come over the event bus (JONBU_BUS=redis
    to receive them from a separate `jonbu-ohlcv stream`). Ctrl-C stops it.
    """
    import uvicorn

    from jonbu_api.server import run as run_server
    from jonbu_core.logging import setup_logging
    from jonbu_core.settings import get_settings

    settings = get_settings()
    setup_logging(settings.log_level, settings.log_format)
    the_port = port or settings.api_port
    if settings.auth_enabled(default=True) and _count_active_keys(settings) == 0:
        err_console.print(
            "[yellow]warning:[/] auth is on and no API key exists: every request but health and "
            "metrics will get 401. Create one with [bold]jonbu-ohlcv keys create NAME[/] (or set JONBU_AUTH=off)."
        )
    if settings.bus == "memory":
        err_console.print(
            "[dim]note: JONBU_BUS=memory, so live candles reach this server only from a stream in its own "
            "process (`jonbu-ohlcv up`); run `jonbu-ohlcv stream` with JONBU_BUS=redis to feed it.[/]"
        )
    console.print(f"jonbu-ohlcv API on http://{host}:{the_port}/  (docs: http://{host}:{the_port}/docs)")
    _exit_cleanly_on_stop()
    config = uvicorn.Config(
        "jonbu_api.main:create_app",
        factory=True,
        host=host,
        port=the_port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=10,
        # Fan-out sends one small frame per client: compressing each costs more CPU than it saves.
        ws_per_message_deflate=False,
    )
    # jonbu_api's Server: WebSocket clients get 1001 (going away) on shutdown, and the GC is
    # frozen after startup (no long full collections in the WebSocket fan-out).
    run_server(config)


def _count_active_keys(settings: Any) -> int:
    from jonbu_api.keystore import close_key_store, open_key_store

    try:
        keys = open_key_store(settings)
    except Exception as exc:  # the database is down: the server says so too, do not fail here
        err_console.print(f"[yellow]warning:[/] cannot count API keys: {exc}")
        return -1
    try:
        return int(keys.count_active())
    finally:
        close_key_store(keys)


def _exit_cleanly_on_stop() -> None:
    """Make SIGTERM/SIGINT end the process with status 0 once uvicorn has shut down.

    uvicorn drains in-flight requests and closes WebSockets on a signal, then restores
    the previous handlers and raises the signal again, so with the default handlers the
    process died with 143 (SIGTERM) or 130 (SIGINT) after a clean shutdown. A stop that
    was asked for is a clean exit: these handlers turn the re-raised signal (and one
    arriving before uvicorn took over) into ``SystemExit(0)``.
    """
    import signal
    import sys

    def stop(signum: int, frame: object) -> None:
        sys.exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
