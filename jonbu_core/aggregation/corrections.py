"""Trade corrections and cancels (Alpaca's ``c`` and ``x`` messages).

The aggregator keeps a log of recently accepted trades (``correction_window``
seconds of event time, at most ``correction_max_trades``). A correction or cancel
of trade *i* then:

* finds *i* in the log (by symbol and trade id, else by time, price and size) and
  replaces or removes it;
* for every timeframe whose bar holding *i* is still live: when the log holds all of
  that bar's trades (the bar starts after the oldest trade ever evicted), the bar is
  rebuilt from the log exactly; otherwise its volume, trade count and VWAP are
  adjusted exactly by difference and its high/low extended by a corrected price —
  if the removed print had set the open, high, low or close, that value cannot be
  recomputed and the correction is counted as *inexact*;
* a changed closed bar is published as a revision, a changed open bar as a partial.

With the default window the 1-minute bars (the ones persisted) are always rebuilt
exactly while they are revisable. A correction of a trade whose bars are all sealed
is counted as *unapplied* (the REST reconciliation after a reconnect, or a later
historical backfill, repairs stored bars).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from jonbu_core.aggregation.builder import group_trades, labels_for
from jonbu_core.aggregation.pool import CLOSED
from jonbu_core.aggregation.types import F64, I32, I64, KIND_REVISION

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


class TradeLog:
    """Recently accepted trades, chunked per batch (see the module docstring)."""

    def __init__(self, window_ns: int, max_trades: int) -> None:
        self.window_ns = window_ns
        self.max_trades = max_trades
        self.enabled = window_ns > 0 and max_trades > 0
        self.chunks: list[_Chunk] = []
        self.size = 0
        self.floor = np.iinfo(np.int64).min
        """Every trade ever evicted has an event time at or below this."""
        self._seq = 0

    def append(self, sym: I32, ts: I64, price: F64, size: F64, ids: I64 | None, clock: int) -> None:
        """Keep a batch of accepted trades; evict what fell out of the window."""
        n = ts.shape[0]
        seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        tid = ids if ids is not None else np.full(n, -1, np.int64)
        self.chunks.append(_Chunk(sym, ts, price.copy(), size.copy(), tid, np.ones(n, np.bool_), seq, clock))
        self.size += n
        limit = clock - self.window_ns
        while self.chunks and (self.chunks[0].max_clock < limit or self.size > self.max_trades):
            old = self.chunks.pop(0)
            self.size -= old.ts.shape[0]
            if old.ts.shape[0]:
                self.floor = max(self.floor, int(old.ts.max()))
        if len(self.chunks) > 512:
            self._compact()

    def _compact(self) -> None:
        cs = self.chunks
        def cat(f: str) -> np.ndarray:
            return np.concatenate([getattr(c, f) for c in cs])

        self.chunks = [_Chunk(sym=cat("sym"), ts=cat("ts"), price=cat("price"), size=cat("size"), ids=cat("ids"),
                              alive=cat("alive"), seq=cat("seq"), max_clock=max(c.max_clock for c in cs))]

    def find(self, sid: int, trade_id: int | None, ts: int, price: float, size: float) -> tuple[int, int] | None:
        """``(chunk, index)`` of a live trade, or ``None``."""
        for ci in range(len(self.chunks) - 1, -1, -1):
            c = self.chunks[ci]
            m = (c.sym == sid) & c.alive
            if trade_id is not None and trade_id >= 0:
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
    minute = ts_arr - ts_arr % (60 * 10**9)
    changed: list[int] = []
    exact = True
    any_live = False
    for ti, tf in enumerate(agg.timeframes):
        label = labels_for(tf, minute, agg.days)
        row = int(pool.find(pool.key_of(np.array([sid], np.int32), ti, label))[0])
        if row < 0:
            continue
        any_live = True
        if hit is not None and int(pool.label[row]) > log.floor:
            t, p, s = log.trades_of(sid, int(pool.label[row]), int(pool.end[row]))
            if t.shape[0] == 0:
                if pool.state[row] != CLOSED:
                    pool.remove(row)
                    continue
                pool.volume[row] = pool.pv[row] = 0.0
                pool.count[row] = 0
            else:
                g = group_trades(np.full(t.shape[0], sid, np.int32), t, p, s, step_ns=1 << 62)
                pool.open[row], pool.high[row], pool.low[row], pool.close[row] = g.open[0], g.high[0], g.low[0], g.close[0]
                pool.volume[row], pool.pv[row], pool.count[row] = g.volume[0], g.pv[0], g.count[0]
                pool.tfirst[row], pool.tlast[row] = g.tfirst[0], g.tlast[0]
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
    for row in changed:
        if pool.state[row] == CLOSED:
            pool.rev[row] += 1
            agg.revisions += 1
            agg._emit(np.array([row], np.int64), KIND_REVISION)
        else:
            pool.dirty[row] = True
    if not any_live:
        agg.corrections.unapplied += 1
        return "unapplied"
    if exact:
        agg.corrections.applied += 1
        return "applied"
    agg.corrections.inexact += 1
    return "inexact"


__all__ = ["CorrectionStats", "TradeLog", "apply_correction"]
