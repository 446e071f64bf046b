"""Swing pivots, structure, double tops/bottoms and levels — one bar at a time.

The rules are those of :mod:`jonbu_core.enrich.swings` (read its docstring); this
module keeps O(window) state and produces, bar by bar, exactly what the batch
functions produce over the whole array.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from jonbu_core.enrich.params import P


@dataclass(slots=True)
class _Double:
    """A double top/bottom candidate: the pair's second pivot and its neckline."""

    b: int
    neck: float
    strength: float
    done: bool = False


SwingOut = tuple[float, float, float, float, list[float], list[int]]
"""What one bar produced: (double top, double bottom, higher highs, lower lows,
level prices ascending, level touches)."""


class SwingState:
    """Incremental twin of :mod:`jonbu_core.enrich.swings`."""

    def __init__(self) -> None:
        k = P.swing
        self.i = -1
        self.win_h: list[float] = []
        self.win_l: list[float] = []
        keep = P.dt_max_sep + k + 2
        self.hist_h: deque[float] = deque(maxlen=keep)
        self.hist_l: deque[float] = deque(maxlen=keep)
        self.ph: deque[tuple[int, float]] = deque()
        self.pl: deque[tuple[int, float]] = deque()
        self.merged: deque[tuple[int, float]] = deque()
        self.n_conf = 0
        self.n_exp = 0
        self.pair = (-1, -1)
        self.level_prices: list[float] = []
        self.level_touches: list[int] = []
        self.top: _Double | None = None
        self.bottom: _Double | None = None

    def clone(self) -> SwingState:
        """An independent copy (used to evaluate a forming bar without committing)."""
        c = SwingState.__new__(SwingState)
        c.i = self.i
        c.win_h, c.win_l = list(self.win_h), list(self.win_l)
        c.hist_h, c.hist_l = deque(self.hist_h, self.hist_h.maxlen), deque(self.hist_l, self.hist_l.maxlen)
        c.ph, c.pl, c.merged = deque(self.ph), deque(self.pl), deque(self.merged)
        c.n_conf, c.n_exp, c.pair = self.n_conf, self.n_exp, self.pair
        c.level_prices, c.level_touches = self.level_prices, self.level_touches
        c.top = None if self.top is None else _Double(self.top.b, self.top.neck, self.top.strength, self.top.done)
        c.bottom = None if self.bottom is None else _Double(
            self.bottom.b, self.bottom.neck, self.bottom.strength, self.bottom.done)
        return c

    def step(self, h: float, lo: float, c: float, atr: float) -> SwingOut:
        """Add one bar (high, low, close, ATR at this bar) and report its events."""
        k, mem = P.swing, P.pivot_memory
        self.i += 1
        i = self.i
        top, bottom = self.top, self.bottom  # most bars have no live candidate: skip the call
        dt = 0.0 if top is None or top.done else self._check_double(top, i, c, True)
        db = 0.0 if bottom is None or bottom.done else self._check_double(bottom, i, c, False)
        wh, wl = self.win_h, self.win_l
        wh.append(h)
        wl.append(lo)
        if len(wh) > 2 * k + 1:
            del wh[0]
            del wl[0]
        self.hist_h.append(h)
        self.hist_l.append(lo)
        new_h = new_l = False
        if len(wh) == 2 * k + 1:
            j = i - k
            mid_h, mid_l = wh[k], wl[k]
            if mid_h > max(wh[:k]) and mid_h >= max(wh[k + 1:]):
                new_h = True
                self._new_double(self.ph, j, mid_h, atr, True)
                self.ph.append((j, mid_h))
                self.merged.append((j, mid_h))
                self.n_conf += 1
            if mid_l < min(wl[:k]) and mid_l <= min(wl[k + 1:]):
                new_l = True
                self._new_double(self.pl, j, mid_l, atr, False)
                self.pl.append((j, mid_l))
                self.merged.append((j, mid_l))
                self.n_conf += 1
        hh = self._structure(self.ph, self.pl, i, atr, True) if new_h else 0.0
        ll = self._structure(self.pl, self.ph, i, atr, False) if new_l else 0.0
        limit = i - mem
        merged = self.merged
        while merged and merged[0][0] < limit:
            merged.popleft()
            self.n_exp += 1
        if new_h or new_l:
            for dq in (self.ph, self.pl):
                while len(dq) > 2 and dq[0][0] < limit:
                    dq.popleft()
        lo_i = min(max(self.n_exp, self.n_conf - P.level_pivots), self.n_conf)
        pair = (lo_i, self.n_conf)
        if pair != self.pair:
            self.pair = pair
            self._cluster(self.n_conf - lo_i, atr)
        return dt, db, hh, ll, self.level_prices, self.level_touches

    # --- pieces ----------------------------------------------------------------------

    def _check_double(self, cand: _Double | None, i: int, c: float, top: bool) -> float:
        if cand is None or cand.done or i > cand.b + P.dt_expiry or i <= cand.b + P.swing:
            return 0.0
        if (c < cand.neck) if top else (c > cand.neck):
            cand.done = True
            return cand.strength
        return 0.0

    def _new_double(self, piv: deque[tuple[int, float]], b: int, pb: float, atr: float, top: bool) -> None:
        cand: _Double | None = None
        if piv:
            a, pa = piv[-1]
            sep = b - a
            if P.dt_min_sep <= sep <= P.dt_max_sep and atr > 0 and abs(pa - pb) <= P.dt_tol_atr * atr:
                back = self.i - b  # bars from b to now (the confirmation bar)
                other = self.hist_l if top else self.hist_h
                seg = list(other)[len(other) - 1 - back - (sep - 1): len(other) - 1 - back]
                if top:
                    neck = min(seg)
                    depth = min(pa, pb) - neck
                else:
                    neck = max(seg)
                    depth = neck - max(pa, pb)
                if depth >= P.dt_depth_atr * atr:
                    cand = _Double(b, neck, min(1.0, 0.5 + depth / (6.0 * atr)))
        if top:
            self.top = cand
        else:
            self.bottom = cand

    def _structure(self, mine: deque[tuple[int, float]], other: deque[tuple[int, float]], i: int,
                   atr: float, up: bool) -> float:
        mem = P.pivot_memory
        if len(mine) < 2 or len(other) < 2:
            return 0.0
        (jp, prev), (_, new) = mine[-2], mine[-1]
        (jb, before), (_, last) = other[-2], other[-1]
        if jp < i - mem or jb < i - mem:
            return 0.0
        if up:
            if not (new > prev and last > before):
                return 0.0
            step = new - prev
        else:
            if not (new < prev and last < before):
                return 0.0
            step = prev - new
        rel = step / atr if atr > 0 else 1.0
        return 0.5 + 0.5 * min(1.0, rel)

    def _cluster(self, count: int, atr: float) -> None:
        tol = P.level_tol_atr * atr
        if count == 0 or math.isnan(tol):
            self.level_prices, self.level_touches = [], []
            return
        merged = self.merged  # the newest ``count`` pivots, read from the right end (no copy)
        prices = sorted([merged[j][1] for j in range(len(merged) - count, len(merged))])
        out_p: list[float] = []
        out_t: list[int] = []
        acc, cnt, prev = prices[0], 1, prices[0]
        for p in prices[1:]:
            if p - prev > tol:
                out_p.append(acc / cnt)
                out_t.append(cnt)
                acc, cnt = p, 1
            else:
                acc = acc + p
                cnt += 1
            prev = p
        out_p.append(acc / cnt)
        out_t.append(cnt)
        self.level_prices, self.level_touches = out_p, out_t
