"""The stream daemon: feed → aggregator → sinks (bus, store), with recovery and status.

One process handles every symbol it streams: the aggregator is vectorised over
symbols, so a single event loop goes past 250k trades/s. To spread symbols over
processes, run several daemons with disjoint ``--symbols`` on the Redis bus.

Flow: the feed calls :meth:`StreamDaemon.on_trades` for each received frame (or
burst of frames); the
trades are aggregated at once, closed bars and revisions are queued for the bus
and the store, and partial bars are taken at most every ``partial_interval``. A
timer advances the event clock (so quiet symbols' bars close) and flushes partials;
a stats task publishes :meth:`StreamDaemon.status` on the bus and updates the
Prometheus metrics; the gap backfiller recovers missed minutes from REST after a
reconnect or a restart. :meth:`StreamDaemon.stop` (SIGTERM/SIGINT under
:func:`run_daemon`) stops the feed and flushes every closed bar before returning.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.aggregation import CandleAggregator, SymbolTable, TradeBatch
from jonbu_core.aggregation.types import NS, ns_to_datetime
from jonbu_core.errors import ProviderAuthError
from jonbu_core.heap import freeze_gc, unfreeze_gc
from jonbu_core.settings import Settings
from jonbu_core.timeframe import STREAM_TIMEFRAMES
from jonbu_stream.backfill import GapBackfiller
from jonbu_stream.feeds import Feed, FeedFatalError, feed_kind, open_feed
from jonbu_stream.metrics import StreamMetrics
from jonbu_stream.sinks import BusSink, StoreSink

logger = logging.getLogger(__name__)

_NEVER = int(np.iinfo(np.int64).min)


class StreamDaemon:
    """The streaming daemon (see the module docstring).

    Parameters
    ----------
    settings : Settings
        Runtime settings (lateness, feed, partial interval, watchdog…).
    store : BarStore
        Where closed 1m bars go (``source`` = ``stream``).
    bus : EventBus
        Where every update goes (started by the caller).
    feed : Feed, optional
        The feed (default: :func:`~jonbu_stream.feeds.open_feed` from settings).
    symbols : list of str, optional
        Symbols (default: the store's active symbols, else ``JONBU_SYMBOLS``).
    provider_factory : callable, optional
        Opens the REST provider for gap backfill (default: Alpaca for the ``alpaca``
        feed, none otherwise: the mock and replay feeds have no gaps to recover).
    """

    def __init__(
        self,
        settings: Settings,
        store: Any,
        bus: Any,
        feed: Feed | None = None,
        *,
        symbols: Sequence[str] | None = None,
        timeframes: Sequence[str] = STREAM_TIMEFRAMES,
        partial_interval: float | None = None,
        timer_delay: float = 1.0,
        timer_interval: float = 0.25,
        stats_interval: float = 1.0,
        flush_interval: float = 1.0,
        persist: Sequence[str] = ("1m",),
        provider_factory: Callable[[], Any] | str | None = "auto",
        backfill_settle: float | None = None,
        future_tolerance: float = 300.0,
        correction_window: float = 125.0,
        gc_freeze: bool = True,
        busy_poll: float | None = None,
    ) -> None:
        self.settings, self.store, self.bus, self.feed = settings, store, bus, feed
        self._symbols_arg = list(symbols) if symbols else None
        self.symbols = SymbolTable()
        self.active: list[str] = []
        """The symbols streamed now (the table keeps every symbol ever seen)."""
        self.agg = CandleAggregator(timeframes, settings.allowed_lateness_seconds, self.symbols,
                                    correction_window=correction_window)
        tfs = self.agg.tf_names
        self.partial_ns = int((settings.stream_partial_interval if partial_interval is None
                               else partial_interval) * NS)
        self.timer_delay_ns = int(timer_delay * NS)
        self.timer_interval, self.stats_interval = timer_interval, stats_interval
        self.future_ns = int(future_tolerance * NS)
        self.metrics = StreamMetrics()
        self.bus_sink = BusSink(bus, self.symbols, tfs, on_latency=self._observe)
        self.store_sink = StoreSink(store, self.symbols, tfs, persist=persist, flush_interval=flush_interval)
        self._provider_factory = provider_factory
        self._settle = settings.allowed_lateness_seconds + 2.0 if backfill_settle is None else backfill_settle
        self.backfill: GapBackfiller | None = None
        self._offset: int | None = None
        self._pending_ts: list[np.ndarray] = []
        self._last_partial = 0
        self._resume = False
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._running = False
        self._fatal: str | None = None
        self._started = datetime.now(UTC)
        self._rate: collections.deque[tuple[float, int]] = collections.deque(maxlen=16)
        self.provider_bars = 0
        self.future = 0
        self.gc_freeze = gc_freeze
        self.backfill_rebuilt = 0
        self.backfill_inexact = 0
        self._froze = False
        self._gc_before = (700, 10, 10)
        self.busy_poll_ns = int((settings.stream_busy_poll_seconds if busy_poll is None else busy_poll) * NS)
        self._last_trade = 0
        self._spin_wake: asyncio.Event | None = asyncio.Event() if self.busy_poll_ns else None

    # --------------------------------------------------------------- clock
    def event_clock(self) -> int | None:
        """The feed's current event time (epoch ns), estimated from the wall clock when needed."""
        c = self.feed.clock() if self.feed is not None else None
        if c is None and self._offset is not None:
            c = time.time_ns() + self._offset
        return c

    def _observe(self, lat: np.ndarray) -> None:
        self.metrics.observe_latency(lat)

    # ---------------------------------------------------------- feed sink
    def on_trades(self, batch: TradeBatch) -> None:
        """Aggregate a batch of trades and queue what it produced."""
        now = time.time_ns()
        if len(batch) == 0:
            return
        t_max = int(batch.ts.max())
        if self.future_ns and t_max > now + self.future_ns:
            ok = batch.ts <= now + self.future_ns
            self.future += int((~ok).sum())
            batch = batch.take(ok)
            if len(batch) == 0:
                return
            t_max = int(batch.ts.max())
        if self._resume and self.backfill is not None:
            self.backfill.data_resumed(int(batch.ts.min()))
            self._resume = False
        self._offset = t_max - now
        self._last_trade = now
        wake = self._spin_wake
        if wake is not None and not wake.is_set():
            wake.set()
        self.agg.process(batch)
        self._pending_ts.append(batch.ts)
        self._emit(now)

    def on_minute_bars(self, table: pa.Table) -> None:
        """Aggregate finished minute bars (replay of stored bars)."""
        sid = np.array([self.symbols.add(s) for s in table.column("symbol").to_pylist()], np.int32)
        col = {c: table.column(c).to_numpy(zero_copy_only=False) for c in ("open", "high", "low", "close", "volume")}
        label = table.column("ts").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy()
        n = table.column("trade_count").fill_null(0).to_numpy().astype(np.int64)
        vw = table.column("vwap").to_numpy(zero_copy_only=False).astype(np.float64)
        self.agg.process_bars(sid, label, col["open"], col["high"], col["low"], col["close"], col["volume"], n, vw)
        self._emit(time.time_ns())

    def on_backfill(self, table: pa.Table) -> None:
        """REST-recovered 1m bars: rebuild the live higher-timeframe bars that hold them."""
        table = table.filter(pc.and_(pc.is_valid(table.column("open")), pc.is_valid(table.column("close"))))
        if table.num_rows == 0:
            return
        sid = np.array([self.symbols.add(s) for s in table.column("symbol").to_pylist()], np.int32)
        col = {c: table.column(c).fill_null(np.nan).to_numpy().astype(np.float64)
               for c in ("open", "high", "low", "close", "volume", "vwap")}
        label = table.column("ts").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy()
        n = table.column("trade_count").fill_null(0).to_numpy().astype(np.int64)
        res = self.agg.replace_minutes(sid, label, col["open"], col["high"], col["low"], col["close"],
                                       col["volume"], n, col["vwap"])
        self.backfill_rebuilt += res["rebuilt"]
        self.backfill_inexact += res["inexact"]
        self._emit(time.time_ns())

    def on_bars(self, bars: pa.Table) -> None:
        """Provider minute bars (``b``/``u``): stored as provider bars."""
        self.provider_bars += bars.num_rows
        self.store_sink.add(bars)

    def on_correction(self, sid: int, trade_id: int | None, ts_ns: int, price: float, size: float,
                      new_price: float | None, new_size: float | None) -> None:
        """Apply a correction or cancel."""
        self.agg.correct(sid, trade_id, ts_ns, price, size, new_price, new_size)
        self._emit(time.time_ns())

    def on_connected(self) -> None:
        """Feed (re)connected: a pending gap ends with the next trade."""
        if self.backfill is not None and any(g.end is None for g in self.backfill.gaps):
            self._resume = True

    def on_disconnected(self, reason: str) -> None:
        """Feed lost: open a gap at the last trade seen."""
        last = self.agg.last_ts[: len(self.symbols)]
        if self.backfill is not None and last.shape[0] and last.max() > np.iinfo(np.int64).min:
            self.backfill.open_gap(int(last[last > np.iinfo(np.int64).min].max()), f"disconnect: {reason}")

    def on_end(self) -> None:
        """End of a finite feed: close every bar."""
        self.agg.close_all()
        self._emit(time.time_ns(), force=True)

    def _emit(self, now: int, force: bool = False) -> None:
        final = self.agg.drain_final()
        partials = None
        stamps: list[np.ndarray] = []
        if force or now - self._last_partial >= self.partial_ns:
            partials = self.agg.partials()
            self._last_partial = now
            stamps, self._pending_ts = self._pending_ts, []
        self.bus_sink.offer(final, partials, stamps)
        self.store_sink.offer(final)

    # ----------------------------------------------------------- lifecycle
    async def _setup(self) -> None:
        syms = self._symbols_arg
        if syms is None:
            infos = await asyncio.to_thread(self.store.list_symbols, True)
            syms = [i.symbol for i in infos] or self.settings.symbol_list
        for s in syms:
            self.symbols.add(s)
        self.active = list(syms)
        kind = self.feed.name if self.feed is not None else feed_kind(self.settings)
        if self.feed is None:
            prices = await asyncio.to_thread(self._latest_closes, syms) if kind == "mock" else None
            self.feed = open_feed(self.settings, kind, symbols=list(syms), store=self.store, start_prices=prices)
        factory = self._provider_factory
        if factory == "auto":
            factory = self._alpaca_provider if kind == "alpaca" else None
        if callable(factory):
            self.backfill = GapBackfiller(factory, lambda: list(self.active), self.store_sink, self.bus_sink,
                                          settle=self._settle, max_gap=self.settings.stream_max_gap_hours * 3600,
                                          on_bars=self.on_backfill)
            latest = await asyncio.to_thread(self._latest_labels, syms)
            if latest:
                self.backfill.open_gap(min(latest), "restart")

    def _alpaca_provider(self) -> Any:
        from jonbu_core.providers.factory import open_provider

        return open_provider(self.settings, "alpaca")

    def _latest_closes(self, syms: Sequence[str]) -> dict[str, float]:
        out = {}
        for s in syms:
            bar = self.store.latest_bar(s, "1m")
            if bar is not None:
                out[s] = float(bar.close)
        return out

    def _latest_labels(self, syms: Sequence[str]) -> list[int]:
        out = []
        for s in syms:
            bar = self.store.latest_bar(s, "1m")
            if bar is not None:
                out.append(int(bar.ts.timestamp()) * NS)
        return out

    def _freeze_heap(self) -> None:
        """Move every object alive now out of the garbage collector's reach and make collections
        rarer (:func:`jonbu_core.heap.freeze_gc`).

        A full (generation 2) collection walks every tracked object: with NumPy,
        PyArrow, Polars and pydantic loaded that is 60–150 ms on this kind of machine,
        an event-loop stall that showed up as the whole p99 of trade-to-bus latency
        (130 ms at 50k trades/s); with the default thresholds young collections hit
        more than 1% of the frames. :meth:`run` unfreezes on the way out.
        """
        self._gc_before = freeze_gc()
        self._froze = True

    async def _busy_poll(self, wake: asyncio.Event) -> None:
        """Keep the event loop polling, never sleeping, while trades flow (``stream_busy_poll_seconds``).

        A task that yields at once, every turn: the loop then polls its sockets with a
        zero timeout instead of sleeping until data arrives. The next frame is read the
        moment it lands, on a core whose caches still hold the hot path; a sleeping core
        (a halted virtual CPU, most of all) first has to wake and refill them, which cost
        about as much as the processing itself (measured in ``bench/stream.py``). Parks
        on ``wake`` (set by the next trade) once no trade came for the window.
        """
        window = self.busy_poll_ns
        while True:
            if time.time_ns() - self._last_trade > window:
                wake.clear()
                await wake.wait()
            await asyncio.sleep(0)

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self.timer_interval)
            c = self.event_clock()
            if c is not None:
                self.agg.advance(c - self.timer_delay_ns)
            self._emit(time.time_ns())
            self.agg.maintain()  # between frames: the trade log's merges stay off the hot path

    async def _stats(self) -> None:
        while True:
            await self._publish_stats()
            await asyncio.sleep(self.stats_interval)

    async def _publish_stats(self) -> None:
        s = self.status()
        self.metrics.update(s)
        try:
            await self.bus.publish_stats(s)
        except Exception as exc:
            logger.debug("could not publish stream stats: %s", exc)

    async def run(self) -> None:
        """Stream until :meth:`stop` (or the end of a finite feed); then flush and return.

        Raises
        ------
        ProviderAuthError
            When the feed refuses us for good (bad keys, feed not in the plan).
        """
        self._running = True
        self._done.clear()
        tasks: list[asyncio.Task[Any]] = []
        try:
            await self._setup()
            assert self.feed is not None
            if self.gc_freeze:
                self._freeze_heap()
            tasks = [asyncio.create_task(c, name=n) for n, c in (
                ("bus-sink", self.bus_sink.run()), ("store-sink", self.store_sink.run()),
                ("timer", self._timer()), ("stats", self._stats()))]
            if self.backfill is not None:
                tasks.append(asyncio.create_task(self.backfill.run(self.event_clock), name="backfill"))
            if self._spin_wake is not None:
                tasks.append(asyncio.create_task(self._busy_poll(self._spin_wake), name="busy-poll"))
            feed_task = asyncio.create_task(self.feed.run(self), name="feed")
            stop_task = asyncio.create_task(self._stop.wait())
            await asyncio.wait({feed_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            stop_task.cancel()
            if not feed_task.done():
                await self.feed.stop()
                with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(feed_task), 5)
            if feed_task.done() and not feed_task.cancelled() and feed_task.exception() is not None:
                exc = feed_task.exception()
                self._fatal = str(exc)
                if isinstance(exc, FeedFatalError):
                    raise ProviderAuthError(str(exc)) from exc
                raise exc  # type: ignore[misc]
            feed_task.cancel()
        finally:
            await self._shutdown(tasks)

    async def _shutdown(self, tasks: list[asyncio.Task[Any]]) -> None:
        try:
            self._emit(time.time_ns(), force=True)
            if not await self.bus_sink.drain(5.0):
                logger.warning("stopping with %d closed bars not published", len(self.bus_sink.final))
            for attempt in range(3):
                try:
                    await self.store_sink.flush()
                    break
                except Exception as exc:
                    logger.warning("final store flush failed (attempt %d): %s", attempt + 1, exc)
                    await asyncio.sleep(0.5)
            self._running = False
            await self._publish_stats()
        finally:
            self._running = False
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            if self.backfill is not None:
                await asyncio.to_thread(self.backfill.close)
            if self._froze:
                unfreeze_gc(self._gc_before)
                self._froze = False
            self._done.set()

    async def reload(self, settings: Settings) -> dict[str, Any]:
        """Apply a configuration reload: follow the symbol registry (else ``JONBU_SYMBOLS``).

        Added symbols are subscribed to (their bars start with their first trade); removed
        ones are unsubscribed and their live bars close on the timers as usual. Symbols
        fixed with ``--symbols`` do not change.

        Parameters
        ----------
        settings : Settings
            The reloaded settings (see :func:`jonbu_core.reload.reload_settings`).

        Returns
        -------
        dict
            ``{"symbols", "added", "removed"}`` and ``"note"`` when nothing could change.
        """
        self.settings = settings
        if self._symbols_arg is not None:
            return {"symbols": list(self.active), "added": [], "removed": [],
                    "note": "symbols fixed by --symbols"}
        infos = await asyncio.to_thread(self.store.list_symbols, True)
        wanted = [i.symbol for i in infos] or settings.symbol_list
        added = [s for s in wanted if s not in self.active]
        removed = [s for s in self.active if s not in wanted]
        if not added and not removed:
            return {"symbols": list(self.active), "added": [], "removed": []}
        feed = self.feed
        if feed is None:  # not started: _setup reads the registry itself
            return {"symbols": wanted, "added": added, "removed": removed}
        prices = await asyncio.to_thread(self._latest_closes, added) if feed.name == "mock" else None
        changed = await feed.set_symbols(wanted, start_prices=prices)
        if not changed:
            return {"symbols": list(self.active), "added": [], "removed": [],
                    "note": f"the {feed.name} feed cannot change its symbols while running"}
        for s in added:
            self.symbols.add(s)
        self.active = list(wanted)
        logger.info("stream symbols reloaded: +%s -%s", ",".join(added) or "none", ",".join(removed) or "none")
        return {"symbols": list(self.active), "added": added, "removed": removed}

    async def stop(self) -> None:
        """Stop gracefully: stop the feed, flush closed bars to the bus and the store."""
        self._stop.set()
        if self._running:
            await self._done.wait()

    # -------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        """Throughput, lag, per-symbol last trade, feed state, queues and drops."""
        a = self.agg
        now_m = time.monotonic()
        self._rate.append((now_m, a.trades))
        t0, n0 = self._rate[0]
        rate = (a.trades - n0) / (now_m - t0) if now_m - t0 > 0.5 else 0.0
        names = self.symbols.names
        # Python scalars in one go: the stats task builds this every second, on the event loop of the stream.
        k = min(len(names), a.last_ts.shape[0])
        last = {}
        newest: int | None = None
        for s, t, px in zip(names[:k], a.last_ts[:k].tolist(), a.last_price[:k].tolist(), strict=True):
            if t > _NEVER:
                last[s] = {"ts": ns_to_datetime(t).isoformat().replace("+00:00", "Z"), "price": px}
                if newest is None or t > newest:
                    newest = t
        clock = self.event_clock()
        feed = self.feed.status() if self.feed is not None else {"kind": None, "connected": False}
        closed_q, partial_q = self.bus_sink.depth
        healthy = feed.get("connected", False) and not self.bus_sink.final and self._fatal is None
        st = "ok" if healthy else ("down" if self._fatal or not self._running else "degraded")
        out: dict[str, Any] = {"error": self._fatal} if self._fatal else {}
        return out | {
            "status": st, "running": self._running,
            "started_at": self._started.isoformat().replace("+00:00", "Z"),
            "uptime_s": round((datetime.now(UTC) - self._started).total_seconds(), 1),
            "feed": feed, "bus": getattr(self.bus, "name", "?"), "store": getattr(self.store, "name", "?"),
            "symbols": list(self.active) or names, "timeframes": [t for t, e in zip(a.tf_names, a.emitted, strict=True) if e],
            "allowed_lateness_s": self.settings.allowed_lateness_seconds,
            "throughput": {"trades_per_s": round(rate, 1)},
            "lag_s": None if newest is None else round((time.time_ns() - newest) / NS, 3),
            "event_clock": None if clock is None else ns_to_datetime(clock).isoformat().replace("+00:00", "Z"),
            "trades": {"total": a.trades, "accepted": a.accepted, "late": a.late,
                       "invalid": a.invalid + self.future},
            "bars_closed": a.bars_closed, "revisions": a.revisions, "live_bars": int(a.pool.live_rows().shape[0]),
            "corrections": {"applied": a.corrections.applied, "inexact": a.corrections.inexact,
                            "unapplied": a.corrections.unapplied},
            "provider_bars": self.provider_bars,
            "queues": {"bus_closed": closed_q, "bus_partial": partial_q, "store": self.store_sink.rows},
            "dropped": {"partials": self.bus_sink.dropped_partials},
            "published": self.bus_sink.published, "stored": self.store_sink.written,
            "latency_ms": self.bus_sink.latency.percentiles(),
            "hot_path": {"native_aggregation": a.fast is not None, "batches": a.batches,
                         "native_batches": 0 if a.fast is None else a.fast.hits,
                         "busy_poll_s": self.busy_poll_ns / NS},
            "last_trade": last,
            "backfill": (self.backfill.status() | {"higher_bars_rebuilt": self.backfill_rebuilt,
                                                    "higher_bars_inexact": self.backfill_inexact}
                         if self.backfill is not None else {"enabled": False}),
            "errors": {"bus": self.bus_sink.last_error, "store": self.store_sink.last_error},
        }


async def _serve(settings: Settings, stop_requested: Callable[[], bool] | None = None) -> None:
    from jonbu_core.bus.factory import open_bus
    from jonbu_core.stores.factory import open_store

    store = await asyncio.to_thread(open_store, settings)
    bus = open_bus(settings)
    await bus.start()
    daemon = StreamDaemon(settings, store, bus)
    install_signal_handlers(daemon)
    if stop_requested is not None and stop_requested():
        await daemon.stop()  # a signal came during start-up: run() flushes nothing and returns
    if settings.stream_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.stream_metrics_port, registry=daemon.metrics.registry)
    try:
        await daemon.run()
    finally:
        await bus.close()
        await asyncio.to_thread(store.close)


def install_signal_handlers(daemon: StreamDaemon) -> None:
    """SIGTERM/SIGINT stop ``daemon`` gracefully; SIGHUP reloads the configuration.

    For a process that runs the daemon alone (``jonbu-ohlcv stream``); call it from
    the running event loop.
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(daemon.stop()))
    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = asyncio.ensure_future(_reload(daemon))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    logger.debug("signal handlers installed: SIGTERM/SIGINT stop the stream, SIGHUP reloads the configuration")


async def _reload(daemon: StreamDaemon) -> None:
    """``SIGHUP``: re-read the env file, apply the log level and the symbols (never raises)."""
    from jonbu_core.logging import set_log_level
    from jonbu_core.reload import reload_settings

    try:
        result = await asyncio.to_thread(reload_settings, daemon.settings)
        if "log_level" in result.changed:
            set_log_level(result.settings.log_level)
        out = await daemon.reload(result.settings)
    except Exception as exc:  # a bad env file must not stop the stream
        logger.error("configuration reload (SIGHUP) failed, nothing changed: %s", exc)
        return
    logger.info("configuration reload (SIGHUP): changed=%s restart_required=%s symbols=%s",
                sorted(result.changed), result.restart_required, out)


def run_daemon(settings: Settings, stop_requested: Callable[[], bool] | None = None) -> None:
    """Run the daemon in this process until SIGTERM/SIGINT (what ``jonbu-ohlcv stream`` calls).

    ``stop_requested`` tells whether a stop signal arrived before the event loop's
    handlers were installed (``python -m jonbu_stream`` catches them from its first line).
    """
    asyncio.run(_serve(settings, stop_requested))


__all__ = ["StreamDaemon", "install_signal_handlers", "run_daemon"]
