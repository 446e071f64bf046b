"""The live bars of the aggregator: a pool of rows in NumPy arrays, indexed by key.

A row is one bar ``(symbol, timeframe, label)`` that is open, or closed but still
revisable. Rows are found through a sorted array of int64 keys
``(symbol * n_timeframes + timeframe) << 32 | label_seconds`` so that a whole batch
of partial bars is looked up with one ``searchsorted`` and merged with fancy
indexing, with no per-bar Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from jonbu_core.aggregation.builder import Groups
from jonbu_core.aggregation.types import F64, I64, NS, BarSnapshot

FREE, OPEN, CLOSED = 0, 1, 2
Rows = npt.NDArray[np.int64]

_F_FIELDS = ("open", "high", "low", "close", "volume", "pv")
_I_FIELDS = ("label", "end", "count", "tfirst", "tlast")


class BarPool:
    """Storage of live bars (see the module docstring)."""

    def __init__(self, n_timeframes: int, capacity: int = 256) -> None:
        self.n_tf = n_timeframes
        self.cap = 0
        self.sym = np.zeros(0, np.int32)
        self.tf = np.zeros(0, np.int8)
        self.state = np.zeros(0, np.int8)
        self.rev = np.zeros(0, np.int32)
        self.dirty = np.zeros(0, np.bool_)
        self.open: F64 = np.zeros(0)
        self.high: F64 = np.zeros(0)
        self.low: F64 = np.zeros(0)
        self.close: F64 = np.zeros(0)
        self.volume: F64 = np.zeros(0)
        self.pv: F64 = np.zeros(0)
        self.label: I64 = np.zeros(0, np.int64)
        self.end: I64 = np.zeros(0, np.int64)
        self.count: I64 = np.zeros(0, np.int64)
        self.tfirst: I64 = np.zeros(0, np.int64)
        self.tlast: I64 = np.zeros(0, np.int64)
        self._free: list[int] = []
        self.keys: I64 = np.zeros(0, np.int64)
        self.krow: Rows = np.zeros(0, np.int64)
        self.last_new_rows: Rows = np.zeros(0, np.int64)
        self.last_rows: Rows = np.zeros(0, np.int64)
        """Rows of every partial bar of the last :meth:`merge`, in input order."""
        self.frees = 0
        """Counts the times rows were freed (a row index cached elsewhere may then be reused)."""
        self._grow(capacity)

    # ---------------------------------------------------------------- rows
    def _grow(self, need: int) -> None:
        new_cap = max(need, 2 * self.cap, 256)
        add = new_cap - self.cap
        for name in ("sym", "tf", "state", "rev", "dirty", *_F_FIELDS, *_I_FIELDS):
            arr = getattr(self, name)
            setattr(self, name, np.concatenate([arr, np.zeros(add, arr.dtype)]))
        self._free.extend(range(new_cap - 1, self.cap - 1, -1))
        self.cap = new_cap

    def _alloc(self, k: int) -> Rows:
        if len(self._free) < k:
            self._grow(self.cap + k)
        rows = self._free[-k:]
        del self._free[-k:]
        return np.array(rows, dtype=np.int64)

    def key_of(self, sym: npt.NDArray[np.int32], tf: int | npt.NDArray[np.int8], label: I64) -> I64:
        """The index keys of bars."""
        slot = sym.astype(np.int64) * self.n_tf + np.asarray(tf, dtype=np.int64)
        out: I64 = (slot << 32) | (label // NS)
        return out

    def find(self, keys: I64) -> Rows:
        """Rows of ``keys`` (-1 where the bar is not live)."""
        if self.keys.shape[0] == 0:
            return np.full(keys.shape[0], -1, np.int64)
        idx = np.searchsorted(self.keys, keys)
        idc = np.minimum(idx, self.keys.shape[0] - 1)
        hit = self.keys[idc] == keys
        return np.where(hit, self.krow[idc], -1)

    def live_rows(self) -> Rows:
        """Every live row, in key order."""
        return self.krow

    # --------------------------------------------------------------- merge
    def merge(self, parts: Sequence[tuple[int, Groups, I64]]) -> Rows:
        """Merge partial bars ``(timeframe index, groups, ends)`` into the pool.

        Returns the rows of *closed* bars that changed (they need a revision).
        """
        tf = np.concatenate([np.full(len(g), ti, np.int8) for ti, g, _ in parts])
        sym = np.concatenate([g.sym for _, g, _ in parts])
        label = np.concatenate([g.label for _, g, _ in parts])
        cols = {f: np.concatenate([getattr(g, f) for _, g, _ in parts])
                for f in ("open", "high", "low", "close", "volume", "pv", "count", "tfirst", "tlast")}
        end = np.concatenate([e for _, _, e in parts])
        keys = self.key_of(sym, tf, label)
        rows = self.find(keys)
        found = rows >= 0
        touched_closed = np.zeros(0, np.int64)
        if found.any():
            r = rows[found]
            self.high[r] = np.maximum(self.high[r], cols["high"][found])
            self.low[r] = np.minimum(self.low[r], cols["low"][found])
            self.volume[r] += cols["volume"][found]
            self.pv[r] += cols["pv"][found]
            self.count[r] += cols["count"][found]
            first = cols["tfirst"][found]
            earlier = first < self.tfirst[r]
            if earlier.any():
                re = r[earlier]
                self.open[re] = cols["open"][found][earlier]
                self.tfirst[re] = first[earlier]
            last = cols["tlast"][found]
            later = last >= self.tlast[r]
            rl = r[later]
            self.close[rl] = cols["close"][found][later]
            self.tlast[rl] = last[later]
            is_closed = self.state[r] == CLOSED
            touched_closed = r[is_closed]
            self.dirty[r[~is_closed]] = True
        new = ~found
        k = int(np.count_nonzero(new))
        if k:
            nr = self._alloc(k)
            self.sym[nr] = sym[new]
            self.tf[nr] = tf[new]
            self.label[nr] = label[new]
            self.end[nr] = end[new]
            for f, v in cols.items():
                getattr(self, f)[nr] = v[new]
            self.state[nr] = OPEN
            self.rev[nr] = 0
            self.dirty[nr] = True
            nk = keys[new]
            o = np.argsort(nk)
            pos = np.searchsorted(self.keys, nk[o])
            self.keys = np.insert(self.keys, pos, nk[o])
            self.krow = np.insert(self.krow, pos, nr[o])
            self.last_new_rows = nr
            rows[new] = nr
        else:
            self.last_new_rows = np.zeros(0, np.int64)
        self.last_rows = rows
        return touched_closed

    # ---------------------------------------------------------- transitions
    def transitions(self, clock: I64, lateness_ns: int) -> tuple[Rows, Rows]:
        """Close rows whose end is at or before their symbol's clock; seal rows past the lateness.

        Returns the newly closed rows (in key order) and the sealed rows (freed: their
        values stay readable until the next merge allocates rows).
        """
        rows = self.krow
        if rows.shape[0] == 0:
            return rows, rows
        c = clock[self.sym[rows]]
        end = self.end[rows]
        to_close = (self.state[rows] == OPEN) & (end <= c)
        closed = rows[to_close]
        if closed.shape[0]:
            self.state[closed] = CLOSED
            self.dirty[closed] = False
        seal = end <= c - lateness_ns
        gone = rows[:0]
        if seal.any():
            gone = rows[seal]
            self.frees += 1
            self.state[gone] = FREE
            self.dirty[gone] = False
            self._free.extend(gone.tolist())
            keep = ~seal
            self.keys = self.keys[keep]
            self.krow = self.krow[keep]
        return closed, gone

    def take_dirty(self) -> Rows:
        """Live open rows changed since the last call (their flag is cleared)."""
        rows = self.krow
        if rows.shape[0] == 0:
            return rows
        d = rows[self.dirty[rows]]
        self.dirty[d] = False
        return d

    def remove(self, row: int) -> None:
        """Forget one live row (a bar whose every trade was cancelled)."""
        pos = np.flatnonzero(self.krow == row)
        if pos.shape[0]:
            self.keys = np.delete(self.keys, pos)
            self.krow = np.delete(self.krow, pos)
        self.frees += 1
        self.state[row] = FREE
        self.dirty[row] = False
        self._free.append(int(row))

    def groups(self, rows: Rows) -> Groups:
        """The values of ``rows`` as :class:`Groups` (copies)."""
        return Groups(self.sym[rows], self.label[rows], self.open[rows], self.high[rows], self.low[rows],
                      self.close[rows], self.volume[rows], self.pv[rows], self.count[rows], self.tfirst[rows],
                      self.tlast[rows])

    def rows_between(self, sid: int, tf: int, start: int, end: int) -> Rows:
        """Live rows of ``(sid, tf)`` with ``start <= label < end``, by label."""
        lo, hi = self.key_of(np.array([sid, sid], np.int32), tf, np.array([start, end], np.int64))
        a, b = np.searchsorted(self.keys, [lo, hi])
        return self.krow[int(a):int(b)]

    def set_values(self, row: int, g: Groups, i: int = 0) -> None:
        """Overwrite the values of ``row`` by row ``i`` of ``g``."""
        for f in ("open", "high", "low", "close", "volume", "pv", "count", "tfirst", "tlast"):
            getattr(self, f)[row] = getattr(g, f)[i]

    # -------------------------------------------------------------- output
    def snapshot(self, rows: Rows, kind: int) -> BarSnapshot:
        """The values of ``rows`` as a :class:`BarSnapshot`."""
        vol = self.volume[rows]
        high, low = self.high[rows], self.low[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(vol > 0, np.clip(self.pv[rows] / np.where(vol > 0, vol, 1.0), low, high), np.nan)
        return BarSnapshot(
            self.sym[rows].copy(), self.tf[rows].copy(), self.label[rows].copy(), self.open[rows], high, low,
            self.close[rows], vol, self.count[rows], vwap, self.rev[rows].copy(),
            np.full(rows.shape[0], kind, np.int8),
        )


__all__ = ["CLOSED", "FREE", "OPEN", "BarPool"]
