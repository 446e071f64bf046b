"""``jonbu-ohlcv up``: the whole stack in one command (what ``make demo`` runs)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from jonbu_cli.common import console, err_console, sigterm_as_interrupt

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the ``up`` command."""
    app.command("up")(up)


def up(
    symbols: Annotated[
        str | None, typer.Option(help="Symbols to track on first start (default JONBU_SYMBOLS).")
    ] = None,
    port: Annotated[int, typer.Option(help="API and dashboard port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    no_dagster: Annotated[bool, typer.Option("--no-dagster", help="Do not start the Dagster UI.")] = False,
    dagster_port: Annotated[int, typer.Option(help="Dagster UI port.")] = 3000,
    history_days: Annotated[
        int, typer.Option(help="Sessions of 1m history to have in the store: missing ones are backfilled.",
                          min=0, max=400)
    ] = 15,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Do not start the streaming daemon.")] = False,
    rag_sessions: Annotated[
        int,
        typer.Option(help="Sessions of 1h candles to export as narratives + embeddings when the "
                          "RAG index is empty (in the background, so search works; 0 to skip).",
                     min=0, max=250),
    ] = 10,
) -> None:
    """Run the whole stack: API + dashboard, the streaming daemon and the Dagster UI.

    On a fresh machine with no keys this tracks the default symbols, backfills a few
    weeks of mock history (only the sessions missing from the store, so an interrupted
    backfill resumes on the next start), streams live mock trades and
    serves everything at http://HOST:PORT/. Auth is off unless JONBU_AUTH=on.
    Ctrl-C (or SIGTERM) shuts everything down cleanly.
    """
    os.environ.setdefault("JONBU_AUTH", "off")
    from jonbu_cli.common import settings as load

    settings = load()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from jonbu_core.stores.factory import open_store

    # A stop before the server took over the signals (e.g. during the backfill) is clean too.
    with sigterm_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
        _run(settings, store=open_store(settings), symbols=symbols, host=host, port=port, no_dagster=no_dagster,
             dagster_port=dagster_port, history_days=history_days, no_stream=no_stream, rag_sessions=rag_sessions)
    console.print("[green]stopped cleanly[/]")


def _run(settings: Any, store: Any, symbols: str | None, host: str, port: int, no_dagster: bool, dagster_port: int,
         history_days: int, no_stream: bool, rag_sessions: int) -> None:
    from jonbu_core.models import parse_symbols

    try:
        if not store.list_symbols():
            wanted = parse_symbols(symbols) if symbols else settings.symbol_list
            store.add_symbols(wanted)
        active = [s.symbol for s in store.list_symbols(active_only=True)]
        if history_days and active:
            try:
                _backfill(settings, store, active, history_days)
            except KeyboardInterrupt:
                console.print("backfill interrupted: every stored session is complete; the next `up` fills the rest")
                return
        dagster = None if no_dagster else _start_dagster(settings, host, dagster_port)
        try:
            rag = _start_rag_export(settings, store, active, rag_sessions) if rag_sessions and active else None
            asyncio.run(_serve(settings, store, host, port, not no_stream, dagster_port if dagster else None))
            if rag is not None and rag.is_alive():
                console.print("waiting for the background RAG export to finish…")
                rag.join(timeout=60)
        finally:
            if dagster is not None:
                _stop_process(dagster)
    finally:
        store.close()


def _backfill(settings: Any, store: Any, symbols: list[str], days: int) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from jonbu_core import calendar, ingest

    today = datetime.now(UTC).date()
    sessions = calendar.sessions(today - timedelta(days=days * 2 + 10), today - timedelta(days=1), settings.exchange)
    sessions = sessions[-days:]
    if not sessions:
        return
    # Only sessions with no bar at all count as missing: a real feed legitimately lacks some
    # minutes, and those sessions must not be asked for again on every start. (A session is
    # written in one commit, so an interrupted backfill leaves whole sessions or none.)
    missing = sum(len(sessions) - len(store.stored_days(s, "1m", sessions[0], sessions[-1])) for s in symbols)
    if not missing:
        return  # already there (sessions stored by an earlier `up` are skipped, never fetched twice)
    console.print(
        f"Backfilling {len(sessions)} sessions of mock 1m history for {', '.join(symbols)} "
        f"({sessions[0]} → {sessions[-1]})"
    )
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("backfill", total=len(symbols) * len(sessions))

        def on_progress(event: Any) -> None:
            progress.advance(task, 1)

        ingest.fetch(
            store,
            _provider(settings),
            symbols,
            "1m",
            sessions[0],
            sessions[-1],
            progress=on_progress,
        )


def _start_rag_export(settings: Any, store: Any, symbols: list[str], sessions: int) -> threading.Thread | None:
    """Export narratives of the last ``sessions`` sessions (1h) when the RAG index is empty."""
    from jonbu_core import calendar
    from jonbu_core.rag.factory import open_rag_store

    try:
        if open_rag_store(settings).count() > 0:
            return None
    except Exception:  # an unreadable index is re-exported (merge on the key)
        logger.warning("RAG index unreadable; exporting again", exc_info=True)
    last = store.latest_bar(symbols[0], "1m")
    if last is None:
        return None
    end = calendar.exchange_date(last.ts)
    days = calendar.sessions(end - timedelta(days=sessions * 2 + 10), end, settings.exchange)[-sessions:]
    if not days:
        return None

    def run() -> None:
        from jonbu_core.rag.export import export_rag

        try:
            summary = export_rag(settings, symbols, "1h", days[0], days[-1], store=store)
            logger.info("RAG export for search done: %s", summary)
        except Exception:
            logger.exception("background RAG export failed; run `jonbu-ohlcv export rag` by hand")

    thread = threading.Thread(target=run, name="rag-export", daemon=True)
    thread.start()
    console.print(f"Exporting narratives of {len(days)} sessions (1h) for search in the background")
    return thread


def _provider(settings: Any) -> Any:
    from jonbu_core.providers.factory import open_provider

    return open_provider(settings)


def _start_dagster(settings: Any, host: str, port: int) -> subprocess.Popen[bytes] | None:
    home = settings.data_dir.resolve() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DAGSTER_HOME=str(home), JONBU_DATA_DIR=str(settings.data_dir.resolve()))
    log = (home / "dagster-dev.log").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-m", "jonbu_pipelines.definitions",
             "-h", host, "-p", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except OSError as exc:
        err_console.print(f"[yellow]warning:[/] could not start Dagster: {exc}")
        return None


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _server_class() -> Any:
    from jonbu_api.server import Server as ApiServer

    class Server(ApiServer):
        """The API's server (1001 to WebSocket clients on shutdown, GC frozen after start-up),
        minus uvicorn's habit of re-raising SIGTERM after shutdown.

        uvicorn re-raises the captured signal once it has stopped, which kills the
        process (exit 143) before the stream daemon is flushed. Here a signal only
        asks the server to exit; ``up`` then stops everything else and exits 0.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            loop = asyncio.get_running_loop()
            sigs = (signal.SIGINT, signal.SIGTERM)
            for sig in sigs:
                loop.add_signal_handler(sig, self._on_signal, sig)
            try:
                yield
            finally:
                for sig in sigs:
                    loop.remove_signal_handler(sig)

        def _on_signal(self, sig: int) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    return Server


async def _serve(
    settings: Any, store: Any, host: str, port: int, stream: bool, dagster_port: int | None
) -> None:
    import uvicorn

    from jonbu_api.main import create_app
    from jonbu_core.bus.factory import open_bus

    bus = open_bus(settings)
    await bus.start()
    daemon = None
    if stream:
        from jonbu_stream.daemon import StreamDaemon

        daemon = StreamDaemon(settings, store, bus)
    async def on_reload(result: Any) -> dict[str, Any]:
        """A reload of the API (SIGHUP, POST /api/v1/admin/reload) reaches the in-process stream."""
        return {"stream": await daemon.reload(result.settings)} if daemon is not None else {}

    app = create_app(settings, store=store, bus=bus, stream_status=daemon.status if daemon else None,
                     on_reload=on_reload, extra_metrics=[daemon.metrics.registry] if daemon else [])
    server = _server_class()(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", ws_per_message_deflate=False,
                       timeout_graceful_shutdown=10)
    )
    daemon_task = asyncio.create_task(daemon.run(), name="stream") if daemon else None

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        console.print(f"[bold green]jonbu-ohlcv is up[/]  dashboard + API: http://{host}:{port}/  "
                      f"(docs: http://{host}:{port}/docs)")
        if dagster_port:
            console.print(f"Dagster UI: http://{host}:{dagster_port}/ (starting in the background)")
        console.print("Press Ctrl-C to stop.")

    announcer = asyncio.create_task(announce())
    try:
        await server.serve()
    finally:
        announcer.cancel()
        if daemon is not None:
            await daemon.stop()
        if daemon_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(daemon_task, timeout=15)
        await bus.close()
