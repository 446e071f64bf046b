"""Swing pivots and what is built on them (batch, vectorised).

Definitions (parameters in :class:`jonbu_core.enrich.plan.Params`, ``k = swing``):

* **Pivot high** at bar ``j``: ``high[j]`` is strictly above the ``k`` highs before it
  and at least the ``k`` highs after it; it becomes known (is *confirmed*) at bar
  ``j + k`` — never earlier, so nothing looks ahead. Pivot lows mirror this.
  Pivots with ``j < i − pivot_memory`` are forgotten at bar ``i``.
* **Higher highs** (bullish) at the bar confirming a pivot high above the previous
  pivot high while the latest pivot low is above the one before it; **lower lows**
  (bearish) mirror it. Strength 0.5 + 0.5·min(1, step / ATR).
* **Double top** (bearish): two consecutive pivot highs A, B, 5–100 bars apart, within
  0.5 ATR of each other, with a trough T (lowest low between them) at least 1 ATR
  below the lower peak (ATR at B's confirmation); reported at the first close below T
  after B is confirmed, while B is still the latest pivot high and at most 50 bars
  after B. Strength min(1, 0.5 + depth / (6·ATR)). **Double bottom** mirrors it.
* **Levels** (support/resistance): the latest ``level_pivots`` remembered pivots
  (highs and lows) are sorted by price and chained into clusters wherever
  neighbours are at most ``level_tol_atr`` ATRs apart (ATR at the bar the pivot set
  last changed). A level's price is the mean of its pivots, ``touches`` their count.
  Levels at or below the close are support, above it resistance.

:mod:`jonbu_core.enrich.swing_state` implements the same rules one bar at a time;
the tests check that both agree on every bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import talib
from numpy.lib.stride_tricks import sliding_window_view

from jonbu_core.enrich.params import P

FArray = np.ndarray[Any, np.dtype[np.float64]]
IArray = np.ndarray[Any, np.dtype[np.int64]]


def find_pivots(high: FArray, low: FArray, k: int = P.swing) -> tuple[IArray, IArray]:
    """Bar indices of pivot highs and pivot lows (each confirmed ``k`` bars later)."""
    n = len(high)
    if n < 2 * k + 1:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    mx = talib.MAX(high, k)
    mn = talib.MIN(low, k)
    j = np.arange(k, n - k)
    ph = (high[j] > mx[j - 1]) & (high[j] >= mx[j + k])
    pl = (low[j] < mn[j - 1]) & (low[j] <= mn[j + k])
    return j[ph].astype(np.int64), j[pl].astype(np.int64)


def _strength_step(step: FArray, atr: FArray) -> FArray:
    rel = np.ones_like(step)
    np.divide(step, atr, out=rel, where=atr > 0)
    return 0.5 + 0.5 * np.minimum(1.0, rel)


def structure(
    ph: IArray, pl: IArray, high: FArray, low: FArray, atr: FArray, n: int
) -> tuple[FArray, FArray]:
    """Strength arrays (0 = none) of *higher highs* and *lower lows* events."""
    k, mem = P.swing, P.pivot_memory
    hh = np.zeros(n)
    ll = np.zeros(n)
    for mine, other, price, oprice, out, up in ((ph, pl, high, low, hh, True), (pl, ph, low, high, ll, False)):
        if len(mine) < 2 or len(other) < 2:
            continue
        conf = mine[1:] + k
        new, prev = price[mine[1:]], price[mine[:-1]]
        q = np.searchsorted(other, conf - k, side="right") - 1  # latest other pivot known at conf
        qc = np.clip(q, 1, None)
        ok = (mine[:-1] >= conf - mem) & (q >= 1) & (other[qc - 1] >= conf - mem)
        last, before = oprice[other[qc]], oprice[other[qc - 1]]
        cond = (new > prev) & (last > before) if up else (new < prev) & (last < before)
        hit = ok & cond
        step = (new - prev) if up else (prev - new)
        out[conf[hit]] = _strength_step(step[hit], atr[conf[hit]])
    return hh, ll


def double_patterns(
    ph: IArray, pl: IArray, high: FArray, low: FArray, close: FArray, atr: FArray
) -> tuple[FArray, FArray]:
    """Strength arrays (0 = none) of *double top* and *double bottom* completions."""
    n = len(close)
    top = np.zeros(n)
    bottom = np.zeros(n)
    _double(ph, high, low, close, atr, top, is_top=True)
    _double(pl, low, high, close, atr, bottom, is_top=False)
    return top, bottom


def _double(piv: IArray, peak: FArray, other: FArray, close: FArray, atr: FArray,
            out: FArray, *, is_top: bool) -> None:
    n, k = len(close), P.swing
    if len(piv) < 2:
        return
    a, b = piv[:-1], piv[1:]
    sep = b - a
    conf = b + k
    atr_b = atr[conf]
    pa, pb = peak[a], peak[b]
    ok = (sep >= P.dt_min_sep) & (sep <= P.dt_max_sep) & (atr_b > 0)
    ok &= np.abs(pa - pb) <= P.dt_tol_atr * atr_b
    idx = np.empty(2 * len(a), dtype=np.int64)
    idx[0::2] = a + 1
    idx[1::2] = b
    if is_top:
        neck = np.minimum.reduceat(other, idx)[0::2]
        depth = np.minimum(pa, pb) - neck
    else:
        neck = np.maximum.reduceat(other, idx)[0::2]
        depth = neck - np.maximum(pa, pb)
    ok &= depth >= P.dt_depth_atr * atr_b
    nxt = np.r_[piv[2:] + k, np.iinfo(np.int64).max]
    end = np.minimum(np.minimum(b + P.dt_expiry, nxt), n - 1)
    start = conf + 1
    sel = np.flatnonzero(ok & (start <= end))
    if len(sel) == 0:
        return
    width = P.dt_expiry - k
    off = np.arange(width)
    rows = start[sel, None] + off[None, :]
    inside = rows <= end[sel, None]
    rows = np.minimum(rows, n - 1)
    c = close[rows]
    cond = (c < neck[sel, None]) if is_top else (c > neck[sel, None])
    cond &= inside
    has = cond.any(axis=1)
    first = rows[np.arange(len(sel)), cond.argmax(axis=1)]
    s = np.minimum(1.0, 0.5 + depth[sel] / (6.0 * atr_b[sel]))
    out[first[has]] = s[has]


@dataclass
class Levels:
    """Clustered levels per pivot-set change, and which one applies to each bar."""

    event_of_bar: IArray
    """Row of ``price``/``touches``/``count`` that applies to each bar."""
    price: FArray
    """(events × level_pivots) level prices, ascending, NaN padded at the end."""
    touches: IArray
    count: IArray
    """Number of levels of each row."""


def merged_pivots(ph: IArray, pl: IArray, high: FArray, low: FArray) -> tuple[IArray, FArray]:
    """All pivots ordered by bar (a high before a low at the same bar): (bars, prices)."""
    j = np.r_[ph, pl]
    kind = np.r_[np.zeros(len(ph), dtype=np.int64), np.ones(len(pl), dtype=np.int64)]
    price = np.r_[high[ph], low[pl]]
    order = np.lexsort((kind, j))
    return j[order].astype(np.int64), price[order]


def levels(ph: IArray, pl: IArray, high: FArray, low: FArray, atr: FArray) -> Levels:
    """Cluster the remembered pivots into levels at every bar where the set changes."""
    n, k, mem, m = len(high), P.swing, P.pivot_memory, P.level_pivots
    pj, pp = merged_pivots(ph, pl, high, low)
    # pivots confirmed by bar b (pivot bar <= b - k) and expired (pivot bar < b - mem):
    # counts from one cumulative histogram instead of two binary searches per bar
    cum = np.cumsum(np.bincount(pj, minlength=n)[:n]) if n else np.zeros(0, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    expired = np.zeros(n, dtype=np.int64)
    if n > k:
        hi[k:] = cum[:n - k]
    if n > mem + 1:
        expired[mem + 1:] = cum[:n - mem - 1]
    lo = np.maximum(expired, hi - m)
    lo = np.minimum(lo, hi)
    change = np.ones(n, dtype=bool)
    if n > 1:
        change[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    ev_bars = np.flatnonzero(change)
    ev_of_bar = np.cumsum(change) - 1
    e_lo, e_hi = lo[ev_bars], hi[ev_bars]
    # the (up to m) pivots of each event: a row of a sliding window over the prices
    padded = np.concatenate([pp, np.full(m, np.nan)])
    vals = sliding_window_view(padded, m)[e_lo]
    vals = np.where(np.arange(m)[None, :] < (e_hi - e_lo)[:, None], vals, np.nan)
    vals.sort(axis=1)
    tol = P.level_tol_atr * atr[ev_bars]
    vals[np.isnan(tol)] = np.nan
    # cluster column by column, on the transposed (levels × events) layout so that
    # every column operation reads contiguous memory
    srt = np.ascontiguousarray(vals.T)
    present = ~np.isnan(srt)
    new = np.ones_like(present)
    new[1:] = (srt[1:] - srt[:-1]) > tol[None, :]
    acc = np.empty_like(srt)
    cnt = np.zeros(srt.shape, dtype=np.int64)
    acc[0] = srt[0]
    cnt[0] = 1
    for c in range(1, m):
        acc[c] = np.where(new[c], srt[c], acc[c - 1] + srt[c])
        cnt[c] = np.where(new[c], 1, cnt[c - 1] + 1)
    end = present.copy()
    end[:-1] &= new[1:] | ~present[1:]
    # compact: each event's levels first, ascending, NaN after
    end_rows = np.ascontiguousarray(end.T)
    count = end_rows.sum(axis=1).astype(np.int64)
    rr, cc = np.nonzero(end_rows)
    first = np.zeros(len(count), dtype=np.int64)
    if len(count) > 1:
        np.cumsum(count[:-1], out=first[1:])
    pos = np.arange(len(rr)) - first[rr]
    shape = (len(ev_bars), m)
    price = np.full(shape, np.nan)
    touches = np.zeros(shape, dtype=np.int64)
    price[rr, pos] = acc[cc, rr] / cnt[cc, rr]
    touches[rr, pos] = cnt[cc, rr]
    return Levels(ev_of_bar.astype(np.int64), price, touches, count)


def nearest_levels(lv: Levels, close: FArray, atr: FArray) -> dict[str, FArray]:
    """Nearest support/resistance per bar: price, touches and distance in ATRs (NaN: none)."""
    ev = lv.event_of_bar
    m = lv.price.shape[1] if lv.price.ndim == 2 else 0
    n = len(close)
    below = np.zeros(n, dtype=np.int64)
    by_rank = np.ascontiguousarray(lv.price.T) if m else lv.price
    for j in range(m):  # rank by rank (contiguous): no (bars × levels) temporary
        below += by_rank[j][ev] <= close
    count = lv.count[ev] if m else np.zeros(n, dtype=np.int64)
    out: dict[str, FArray] = {}
    for side, has, idx, sign in (("support", below > 0, np.maximum(below - 1, 0), 1.0),
                                 ("resistance", below < count, np.minimum(below, max(m - 1, 0)), -1.0)):
        p = np.full(n, np.nan)
        t = np.zeros(n, dtype=np.int64)
        if m:
            p = np.where(has, lv.price[ev, idx], np.nan)
            t = np.where(has, lv.touches[ev, idx], 0)
        dist = np.zeros(n)
        np.divide((close - p) * sign, atr, out=dist, where=has & (atr > 0))
        dist[~has] = np.nan
        out[side] = p
        out[f"{side}_touches"] = t.astype(np.float64)
        out[f"{side}_dist_atr"] = dist
    return out
