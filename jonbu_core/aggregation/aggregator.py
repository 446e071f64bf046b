"""The candle aggregator: per-symbol, multi-timeframe bars from trades, with late data.

Semantics (every timeframe at once, per symbol):

* **Event-time clock.** Each symbol has a clock ``T``: the latest event time seen for
  it, or the wall-clock timer passed to :meth:`CandleAggregator.advance` when that
  is later (so a quiet symbol's bars still close).
* **Watermark.** ``W = T - allowed_lateness``. A trade with an event time below the
  watermark at its arrival is *late*: counted and dropped (from every timeframe,
  so the timeframes stay consistent with each other).
* **Close.** A bar ``[label, end)`` closes (a ``closed`` event, revision 0) as soon
  as ``T >= end``; it stays revisable while ``W < end``: an accepted trade that
  falls into it revises it (a ``revision`` event, revision 1, 2…). Once ``W >= end``
  it is sealed and forgotten.
* **Open/close by event time**: open is the earliest trade, close the latest (ties:
  the later arrival), whatever the arrival order.
* **Corrections and cancels** (:meth:`CandleAggregator.correct`) adjust the bar that
  holds the original trade; see :mod:`jonbu_core.aggregation.corrections`.

The hot path (:meth:`CandleAggregator.process`) is vectorised per batch: one stable
sort by symbol, a segmented running maximum for the watermark, one ``reduceat``
pass over the trades for 1-minute groups, then every higher timeframe from those
groups, and a vectorised merge into a pool of live bars keyed by
``(symbol, timeframe, label)``. Outputs are drained as columnar
:class:`~jonbu_core.aggregation.types.BarSnapshot`\\ s.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from jonbu_core.aggregation import corrections as _corr
from jonbu_core.aggregation.builder import (
    DayTable,
    Groups,
    ends_for,
    group_trades,
    labels_for,
    regroup,
)
from jonbu_core.aggregation.pool import OPEN, BarPool
from jonbu_core.aggregation.types import (
    F64,
    I32,
    I64,
    KIND_CLOSED,
    KIND_PARTIAL,
    KIND_REVISION,
    NS,
    BarSnapshot,
    SymbolTable,
    TradeBatch,
)
from jonbu_core.timeframe import STREAM_TIMEFRAMES, parse_timeframe

logger = logging.getLogger(__name__)

NEVER = np.iinfo(np.int64).min
FOREVER = np.iinfo(np.int64).max


def _segmented_cummax(ts: I64, seg_start: npt.NDArray[np.intp]) -> I64:
    """Running maximum of ``ts`` restarting at every index of ``seg_start``."""
    n = ts.shape[0]
    k = seg_start.shape[0]
    if k <= 1:
        return np.maximum.accumulate(ts)
    base = int(ts.min())
    rel = ts - base
    span = int(rel.max()) + 1
    if span < (1 << 62) // k:
        seg = np.zeros(n, dtype=np.int64)
        seg[seg_start[1:]] = span
        off = np.cumsum(seg)
        out: I64 = np.maximum.accumulate(rel + off) - off + base
        return out
    out = np.empty_like(ts)
    bounds = [*seg_start.tolist(), n]
    for a, b in itertools.pairwise(bounds):
        out[a:b] = np.maximum.accumulate(ts[a:b])
    return out


class CandleAggregator:
    """Multi-timeframe candles for many symbols, updated from batches of trades.

    Parameters
    ----------
    timeframes : sequence of str
        Timeframes to build (``1m`` is always built: the others derive from it).
    allowed_lateness : float
        Seconds a trade may arrive behind its symbol's clock and still count.
    symbols : SymbolTable, optional
        Shared symbol ids (feeds decode straight to these ids).
    correction_window : float
        Seconds of accepted trades kept to apply corrections/cancels exactly
        (0 disables the trade log; corrections then adjust sums only).
    correction_max_trades : int
        Upper bound on trades kept in that log (oldest dropped first).
    """

    def __init__(
        self,
        timeframes: Sequence[str] = STREAM_TIMEFRAMES,
        allowed_lateness: float = 5.0,
        symbols: SymbolTable | None = None,
        *,
        correction_window: float = 125.0,
        correction_max_trades: int = 2_000_000,
    ) -> None:
        tfs = [parse_timeframe(t) for t in timeframes]
        names = [t.name for t in tfs]
        if "1m" not in names:
            tfs.insert(0, parse_timeframe("1m"))
        tfs = sorted({t.name: t for t in tfs}.values(), key=lambda t: (not t.is_intraday, t.seconds))
        self.timeframes = tfs
        self.tf_names: list[str] = [t.name for t in tfs]
        self.emitted = np.array([t.name in names for t in tfs], dtype=np.bool_)
        self.lateness_ns = round(allowed_lateness * NS)
        self.symbols = symbols if symbols is not None else SymbolTable()
        self.days = DayTable()
        self.pool = BarPool(len(tfs))
        self._clock: I64 = np.full(0, NEVER, dtype=np.int64)
        self._next: I64 = np.full(0, FOREVER, dtype=np.int64)
        self.last_ts: I64 = np.full(0, NEVER, dtype=np.int64)
        self.last_price: F64 = np.zeros(0)
        self.late_by_symbol: I64 = np.zeros(0, dtype=np.int64)
        self._final: list[BarSnapshot] = []
        self.log = _corr.TradeLog(round(correction_window * NS), correction_max_trades)
        self.trades = 0
        self.accepted = 0
        self.late = 0
        self.invalid = 0
        self.bars_closed = 0
        self.revisions = 0
        self.corrections = _corr.CorrectionStats()

    # ------------------------------------------------------------ symbols
    def _ensure_symbols(self, n: int) -> None:
        have = self._clock.shape[0]
        if n <= have:
            return
        grow = max(n, 2 * have, 16) - have
        self._clock = np.concatenate([self._clock, np.full(grow, NEVER, np.int64)])
        self._next = np.concatenate([self._next, np.full(grow, FOREVER, np.int64)])
        self.last_ts = np.concatenate([self.last_ts, np.full(grow, NEVER, np.int64)])
        self.last_price = np.concatenate([self.last_price, np.zeros(grow)])
        self.late_by_symbol = np.concatenate([self.late_by_symbol, np.zeros(grow, np.int64)])

    def clock(self, sid: int) -> int | None:
        """Symbol ``sid``'s event-time clock (ns), or ``None`` before its first trade."""
        if sid >= self._clock.shape[0] or self._clock[sid] == NEVER:
            return None
        return int(self._clock[sid])

    # ----------------------------------------------------------- hot path
    def process(self, batch: TradeBatch) -> int:
        """Aggregate a batch of trades (in arrival order); returns how many were accepted.

        Invalid trades (non-finite or non-positive price, negative size) and late
        trades are counted and skipped.
        """
        n = len(batch)
        if n == 0:
            return 0
        self.trades += n
        sym, ts, px, sz, ids = batch.sym, batch.ts, batch.price, batch.size, batch.trade_id
        ok = np.isfinite(px) & (px > 0) & np.isfinite(sz) & (sz >= 0)
        if not ok.all():
            self.invalid += int(n - ok.sum())
            sym, ts, px, sz = sym[ok], ts[ok], px[ok], sz[ok]
            ids = None if ids is None else ids[ok]
            n = ts.shape[0]
            if n == 0:
                return 0
        lo, hi = int(sym.min()), int(sym.max())
        if lo < 0 or hi >= len(self.symbols):
            raise ValueError(f"trade batch has symbol ids outside [0, {len(self.symbols)})")
        self._ensure_symbols(hi + 1)
        if lo != hi:
            key = sym.astype(np.int16) if len(self.symbols) < 32767 else sym
            order = np.argsort(key, kind="stable")
            sym, ts, px, sz = sym[order], ts[order], px[order], sz[order]
            ids = None if ids is None else ids[order]
            change = np.flatnonzero(sym[1:] != sym[:-1]) + 1
            seg_start = np.concatenate([[0], change])
        else:
            seg_start = np.zeros(1, dtype=np.intp)
        seg_sym = sym[seg_start]
        seg_len = np.diff(np.append(seg_start, n))
        seg_end = seg_start + seg_len - 1
        running = _segmented_cummax(ts, seg_start)
        prev = self._clock[seg_sym]
        clock_t = np.maximum(running, np.repeat(prev, seg_len))
        self._clock[seg_sym] = clock_t[seg_end]
        self.last_ts[seg_sym] = ts[seg_end]
        self.last_price[seg_sym] = px[seg_end]
        accept = ts >= clock_t - self.lateness_ns
        n_ok = int(np.count_nonzero(accept))
        if n_ok < n:
            late = ~accept
            self.late += n - n_ok
            np.add.at(self.late_by_symbol, sym[late], 1)
            sym, ts, px, sz = sym[accept], ts[accept], px[accept], sz[accept]
            ids = None if ids is None else ids[accept]
        self.accepted += n_ok
        if n_ok:
            if n_ok > 1:
                back = ts[1:] < ts[:-1]
                if back.any() and (back & (sym[1:] == sym[:-1])).any():
                    order = np.lexsort((ts, sym))
                    sym, ts, px, sz = sym[order], ts[order], px[order], sz[order]
                    ids = None if ids is None else ids[order]
            if self.log.enabled:
                self.log.append(sym, ts, px, sz, ids, int(self._clock[seg_sym].max()))
            self._merge(group_trades(sym, ts, px, sz))
        self._transitions(seg_sym)
        return n_ok

    def process_bars(self, sym: I32, label: I64, open_: F64, high: F64, low: F64, close: F64,
                     volume: F64, count: I64, vwap: F64) -> None:
        """Aggregate finished 1-minute bars (replay of stored bars), in time order per symbol."""
        if label.shape[0] == 0:
            return
        self._ensure_symbols(int(sym.max()) + 1)
        order = np.lexsort((label, sym))
        sym, label = sym[order], label[order]
        vw = np.where(np.isfinite(vwap[order]), vwap[order], close[order])
        vol = volume[order]
        end = label + 60 * NS - 1
        g = Groups(sym, label, open_[order], high[order], low[order], close[order], vol, vw * vol,
                   count[order], label, end)
        self._merge(g)
        seg_start = np.concatenate([[0], np.flatnonzero(sym[1:] != sym[:-1]) + 1])
        seg_end = np.append(seg_start[1:], sym.shape[0]) - 1
        segs = sym[seg_start]
        self._clock[segs] = np.maximum(self._clock[segs], end[seg_end])
        self.last_ts[segs] = end[seg_end]
        self.last_price[segs] = close[order][seg_end]
        self._transitions(segs)

    # --------------------------------------------------------------- merge
    def _merge(self, g1: Groups) -> None:
        parts: list[tuple[int, Groups, I64]] = []
        for ti, tf in enumerate(self.timeframes):
            g = g1 if ti == 0 else regroup(g1, labels_for(tf, g1.label, self.days))
            parts.append((ti, g, ends_for(tf, g.label, self.days)))
        touched_closed = self.pool.merge(parts)
        new_rows = self.pool.last_new_rows
        if new_rows.shape[0]:
            np.minimum.at(self._next, self.pool.sym[new_rows], self.pool.end[new_rows])
        if touched_closed.shape[0]:
            self.pool.rev[touched_closed] += 1
            self.revisions += int(touched_closed.shape[0])
            self._emit(touched_closed, KIND_REVISION)

    def _emit(self, rows: npt.NDArray[np.int64], kind: int) -> None:
        keep = self.emitted[self.pool.tf[rows]]
        if not keep.all():
            rows = rows[keep]
        if rows.shape[0]:
            self._final.append(self.pool.snapshot(rows, kind))

    # --------------------------------------------------------- transitions
    def _transitions(self, syms: I32 | None = None) -> None:
        if syms is None:
            due = bool((self._next <= self._clock).any())
        else:
            due = bool((self._next[syms] <= self._clock[syms]).any())
        if not due:
            return
        closed, sealed_any = self.pool.transitions(self._clock, self.lateness_ns)
        if closed.shape[0]:
            self.bars_closed += int(closed.shape[0])
            self._emit(closed, KIND_CLOSED)
        self._next.fill(FOREVER)
        rows = self.pool.live_rows()
        if rows.shape[0]:
            trans = np.where(self.pool.state[rows] == OPEN, self.pool.end[rows],
                             self.pool.end[rows] + self.lateness_ns)
            np.minimum.at(self._next, self.pool.sym[rows], trans)
        del sealed_any

    def advance(self, now_ns: int) -> None:
        """Move every symbol's clock to at least ``now_ns`` (the wall-clock timer).

        Bars whose end has passed close; bars past the allowed lateness are sealed.
        Call it periodically with the feed's estimated event time minus a small delay.
        """
        if self._clock.shape[0] == 0:
            return
        np.maximum(self._clock, now_ns, out=self._clock)
        self._transitions(None)

    def close_all(self) -> None:
        """Close and seal every live bar (end of a finite replay)."""
        self.advance(FOREVER - self.lateness_ns - 1)

    # -------------------------------------------------------------- output
    def drain_final(self) -> BarSnapshot:
        """Closed bars and revisions produced since the last call, in order."""
        out = BarSnapshot.concat(self._final)
        self._final = []
        return out

    def partials(self) -> BarSnapshot:
        """The open bars updated since the last call (clears their dirty flag)."""
        rows = self.pool.take_dirty()
        keep = self.emitted[self.pool.tf[rows]]
        rows = rows[keep]
        return self.pool.snapshot(rows, KIND_PARTIAL)

    def open_bars(self) -> BarSnapshot:
        """Every live bar (open ones as partials, closed-but-revisable ones as closed)."""
        rows = self.pool.live_rows()
        rows = rows[self.emitted[self.pool.tf[rows]]]
        snap = self.pool.snapshot(rows, KIND_PARTIAL)
        snap.kind[self.pool.state[rows] != OPEN] = KIND_CLOSED
        return snap

    # --------------------------------------------------------- corrections
    def correct(self, sid: int, trade_id: int | None, ts_ns: int, price: float, size: float,
                new_price: float | None = None, new_size: float | None = None) -> str:
        """Apply a correction (``new_price``/``new_size`` given) or a cancel of one trade.

        Returns ``"applied"`` (every live bar adjusted exactly), ``"inexact"`` (sums
        exact, a high/low/open/close could not be recomputed) or ``"unapplied"`` (no
        live bar holds the trade any more).
        """
        if sid >= self._clock.shape[0]:
            self._ensure_symbols(sid + 1)
        return _corr.apply_correction(self, sid, trade_id, ts_ns, price, size, new_price, new_size)

    def stats(self) -> dict[str, int]:
        """Counters (trades seen/accepted/late/invalid, bars closed, revisions, live bars)."""
        return {
            "trades": self.trades, "accepted": self.accepted, "late": self.late, "invalid": self.invalid,
            "bars_closed": self.bars_closed, "revisions": self.revisions,
            "live_bars": int(self.pool.live_rows().shape[0]),
            "corrections_applied": self.corrections.applied, "corrections_inexact": self.corrections.inexact,
            "corrections_unapplied": self.corrections.unapplied,
        }


__all__ = ["CandleAggregator"]
