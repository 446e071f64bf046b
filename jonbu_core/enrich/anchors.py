"""Anchored indicators: session VWAP and OBV that restart at each anchor period.

The anchor period depends on the timeframe (DESIGN.md: bars are labelled by their
open time in UTC; sessions follow America/New_York):

* intraday timeframes — the exchange day (the bar's calendar date in New York);
* ``1d`` — the calendar month (New York);
* ``1w`` and longer — the calendar year.

``vwap`` = Σ price·volume / Σ volume since the anchor start (``price`` is the bar's
own VWAP when the provider gave one, else the typical price); while the anchor has
seen no volume it is the bar's price. ``obv`` = Σ signed volume since the anchor
start, where a bar's signed volume is +volume when its close rose from the
previous bar's close (also across the anchor boundary), −volume when it fell, 0
otherwise (and 0 for the very first bar, which has no previous close).

Both paths restart their running sums at each anchor, with the same additions in
the same order, so batch and incremental results are bit-identical and never
depend on how much history was loaded (as long as the anchor start is loaded).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.timeframe import EXCHANGE_TZ, parse_timeframe

FArray = np.ndarray[Any, np.dtype[np.float64]]
IArray = np.ndarray[Any, np.dtype[np.int64]]

_EPOCH = date(1970, 1, 1)


def anchor_kind(timeframe: str | None, ts_us: IArray | None = None) -> str:
    """``"session"``, ``"month"`` or ``"year"`` for a timeframe (inferred from spacing if None)."""
    if timeframe is not None:
        seconds = parse_timeframe(timeframe).seconds
    elif ts_us is not None and len(ts_us) > 1:
        seconds = int(np.median(np.diff(ts_us))) // 1_000_000
    else:
        seconds = 60
    if seconds < 86400:
        return "session"
    if seconds < 5 * 86400:
        return "month"
    return "year"


def anchor_ids(ts_us: IArray, kind: str) -> IArray:
    """Anchor period id of every timestamp (epoch microseconds, UTC)."""
    if len(ts_us) == 0:
        return np.zeros(0, dtype=np.int64)
    arr = pa.array(ts_us, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz="America/New_York"))
    local = pc.local_timestamp(arr)
    if kind == "session":
        us = local.cast(pa.int64()).to_numpy()
        days: IArray = np.floor_divide(us, 86_400_000_000).astype(np.int64)
        return days
    years: IArray = pc.year(local).to_numpy().astype(np.int64)
    if kind == "year":
        return years
    months: IArray = pc.month(local).to_numpy().astype(np.int64)
    out: IArray = years * 12 + (months - 1)
    return out


class AnchorClock:
    """Anchor ids of single timestamps, cached per anchor period (for the stream)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._lo = datetime.max.replace(tzinfo=UTC)
        self._hi = datetime.min.replace(tzinfo=UTC)
        self._id = 0

    def id_of(self, ts: datetime) -> int:
        """The anchor id of ``ts`` (timezone-aware); same numbering as :func:`anchor_ids`."""
        if self._lo <= ts < self._hi:
            return self._id
        local = ts.astimezone(EXCHANGE_TZ)
        d = local.date()
        if self.kind == "session":
            start = d
            end = d + timedelta(days=1)
            ident = (d - _EPOCH).days
        elif self.kind == "month":
            start = date(d.year, d.month, 1)
            end = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
            ident = d.year * 12 + d.month - 1
        else:
            start = date(d.year, 1, 1)
            end = date(d.year + 1, 1, 1)
            ident = d.year
        self._lo = _local_midnight(start)
        self._hi = _local_midnight(end)
        if ts.utcoffset() == _ZERO and ts.tzinfo is not UTC:
            # bounds in the caller's UTC tzinfo object (pydantic gives ZoneInfo("UTC")): two
            # datetimes with the same tzinfo compare directly, others through utcoffset() (~10x)
            self._lo = self._lo.astimezone(ts.tzinfo)
            self._hi = self._hi.astimezone(ts.tzinfo)
        self._id = ident
        return ident


_ZERO = timedelta(0)


def _local_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=EXCHANGE_TZ).astimezone(UTC)


def anchored(price: FArray, pv: FArray, volume: FArray, sv: FArray, ids: IArray) -> tuple[FArray, FArray]:
    """Anchored VWAP and OBV over whole arrays (see the module docstring)."""
    n = len(price)
    vwap = np.empty(n)
    obv = np.empty(n)
    if n == 0:
        return vwap, obv
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], n]
    svz = np.where(np.isnan(sv), 0.0, sv)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        cpv = np.cumsum(pv[s:e])
        cv = np.cumsum(volume[s:e])
        seg = price[s:e].copy()
        np.divide(cpv, cv, out=seg, where=cv > 0)
        vwap[s:e] = seg
        obv[s:e] = np.cumsum(svz[s:e])
    return vwap, obv


class AnchoredState:
    """Running sums of :func:`anchored` for one bar at a time."""

    __slots__ = ("cum_pv", "cum_sv", "cum_v", "ident")

    def __init__(self) -> None:
        self.ident: int | None = None
        self.cum_pv = 0.0
        self.cum_v = 0.0
        self.cum_sv = 0.0

    def step(self, ident: int, price: float, pv: float, v: float, sv: float,
             commit: bool = True) -> tuple[float, float]:
        """Add one bar; returns (vwap, obv). With ``commit=False`` nothing changes."""
        if ident != self.ident:
            cpv, cv, csv = 0.0, 0.0, 0.0
        else:
            cpv, cv, csv = self.cum_pv, self.cum_v, self.cum_sv
        cpv = cpv + pv
        cv = cv + v
        csv = csv + (0.0 if math.isnan(sv) else sv)
        if commit:
            self.ident, self.cum_pv, self.cum_v, self.cum_sv = ident, cpv, cv, csv
        return (cpv / cv if cv > 0 else price), csv
