"""Trade corrections and cancels (Alpaca's ``c`` and ``x`` messages).

The aggregator keeps a log of recently accepted trades (``correction_window``
seconds of event time, at most ``correction_max_trades``). A correction or cancel
of trade *i* then:

* finds *i* in the log (by symbol and trade id, else by time, price and size) and
  replaces or removes it;
* its 1-minute bar is rebuilt from the log exactly when the log holds all of that
  minute's trades (the minute starts after the newest trade ever evicted) — in the
  pool if the minute is still live, else in the minute ledger
  (:mod:`~jonbu_core.aggregation.ledger`: sealed minutes kept while a higher bar
  holding them is live; a sealed minute is not re-published);
* every live higher-timeframe bar holding *i* (5m, 15m, 1h, 1d…) is then recomputed
  from its 1-minute bars (the pool's live minutes plus the ledger's sealed ones), so
  it is exact whatever the print had set — open, high, low or close — as long as
  the ledger still holds every minute of the bar (it does unless it overflowed
  ``ledger_max_rows``);
* otherwise (the trade is no longer in the log, or the ledger lost minutes of the
  bar) the bar's volume, trade count and VWAP are adjusted exactly by difference and
  its high/low extended by a corrected price — if the removed print had set the
  open, high, low or close, that value cannot be recomputed and the correction is
  counted as *inexact*;
* a changed closed bar is published as a revision, a changed open bar as a partial.

With the default window every live bar is recomputed exactly while the corrected
trade's minute is in the log (``correction_window``, 125 s of event time). A
correction of a trade whose bars are all sealed is counted as *unapplied* (the REST
reconciliation after a reconnect, or a later historical backfill, repairs stored
bars).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from jonbu_core.aggregation.builder import MINUTE_NS, group_trades, labels_for
from jonbu_core.aggregation.pool import CLOSED
from jonbu_core.aggregation.types import F64, I32, I64

if TYPE_CHECKING:
    from jonbu_core.aggregation.aggregator import CandleAggregator


@dataclass
class CorrectionStats:
    """How corrections/cancels went."""

    applied: int = 0
    inexact: int = 0
    unapplied: int = 0


@dataclass(slots=True)
class _Chunk:
    sym: I32
    ts: I64
    price: F64
    size: F64
    ids: I64
    alive: np.ndarray
    seq: I64
    max_clock: int
    tmin: int
    tmax: int
    """The chunk's earliest and latest event times (lookups skip chunks outside their time)."""
    level: int = 0
    """0: one batch; k: the merge of ``MERGE_FANOUT`` chunks of level k - 1."""


MERGE_FANOUT = 16
"""Batches, or chunks of one level, merged into one chunk of the next level (see :class:`TradeLog`)."""
MERGE_MAX_TRADES = 16_384
"""No merge makes a chunk larger than this: a merge stays under ~0.1 ms (it may run on the hot path)."""


def _concat(run: list[_Chunk]) -> _Chunk:
    """One chunk of the trades of ``run``, a level above its first."""
    def cat(f: str) -> np.ndarray:
        return np.concatenate([getattr(c, f) for c in run])

    return _Chunk(sym=cat("sym"), ts=cat("ts"), price=cat("price"), size=cat("size"), ids=cat("ids"),
                  alive=cat("alive"), seq=cat("seq"), max_clock=max(c.max_clock for c in run),
                  tmin=min(c.tmin for c in run), tmax=max(c.tmax for c in run), level=run[0].level + 1)


MERGE_BACKLOG = 16 * MERGE_FANOUT
"""Unmerged batches after which :meth:`TradeLog.append` merges them itself (see :meth:`TradeLog.maintain`)."""


class TradeLog:
    """Recently accepted trades, chunked per batch (see the module docstring).

    One chunk per appended batch would leave tens of thousands of chunks in the window
    (the live stream appends a few hundred batches a second), and merging them all now
    and then stalls the stream for milliseconds. Instead, like an LSM tree, every
    ``MERGE_FANOUT`` batches are merged into one chunk, and every ``MERGE_FANOUT``
    trailing chunks of one level into one of the next level, as long as it stays under
    ``MERGE_MAX_TRADES``: a merge copies at most that many trades, and the window holds
    a few hundred chunks at most. Eviction is per chunk, from the oldest.

    Merging is off the hot path when the owner calls :meth:`maintain` now and then (the
    stream daemon does, from its timer, between frames); :meth:`append` merges by itself
    only past ``MERGE_BACKLOG`` unmerged batches.
    """

    def __init__(self, window_ns: int, max_trades: int) -> None:
        self.window_ns = window_ns
        self.max_trades = max_trades
        self.enabled = window_ns > 0 and max_trades > 0
        self._merged: list[_Chunk] = []
        self._recent: list[_Chunk] = []
        """Batches not merged yet (all newer than the merged chunks)."""
        self.size = 0
        self.floor = np.iinfo(np.int64).min
        """Every trade ever evicted has an event time at or below this."""
        self._seq = 0

    @property
    def chunks(self) -> list[_Chunk]:
        """Every chunk, oldest first (what :meth:`find` indexes)."""
        return self._merged + self._recent

    def append(self, sym: I32, ts: I64, price: F64, size: F64, ids: I64 | None, clock: int, *,
               owned: bool = False, t_range: tuple[int, int] | None = None) -> None:
        """Keep a batch of accepted trades; evict what fell out of the window.

        ``owned``: ``price`` and ``size`` are the caller's fresh copies (they are kept
        as they are; otherwise they are copied, since corrections change them in place).
        ``t_range``: ``(ts.min(), ts.max())`` when the caller knows them.
        """
        n = ts.shape[0]
        if n == 0:
            return
        tmin, tmax = t_range if t_range is not None else (int(ts.min()), int(ts.max()))
        seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        tid = ids if ids is not None else np.full(n, -1, np.int64)
        if not owned:
            price, size = price.copy(), size.copy()
        recent = self._recent
        recent.append(_Chunk(sym, ts, price, size, tid, np.ones(n, np.bool_), seq, clock, tmin, tmax))
        self.size += n
        limit = clock - self.window_ns
        merged = self._merged
        while (merged or recent) and ((merged or recent)[0].max_clock < limit or self.size > self.max_trades):
            old = (merged or recent).pop(0)
            self.size -= old.ts.shape[0]
            self.floor = max(self.floor, old.tmax)
        if len(recent) >= MERGE_BACKLOG:
            self.maintain()

    def maintain(self) -> None:
        """Merge the batches appended since the last call (in groups of ``MERGE_FANOUT``), then
        trailing chunks level by level (see the class docstring)."""
        recent = self._recent
        while len(recent) >= MERGE_FANOUT:
            group = recent[:MERGE_FANOUT]
            del recent[:MERGE_FANOUT]
            if sum(c.ts.shape[0] for c in group) <= MERGE_MAX_TRADES:
                self._merged.append(_concat(group))
            else:  # big batches: chunks enough as they are
                self._merged.extend(group)
            self._merge_tail()

    def _merge_tail(self) -> None:
        cs = self._merged
        while cs:
            level = cs[-1].level
            k, total = 0, 0
            for c in reversed(cs):
                if c.level != level or k == MERGE_FANOUT:
                    break
                k += 1
                total += c.ts.shape[0]
            if k < MERGE_FANOUT or total > MERGE_MAX_TRADES:
                return
            cs[-k:] = [_concat(cs[-k:])]


    def find(self, sid: int, trade_id: int | None, ts: int, price: float, size: float) -> tuple[int, int] | None:
        """``(chunk, index)`` of a live trade, or ``None``.

        Newest chunks first, those whose time span holds ``ts`` first; by trade id, the
        others too (a correction's time of the original trade could be off).
        """
        by_id = trade_id is not None and trade_id >= 0
        chunks = self.chunks
        order = range(len(chunks) - 1, -1, -1)
        near = [ci for ci in order if chunks[ci].tmin <= ts <= chunks[ci].tmax]
        rest = [ci for ci in order if not chunks[ci].tmin <= ts <= chunks[ci].tmax] if by_id else []
        for ci in near + rest:
            c = chunks[ci]
            m = (c.sym == sid) & c.alive
            if by_id:
                m &= c.ids == trade_id
            else:
                m &= (c.ts == ts) & (c.price == price) & (c.size == size)
            hit = np.flatnonzero(m)
            if hit.shape[0]:
                return ci, int(hit[0])
        return None

    def trades_of(self, sid: int, start: int, end: int) -> tuple[I64, F64, F64]:
        """Live logged trades of ``sid`` with ``start <= ts < end``, by (ts, arrival)."""
        ts_l, px_l, sz_l, seq_l = [], [], [], []
        for c in self.chunks:
            if c.tmax < start or c.tmin >= end:
                continue
            m = (c.sym == sid) & c.alive & (c.ts >= start) & (c.ts < end)
            if m.any():
                ts_l.append(c.ts[m])
                px_l.append(c.price[m])
                sz_l.append(c.size[m])
                seq_l.append(c.seq[m])
        if not ts_l:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        ts, px, sz, seq = (np.concatenate(x) for x in (ts_l, px_l, sz_l, seq_l))
        o = np.lexsort((seq, ts))
        return ts[o], px[o], sz[o]


def apply_correction(
    agg: CandleAggregator,
    sid: int,
    trade_id: int | None,
    ts: int,
    price: float,
    size: float,
    new_price: float | None,
    new_size: float | None,
) -> str:
    """See :meth:`CandleAggregator.correct`."""
    cancel = new_price is None
    if new_price is not None and (new_size is None or not np.isfinite(new_price) or new_price <= 0 or new_size < 0):
        agg.corrections.unapplied += 1
        return "unapplied"
    log = agg.log
    hit = log.find(sid, trade_id, ts, price, size) if log.enabled else None
    if hit is not None:
        c = log.chunks[hit[0]]
        if cancel:
            c.alive[hit[1]] = False
        else:
            c.price[hit[1]] = new_price
            c.size[hit[1]] = new_size
    pool = agg.pool
    ts_arr = np.array([ts], np.int64)
    minute = int(ts_arr[0] - ts_arr[0] % MINUTE_NS)
    changed: list[int] = []
    exact = True
    any_live = False
    # The minute first: rebuilt from the log when the log holds all its trades (exact), else adjusted.
    minute_exact = hit is not None and minute > log.floor
    row1 = int(pool.find(pool.key_of(np.array([sid], np.int32), 0, np.array([minute], np.int64)))[0])
    if minute_exact:
        t, p, s = log.trades_of(sid, minute, minute + MINUTE_NS)
        g = group_trades(np.full(t.shape[0], sid, np.int32), t, p, s, step_ns=1 << 62) if t.shape[0] else None
        if row1 >= 0:
            any_live = True
            if g is None:
                if pool.state[row1] != CLOSED:
                    pool.remove(row1)
                else:
                    pool.volume[row1] = pool.pv[row1] = 0.0
                    pool.count[row1] = 0
                    changed.append(row1)
            else:
                pool.set_values(row1, g)
                changed.append(row1)
        elif agg.ledger is not None and g is not None:
            g.label[:] = minute
            agg.ledger.set_minute(sid, minute, g)
        elif agg.ledger is not None:
            agg.ledger.set_minute(sid, minute, None)
    for ti, tf in enumerate(agg.timeframes):
        if ti == 0 and minute_exact:
            continue
        label = labels_for(tf, ts_arr - ts_arr % MINUTE_NS, agg.days)
        row = int(pool.find(pool.key_of(np.array([sid], np.int32), ti, label))[0])
        if row < 0:
            continue
        any_live = True
        if minute_exact and agg.can_rebuild(row):
            # Exact: the bar is recomputed from its 1-minute bars (live ones and the ledger's sealed ones).
            if not agg.rebuild(row) and pool.state[row] != CLOSED:
                continue
        else:
            add_s = 0.0 if cancel else float(new_size or 0.0)
            add_p = 0.0 if cancel else float(new_price or 0.0)
            at_edge = price in (pool.high[row], pool.low[row]) or ts in (pool.tfirst[row], pool.tlast[row])
            pool.volume[row] = max(0.0, pool.volume[row] - size + add_s)
            pool.pv[row] = pool.pv[row] - price * size + add_p * add_s
            if cancel:
                pool.count[row] = max(0, pool.count[row] - 1)
            else:
                pool.high[row] = max(pool.high[row], add_p)
                pool.low[row] = min(pool.low[row], add_p)
            if at_edge and (cancel or add_p != price):
                exact = False
        changed.append(row)
    agg._touched(changed)
    if not any_live:
        agg.corrections.unapplied += 1
        return "unapplied"
    if exact:
        agg.corrections.applied += 1
        return "applied"
    agg.corrections.inexact += 1
    return "inexact"


__all__ = ["CorrectionStats", "TradeLog", "apply_correction"]
