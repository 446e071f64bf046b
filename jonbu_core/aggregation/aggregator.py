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

import collections
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
from jonbu_core.aggregation.fast import FastPath
from jonbu_core.aggregation.fast import available as fast_available
from jonbu_core.aggregation.ledger import MinuteLedger
from jonbu_core.aggregation.pool import CLOSED, OPEN, BarPool
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
_NO_BARS = BarSnapshot.empty()
_NO_ROWS = np.zeros(0, np.int64)
TS_START, TS_END = 14 * 86400 * NS, ((1 << 32) - 14 * 86400) * NS
"""Event times must lie in ``[TS_START, TS_END)`` (1970-01-15 to 2106-01-24): the pool keys a bar by its
label in whole seconds in 32 bits (:meth:`~jonbu_core.aggregation.pool.BarPool.key_of`), and a day or
week bar starts up to a week before its trades."""


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


def _snapshot(g: Groups, ti: int) -> BarSnapshot:
    """Bars outside the pool (sealed ones recomputed by a backfill) as revision 1."""
    n = len(g)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(g.volume > 0, np.clip(g.pv / np.where(g.volume > 0, g.volume, 1.0), g.low, g.high), np.nan)
    return BarSnapshot(g.sym.copy(), np.full(n, ti, np.int8), g.label.copy(), g.open, g.high, g.low, g.close,
                       g.volume, g.count, vwap, np.ones(n, np.int32), np.full(n, KIND_REVISION, np.int8))


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
    ledger_max_rows : int
        Upper bound on sealed 1-minute bars kept to recompute live higher-timeframe
        bars exactly (:mod:`~jonbu_core.aggregation.ledger`; 0 disables it).
    ledger_grace : float
        Seconds of event time the minutes of a *sealed* higher-timeframe bar stay in the
        ledger (a REST gap backfill that lands just after the bar was sealed — the gap
        ended on its boundary — can still recompute it exactly).
    native : bool
        Use the C fast path for the batches it can take (:mod:`~jonbu_core.aggregation.fast`;
        the same results bit for bit). ``False`` runs every batch through NumPy.
    """

    def __init__(
        self,
        timeframes: Sequence[str] = STREAM_TIMEFRAMES,
        allowed_lateness: float = 5.0,
        symbols: SymbolTable | None = None,
        *,
        correction_window: float = 125.0,
        correction_max_trades: int = 2_000_000,
        ledger_max_rows: int = 5_000_000,
        ledger_grace: float = 300.0,
        native: bool = True,
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
        # The rows of each symbol's latest minute in every timeframe (see _merge_cached).
        self._cur_min: I64 = np.full(0, NEVER, dtype=np.int64)
        self._cur_rows: npt.NDArray[np.int64] = np.zeros((0, len(tfs)), dtype=np.int64)
        self._cur_gen = -1
        self._final: list[BarSnapshot] = []
        self.log = _corr.TradeLog(round(correction_window * NS), correction_max_trades)
        self.ledger: MinuteLedger | None = MinuteLedger(ledger_max_rows) if len(tfs) > 1 and ledger_max_rows else None
        self.ledger_grace_ns = round(ledger_grace * NS)
        self._sealed: collections.deque[tuple[int, int]] = collections.deque()
        """``(clock, earliest label)`` of recently sealed higher-timeframe bars (see ``ledger_grace``)."""
        self.trades = 0
        self.batches = 0
        """Non-empty batches processed (:attr:`fast` counts those it took)."""
        self.accepted = 0
        self.late = 0
        self.invalid = 0
        self.bars_closed = 0
        self.revisions = 0
        self.corrections = _corr.CorrectionStats()
        self.fast: FastPath | None = FastPath(self) if native and fast_available() else None
        """The C fast path (``None``: not built, or turned off)."""

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
        self._cur_min = np.concatenate([self._cur_min, np.full(grow, NEVER, np.int64)])
        self._cur_rows = np.concatenate([self._cur_rows, np.zeros((grow, self._cur_rows.shape[1]), np.int64)])

    def clock(self, sid: int) -> int | None:
        """Symbol ``sid``'s event-time clock (ns), or ``None`` before its first trade."""
        if sid >= self._clock.shape[0] or self._clock[sid] == NEVER:
            return None
        return int(self._clock[sid])

    # ----------------------------------------------------------- hot path
    def process(self, batch: TradeBatch) -> int:
        """Aggregate a batch of trades (in arrival order); returns how many were accepted.

        Invalid trades (non-finite or non-positive price, negative size, an event time
        outside [1970-01-15, 2106): see :data:`TS_START`) and late trades are counted and skipped.
        """
        n = len(batch)
        if n == 0:
            return 0
        self.batches += 1
        if self.fast is not None and self.pool.frees == self._cur_gen:
            got = self.fast.process(batch, len(self.symbols), self.lateness_ns)
            if got is not None:
                (f_sym, f_ts, f_px, f_sz, f_ids), due, max_clock, t_range = got
                self.trades += n
                self.accepted += n
                if self.log.enabled:
                    self.log.append(f_sym, f_ts, f_px, f_sz, f_ids, max_clock, owned=True, t_range=t_range)
                self.pool.last_new_rows = _NO_ROWS
                if due:
                    self._transition()
                return n
        self.trades += n
        sym, ts, px, sz, ids = batch.sym, batch.ts, batch.price, batch.size, batch.trade_id
        # Six reductions decide the usual all-valid case (NaN fails every comparison); the mask otherwise.
        if not (px.min() > 0 and px.max() < np.inf and sz.min() >= 0 and sz.max() < np.inf
                and ts.min() >= TS_START and ts.max() < TS_END):
            ok = np.isfinite(px) & (px > 0) & np.isfinite(sz) & (sz >= 0) & (ts >= TS_START) & (ts < TS_END)
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
            change = (sym[1:] != sym[:-1]).nonzero()[0]
            bounds = np.empty(change.shape[0] + 2, np.intp)
            bounds[0] = 0
            bounds[1:-1] = change + 1
        else:
            bounds = np.empty(2, np.intp)
            bounds[0] = 0
        bounds[-1] = n
        seg_start = bounds[:-1]
        seg_sym = sym[seg_start]
        seg_len = bounds[1:] - seg_start
        seg_end = bounds[1:] - 1
        # Out of order within a symbol? (Nearly never: then each symbol's running maximum is its ts.)
        disorder = False
        if n > 1:
            back = ts[1:] < ts[:-1]
            disorder = bool(back.any()) and bool((back & (sym[1:] == sym[:-1])).any())
        running = _segmented_cummax(ts, seg_start) if disorder else ts
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
            if disorder and n_ok > 1:
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
        if self._merge_cached(g1):
            return
        parts: list[tuple[int, Groups, I64]] = []
        for ti, tf in enumerate(self.timeframes):
            g = g1 if ti == 0 else regroup(g1, labels_for(tf, g1.label, self.days))
            parts.append((ti, g, ends_for(tf, g.label, self.days)))
        touched_closed = self.pool.merge(parts)
        self._cache_rows(g1, parts)
        new_rows = self.pool.last_new_rows
        if new_rows.shape[0]:
            np.minimum.at(self._next, self.pool.sym[new_rows], self.pool.end[new_rows])
        if touched_closed.shape[0]:
            self.pool.rev[touched_closed] += 1
            self.revisions += int(touched_closed.shape[0])
            self._emit(touched_closed, KIND_REVISION)

    def _cache_rows(self, g1: Groups, parts: list[tuple[int, Groups, I64]]) -> None:
        """Remember the rows of each symbol's latest minute of ``g1`` in every timeframe (after a merge)."""
        pool = self.pool
        if pool.frees != self._cur_gen:
            self._cur_min.fill(NEVER)
            self._cur_gen = pool.frees
        rows = pool.last_rows
        k = len(g1)
        if k == 0:
            return
        last1 = np.flatnonzero(np.append(g1.sym[1:] != g1.sym[:-1], True))
        out = np.empty((last1.shape[0], len(parts)), np.int64)
        off = 0
        for ti, g, _ in parts:
            # Groups are sorted by (symbol, label) and every part holds the same symbols: the last
            # group of a symbol in a coarser part is the bar holding its last minute.
            n = len(g)
            last = last1 if g is g1 else np.flatnonzero(np.append(g.sym[1:] != g.sym[:-1], True))
            out[:, ti] = rows[off + last]
            off += n
        syms = g1.sym[last1]
        self._cur_min[syms] = g1.label[last1]
        self._cur_rows[syms] = out

    def _merge_cached(self, g1: Groups) -> bool:
        """Fast path of :meth:`_merge` (small batches, the live stream): one minute per symbol, and that
        minute's bars are the open ones cached by the last merge — every timeframe is then updated at
        once as a (symbols × timeframes) block of rows, with the same operations as :meth:`BarPool.merge`
        (the coarser groups of ``g1`` are ``g1`` itself). Returns ``False`` (nothing done) otherwise.
        """
        pool = self.pool
        if pool.frees != self._cur_gen:
            return False
        sym = g1.sym
        k = sym.shape[0]
        if k == 0 or (k > 1 and not bool((sym[1:] != sym[:-1]).all())):
            return False
        if not np.array_equal(self._cur_min[sym], g1.label):
            return False
        rows = self._cur_rows[sym]
        if not bool((pool.state[rows] == OPEN).all()):
            return False
        shape = rows.shape
        high = pool.high[rows]
        pool.high[rows] = np.maximum(high, g1.high[:, None])
        low = pool.low[rows]
        pool.low[rows] = np.minimum(low, g1.low[:, None])
        pool.volume[rows] += g1.volume[:, None]
        pool.pv[rows] += g1.pv[:, None]
        pool.count[rows] += g1.count[:, None]
        earlier = g1.tfirst[:, None] < pool.tfirst[rows]
        if earlier.any():
            re = rows[earlier]
            pool.open[re] = np.broadcast_to(g1.open[:, None], shape)[earlier]
            pool.tfirst[re] = np.broadcast_to(g1.tfirst[:, None], shape)[earlier]
        later = g1.tlast[:, None] >= pool.tlast[rows]
        if later.all():
            pool.close[rows] = g1.close[:, None]
            pool.tlast[rows] = g1.tlast[:, None]
        else:
            rl = rows[later]
            pool.close[rl] = np.broadcast_to(g1.close[:, None], shape)[later]
            pool.tlast[rl] = np.broadcast_to(g1.tlast[:, None], shape)[later]
        pool.dirty[rows] = True
        pool.last_new_rows = np.zeros(0, np.int64)
        return True

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
        if due:
            self._transition()

    def _transition(self) -> None:
        """Close and seal what the clocks have passed; recompute each symbol's next transition time."""
        closed, gone = self.pool.transitions(self._clock, self.lateness_ns)
        if closed.shape[0]:
            self.bars_closed += int(closed.shape[0])
            self._emit(closed, KIND_CLOSED)
        if gone.shape[0] and self.ledger is not None:
            minutes = gone[self.pool.tf[gone] == 0]
            if minutes.shape[0]:
                self.ledger.add(self.pool.groups(minutes))
            now = int(self._clock.max())
            sealed = gone[self.pool.tf[gone] > 0]
            if sealed.shape[0]:
                self._sealed.append((now, int(self.pool.label[sealed].min())))
            while self._sealed and self._sealed[0][0] < now - self.ledger_grace_ns:
                self._sealed.popleft()
            keep = [label for _, label in self._sealed]
            live = self.pool.krow
            higher = live[self.pool.tf[live] > 0]
            if higher.shape[0]:
                keep.append(int(self.pool.label[higher].min()))
            if keep:
                self.ledger.evict_before(min(keep))
        self._next.fill(FOREVER)
        rows = self.pool.live_rows()
        if rows.shape[0]:
            trans = np.where(self.pool.state[rows] == OPEN, self.pool.end[rows],
                             self.pool.end[rows] + self.lateness_ns)
            np.minimum.at(self._next, self.pool.sym[rows], trans)

    def maintain(self) -> None:
        """Housekeeping to run between batches, off the hot path: merges the trade log's recent
        chunks (:meth:`~jonbu_core.aggregation.corrections.TradeLog.maintain`)."""
        if self.log.enabled:
            self.log.maintain()

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
        if not self._final:
            return _NO_BARS  # the usual case (called per frame): no 12 empty arrays each time
        out = BarSnapshot.concat(self._final)
        self._final = []
        return out

    def partials(self) -> BarSnapshot:
        """The open bars updated since the last call (clears their dirty flag)."""
        if self.fast is not None:
            snap = self.fast.partials()
            if snap is not None:
                return snap
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

    # ------------------------------------------------- rebuilds from minutes
    def minutes_of(self, sid: int, start: int, end: int) -> Groups:
        """Every 1-minute bar of ``sid`` in ``[start, end)``: live ones (pool) and sealed ones (ledger)."""
        live = self.pool.groups(self.pool.rows_between(sid, 0, start, end))
        if self.ledger is None:
            return live
        held = self.ledger.get(sid, start, end)
        if len(held) == 0:
            return live
        if len(live) == 0:
            return held
        cols = [np.concatenate([getattr(held, f), getattr(live, f)]) for f in Groups.__slots__]
        o = np.argsort(cols[1], kind="stable")
        return Groups(*(c[o] for c in cols))

    def can_rebuild(self, row: int) -> bool:
        """Whether live bar ``row`` (a higher timeframe) can be recomputed from its minutes."""
        return self.ledger is not None and self.ledger.covers(int(self.pool.label[row]))

    def rebuild(self, row: int) -> bool:
        """Recompute live bar ``row`` from its 1-minute bars (see :meth:`can_rebuild`).

        Returns ``False`` when no minute is left: an open bar is then removed, a closed
        one keeps its prices with zero volume and count.
        """
        pool = self.pool
        sid, start, end = int(pool.sym[row]), int(pool.label[row]), int(pool.end[row])
        g = self.minutes_of(sid, start, end)
        if len(g) == 0:
            if pool.state[row] != CLOSED:
                pool.remove(row)
                return False
            pool.volume[row] = pool.pv[row] = 0.0
            pool.count[row] = 0
            return False
        one = regroup(g, np.full(len(g), start, np.int64))
        pool.set_values(row, one)
        return True

    def _touched(self, rows: list[int]) -> None:
        """Publish changed live bars: closed ones as revisions, open ones as partials."""
        for row in dict.fromkeys(rows):
            if self.pool.state[row] == CLOSED:
                self.pool.rev[row] += 1
                self.revisions += 1
                self._emit(np.array([row], np.int64), KIND_REVISION)
            elif self.pool.state[row] == OPEN:
                self.pool.dirty[row] = True

    def replace_minutes(self, sym: I32, label: I64, open_: F64, high: F64, low: F64, close: F64, volume: F64,
                        count: I64, vwap: F64) -> dict[str, int]:
        """Put authoritative 1-minute bars in place of what was streamed (the REST gap backfill).

        Each minute replaces the streamed minute (live in the pool, or sealed in the
        ledger; added if the feed missed it), then every live higher-timeframe bar
        holding one of them is recomputed from its minutes, so a live 5m/15m/1h/1d
        bar after a reconnect includes the backfilled minutes. The 1-minute bars
        themselves are not emitted (the backfill publishes and stores them). A higher
        bar that is not live is computed from its minutes too: still revisable (the
        feed saw none of its trades), it joins the pool and closes as usual; already
        sealed (it ended during the gap and was closed with what was streamed), it is
        published as a revision (``revision`` 1: the count of a sealed bar is not
        kept). A bar that starts before what the ledger holds cannot be recomputed
        and is counted as ``inexact``.

        Returns counts: ``minutes``, ``rebuilt`` (higher bars recomputed), ``inexact``.
        """
        n = label.shape[0]
        out = {"minutes": n, "rebuilt": 0, "inexact": 0}
        if n == 0:
            return out
        self._ensure_symbols(int(sym.max()) + 1)
        vol = volume.astype(np.float64)
        vw = np.where(np.isfinite(vwap), vwap, close)
        g = Groups(sym.astype(np.int32), label.astype(np.int64), open_.astype(np.float64), high.astype(np.float64),
                   low.astype(np.float64), close.astype(np.float64), vol, vw * vol, count.astype(np.int64),
                   label.astype(np.int64), label + 60 * NS - 1)
        rows = self.pool.find(self.pool.key_of(g.sym, 0, g.label))
        live = rows >= 0
        for i in np.flatnonzero(live).tolist():
            self.pool.set_values(int(rows[i]), g, i)
        if self.ledger is not None and (~live).any():
            sealed = np.flatnonzero(~live)
            self.ledger.add(Groups(*(getattr(g, f)[sealed] for f in Groups.__slots__)), replace=True)
        touched: list[int] = []
        done: list[BarSnapshot] = []
        for ti in range(1, len(self.timeframes)):
            tf = self.timeframes[ti]
            hl = labels_for(tf, g.label, self.days)
            keys, first = np.unique(self.pool.key_of(g.sym, ti, hl), return_index=True)
            hk = self.pool.find(keys)
            for row in hk[hk >= 0].tolist():
                if self.can_rebuild(row):
                    self.rebuild(row)
                    out["rebuilt"] += 1
                    touched.append(row)
                else:
                    out["inexact"] += 1
            # Bars that are not live: never seen (every trade was in the gap) or already sealed.
            miss = first[hk < 0]
            if miss.shape[0] == 0:
                continue
            m_sym, m_label = g.sym[miss], hl[miss]
            m_end = ends_for(tf, m_label, self.days)
            parts = []
            for sid, start, end in zip(m_sym.tolist(), m_label.tolist(), m_end.tolist(), strict=True):
                if self.ledger is None or not self.ledger.covers(start):
                    out["inexact"] += 1
                    continue
                mins = self.minutes_of(sid, start, end)
                if len(mins):
                    parts.append(regroup(mins, np.full(len(mins), start, np.int64)))
                    out["rebuilt"] += 1
            if not parts:
                continue
            bars = Groups(*(np.concatenate([getattr(p, f) for p in parts]) for f in Groups.__slots__))
            ends = ends_for(tf, bars.label, self.days)
            past = ends + self.lateness_ns <= self._clock[bars.sym]
            if (~past).any():
                # Still revisable: into the pool as a new bar (closed by the next transitions if due).
                keep = ~past
                self.pool.merge([(ti, Groups(*(getattr(bars, f)[keep] for f in Groups.__slots__)), ends[keep])])
                new_rows = self.pool.last_new_rows
                if new_rows.shape[0]:
                    np.minimum.at(self._next, self.pool.sym[new_rows], self.pool.end[new_rows])
            if past.any() and self.emitted[ti]:
                done.append(_snapshot(Groups(*(getattr(bars, f)[past] for f in Groups.__slots__)), ti))
        self._touched(touched)
        for snap in done:
            self.revisions += len(snap)
            self._final.append(snap)
        self._transitions(None)
        return out

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
