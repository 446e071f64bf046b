"""The minute ledger: sealed 1-minute bars kept while a higher-timeframe bar may need them.

A 1-minute bar leaves the pool when it is sealed (its allowed lateness is over), but
the 5m/15m/1h/1d bars it belongs to live on. To recompute such a bar exactly — a
cancel or correction of the trade that set its open, high, low or close, or the
REST backfill of minutes the feed missed — the aggregator needs every one of its
minutes: the live ones are in the pool, the sealed ones here.

Rows are kept in chunks (one per seal) and evicted once older than every live
higher-timeframe bar (or past ``max_rows``, oldest first). :attr:`MinuteLedger.complete_from`
tells from which label on the ledger is complete: a bar that starts before it cannot
be recomputed from minutes (the caller falls back to an inexact adjustment).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jonbu_core.aggregation.builder import Groups
from jonbu_core.aggregation.types import I32, I64, NS

NEVER = int(np.iinfo(np.int64).min)
_FIELDS = ("sym", "label", "open", "high", "low", "close", "volume", "pv", "count", "tfirst", "tlast")


@dataclass(slots=True)
class _Chunk(Groups):
    """Sealed minutes (the columns of :class:`Groups`) and which of them are still kept."""

    alive: np.ndarray

    def key(self) -> I64:
        out: I64 = self.sym.astype(np.int64) << 40 | (self.label // NS)
        return out


class MinuteLedger:
    """Sealed 1-minute bars of live higher-timeframe bars (see the module docstring)."""

    def __init__(self, max_rows: int = 5_000_000) -> None:
        self.max_rows = max_rows
        self.chunks: list[_Chunk] = []
        self.rows = 0
        self.complete_from = NEVER
        """Every sealed minute with a label at or after this is held."""

    def add(self, g: Groups, replace: bool = False) -> None:
        """Keep sealed minutes (rows of ``g``); with ``replace``, a minute already held is replaced.

        Minutes sealed by the pool are never held yet (a minute is live or sealed, not
        both), so the aggregator's hot path skips that search.
        """
        if len(g) == 0:
            return
        if replace:
            self.discard(g.sym, g.label)
        self.chunks.append(_Chunk(g.sym.copy(), g.label.copy(), g.open.copy(), g.high.copy(), g.low.copy(),
                                  g.close.copy(), g.volume.copy(), g.pv.copy(), g.count.copy(), g.tfirst.copy(),
                                  g.tlast.copy(), np.ones(len(g), np.bool_)))
        self.rows += len(g)
        while self.rows > self.max_rows and len(self.chunks) > 1:
            old = self.chunks.pop(0)
            self.rows -= old.label.shape[0]
            self.complete_from = max(self.complete_from, int(old.label.max()) + 60 * NS)
        if len(self.chunks) > 64:
            self._compact()

    def discard(self, sym: I32, label: I64) -> None:
        """Forget the minutes ``(sym, label)`` if held."""
        if not self.chunks or sym.shape[0] == 0:
            return
        keys = sym.astype(np.int64) << 40 | (label // NS)
        for c in self.chunks:
            hit = np.isin(c.key(), keys) & c.alive
            if hit.any():
                c.alive[hit] = False

    def evict_before(self, label: int) -> None:
        """Drop minutes labelled before ``label`` (no live higher-timeframe bar needs them)."""
        if label <= self.complete_from:
            return
        kept: list[_Chunk] = []
        for c in self.chunks:
            if c.label.shape[0] and int(c.label.max()) < label:
                self.rows -= c.label.shape[0]
                continue
            kept.append(c)
        self.chunks = kept
        self.complete_from = label

    def _compact(self) -> None:
        cs = self.chunks
        alive = np.concatenate([c.alive for c in cs])
        cols = {f: np.concatenate([getattr(c, f) for c in cs])[alive] for f in _FIELDS}
        self.chunks = [_Chunk(**cols, alive=np.ones(int(alive.sum()), np.bool_))]
        self.rows = int(alive.sum())

    def covers(self, start: int) -> bool:
        """Whether every sealed minute from ``start`` on is held."""
        return start >= self.complete_from

    def get(self, sid: int, start: int, end: int) -> Groups:
        """Held minutes of ``sid`` with ``start <= label < end``, by label."""
        parts = []
        for c in self.chunks:
            m = (c.sym == sid) & (c.label >= start) & (c.label < end) & c.alive
            if m.any():
                parts.append([getattr(c, f)[m] for f in _FIELDS])
        if not parts:
            z, zi = np.zeros(0), np.zeros(0, np.int64)
            return Groups(np.zeros(0, np.int32), zi, z, z, z, z, z, z, zi, zi, zi)
        cols = [np.concatenate([p[i] for p in parts]) for i in range(len(_FIELDS))]
        o = np.argsort(cols[1], kind="stable")
        return Groups(*(col[o] for col in cols))

    def set_minute(self, sid: int, label: int, g: Groups | None) -> bool:
        """Replace a held minute by ``g``'s single row (``None``: the minute is now empty); ``False`` if not held."""
        for c in self.chunks:
            m = np.flatnonzero((c.sym == sid) & (c.label == label) & c.alive)
            if m.shape[0]:
                i = int(m[0])
                if g is None or len(g) == 0:
                    c.alive[i] = False
                else:
                    for f in _FIELDS[2:]:
                        getattr(c, f)[i] = getattr(g, f)[0]
                return True
        return False


__all__ = ["MinuteLedger"]
