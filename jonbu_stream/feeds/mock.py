"""The live mock feed: synthetic trades in real time, at any hour of any day.

Each symbol's price continues a geometric Brownian motion in real (wall-clock) time
from a start price — the close of its latest stored bar when the daemon passes one,
else the symbol's ``s0`` — with the drift and volatility of
:meth:`jonbu_core.providers.mock.MockMarket.params`, scaled to trading time (252
sessions of 6.5 hours a year), so a minute of the live feed moves like a minute of
the mock history. Unlike the historical mock market it ignores the exchange
calendar on purpose: the demo runs on weekends and at night too.

The rate is ``load_mock_speed(settings)`` trades per second across all symbols
(``jonbu-ohlcv mock speed N`` changes it while the feed runs; it is re-read every
two seconds), shared between symbols in proportion to their ``trades_per_minute``.
Trades are generated vectorised per tick (10 ms by default), stamped with the wall
clock, sized log-normally around the symbol's mean size, and rounded to cents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import numpy as np

from jonbu_core.aggregation.types import NS, TradeBatch
from jonbu_core.providers.mock import MockMarket
from jonbu_core.providers.mock_config import load_mock_speed
from jonbu_core.settings import Settings
from jonbu_stream.feeds.base import FeedSink

logger = logging.getLogger(__name__)

_TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600


class MockLiveFeed:
    """Live synthetic trades (see the module docstring).

    Parameters
    ----------
    settings : Settings
        ``mock_seed``, ``mock_speed`` and the data dir (for ``mock speed``).
    symbols : list of str
        Symbols to trade.
    start_prices : dict, optional
        Price each symbol continues from (e.g. its latest stored close).
    tick : float
        Seconds between generated batches.
    speed : float, optional
        Fixed trades/s (otherwise :func:`load_mock_speed`, re-read while running).
    """

    name = "mock"
    finite = False

    def __init__(
        self,
        settings: Settings,
        symbols: list[str],
        *,
        start_prices: dict[str, float] | None = None,
        tick: float = 0.01,
        speed: float | None = None,
    ) -> None:
        self.settings = settings
        self.symbols: list[str] = []
        self.price: np.ndarray = np.empty(0)
        self._last_ts: np.ndarray = np.empty(0, np.int64)
        self.market = MockMarket(settings.mock_seed, settings.exchange)
        self._sink: FeedSink | None = None
        self._ids: list[int] = []
        self._configure(list(symbols), start_prices or {}, time.time_ns())
        self.tick = tick
        self.fixed_speed = speed
        self.speed = float(speed) if speed else load_mock_speed(settings)
        self.rng = np.random.default_rng([settings.mock_seed, int(time.time())])
        self._stopped = asyncio.Event()
        self._next_id = 1
        self.generated = 0
        self.connected = False

    def _configure(self, symbols: list[str], start: dict[str, float], now: int) -> None:
        """Per-symbol model arrays for ``symbols``; ``start`` prices win, then prices of
        symbols already trading, then each symbol's own start price."""
        old = {s: (float(self.price[i]), int(self._last_ts[i])) for i, s in enumerate(self.symbols)} \
            if self.symbols else {}
        params = [self.market.params(s) for s in symbols]
        self.symbols = symbols
        self.price = np.array([float(start.get(p.symbol) or old.get(p.symbol, (p.s0, 0))[0]) for p in params])
        self.drift = np.array([p.drift for p in params])
        self.vol = np.array([p.volatility for p in params])
        self.mean_size = np.array([p.mean_size for p in params])
        w = np.array([p.trades_per_minute for p in params], dtype=np.float64)
        self.trades_per_minute = w
        self.weights = w / w.sum() if w.sum() > 0 else np.full(len(params), 1.0 / max(1, len(params)))
        self._last_ts = np.array([old.get(s, (0.0, now))[1] for s in symbols], dtype=np.int64)
        if self._sink is not None:
            self._ids = [self._sink.symbols.add(s) for s in symbols]

    async def set_symbols(self, symbols: list[str], start_prices: dict[str, float] | None = None) -> bool:
        """Trade ``symbols`` from the next tick on (an added symbol starts at its price in
        ``start_prices``, e.g. its latest stored close, else at its model price)."""
        self._configure(list(symbols), start_prices or {}, time.time_ns())
        return True

    def clock(self) -> int | None:
        """Wall clock (trades are stamped with it)."""
        return time.time_ns()

    def status(self) -> dict[str, Any]:
        """Rate and counters."""
        return {"kind": self.name, "connected": self.connected, "speed": self.speed, "generated": self.generated,
                "symbols": self.symbols}

    async def stop(self) -> None:
        """Stop generating."""
        self._stopped.set()

    def generate(self, t0: int, t1: int, n: int, ids: list[int]) -> TradeBatch:
        """``n`` trades with times in ``[t0, t1)`` (sorted), symbol ids ``ids`` per symbol index."""
        k = len(self.symbols)
        which = self.rng.choice(k, size=n, p=self.weights) if k > 1 else np.zeros(n, np.int64)
        ts = np.sort(self.rng.integers(t0, max(t1, t0 + 1), size=n, dtype=np.int64))
        order = np.lexsort((ts, which))
        which_s, ts_s = which[order], ts[order]
        prev = np.empty(n, np.int64)
        prev[1:] = ts_s[:-1]
        first = np.ones(n, np.bool_)
        first[1:] = which_s[1:] != which_s[:-1]
        prev[first] = self._last_ts[which_s[first]]
        dt = np.maximum(ts_s - prev, 0) / NS / _TRADING_SECONDS_PER_YEAR
        sig = self.vol[which_s]
        step = (self.drift[which_s] - 0.5 * sig**2) * dt + sig * np.sqrt(dt) * self.rng.standard_normal(n)
        cum = np.cumsum(step)
        seg_start = np.flatnonzero(first)
        base = np.repeat(cum[seg_start] - step[seg_start], np.diff(np.append(seg_start, n)))
        rel = cum - base
        log_p = np.log(self.price[which_s]) + rel
        price = np.maximum(np.round(np.exp(log_p), 2), 0.01)
        last = np.append(seg_start[1:], n) - 1
        self.price[which_s[last]] = np.exp(log_p[last])
        self._last_ts[which_s[last]] = ts_s[last]
        # Scale sizes so a live minute carries the volume of a historical minute whatever
        # the tick rate (history: trades_per_minute trades of mean_size; live: speed·60·w).
        live_tpm = np.maximum(self.speed * 60.0 * self.weights[which_s], 1e-9)
        scale = self.trades_per_minute[which_s] / live_tpm
        raw = self.rng.lognormal(0.0, 0.8, n) * self.mean_size[which_s] / np.exp(0.32) * scale
        size = np.maximum(0.01, np.round(raw, 2))
        back = np.empty(n, np.int64)
        back[order] = np.arange(n)
        sid = np.asarray(ids, dtype=np.int32)[which_s]
        trade_id = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        # Arrival order is time order (what a real feed delivers).
        o2 = np.argsort(ts_s, kind="stable")
        return TradeBatch(sid[o2], ts_s[o2], price[o2], size[o2], trade_id)

    async def run(self, sink: FeedSink) -> None:
        """Generate trades every ``tick`` until stopped."""
        self._sink = sink
        self._ids = [sink.symbols.add(s) for s in self.symbols]
        self.connected = True
        sink.on_connected()
        last = time.time_ns()
        self._last_ts[:] = last
        credit = 0.0
        reread = time.monotonic() + 2.0
        try:
            while not self._stopped.is_set():
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), self.tick)
                if self._stopped.is_set():
                    break
                if self.fixed_speed is None and time.monotonic() >= reread:
                    self.speed = load_mock_speed(self.settings)
                    reread = time.monotonic() + 2.0
                now = time.time_ns()
                lam = self.speed * (now - last) / NS + credit
                n = int(self.rng.poisson(lam)) if lam < 1000 else round(lam)
                credit = 0.0 if lam < 1000 else lam - n
                if n > 0 and self.symbols:
                    batch = self.generate(last, now, n, self._ids)
                    self.generated += n
                    sink.on_trades(batch)
                last = now
        finally:
            self.connected = False


__all__ = ["MockLiveFeed"]
