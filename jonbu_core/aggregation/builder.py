"""The bar builder: vectorised reduction of trades into bars (no state, no clock).

The aggregator (:mod:`jonbu_core.aggregation.aggregator`) decides *when* bars open,
close and get revised; this module only computes *what* a set of trades adds up to,
like the builder/aggregator split of nautilus_trader, but per batch with NumPy.

Trades sorted by (symbol, event time) are reduced to 1-minute groups with
``np.ufunc.reduceat``; every higher timeframe is then reduced from those groups
(a 1-minute bucket never straddles a bucket of a higher timeframe: intraday buckets
are aligned to the UTC epoch, and America/New_York midnights fall on whole
minutes), so the per-trade work is done once whatever the number of timeframes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from jonbu_core.aggregation.types import F64, I32, I64, NS
from jonbu_core.timeframe import EXCHANGE_TZ, Timeframe

MINUTE_NS = 60 * NS


@dataclass(slots=True)
class Groups:
    """Partial bars: one row per (symbol, bucket), sorted by (symbol, label).

    ``tfirst``/``tlast`` are the event times of the trades that gave ``open`` and
    ``close``, so two partial bars of the same bucket can be merged in any order.
    """

    sym: I32
    label: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    pv: F64
    count: I64
    tfirst: I64
    tlast: I64

    def __len__(self) -> int:
        return int(self.label.shape[0])


def _starts(sym: I32, label: I64) -> npt.NDArray[np.intp]:
    n = label.shape[0]
    change = np.empty(n, dtype=np.bool_)
    change[0] = True
    np.not_equal(label[1:], label[:-1], out=change[1:])
    change[1:] |= sym[1:] != sym[:-1]
    return change.nonzero()[0]


def group_trades(sym: I32, ts: I64, price: F64, size: F64, step_ns: int = MINUTE_NS) -> Groups:
    """Reduce trades to buckets of ``step_ns`` aligned to the epoch.

    Parameters
    ----------
    sym, ts, price, size : ndarray
        Trades sorted by (symbol, event time); ties keep arrival order.
    step_ns : int
        Bucket length in nanoseconds (one minute by default).

    Returns
    -------
    Groups
        One row per (symbol, bucket) present in the trades.
    """
    label = ts - ts % step_ns
    if ts.shape[0] == 0:
        z = np.zeros(0)
        zi = np.zeros(0, np.int64)
        return Groups(np.zeros(0, np.int32), zi, z, z, z, z, z, z, zi, zi, zi)
    starts = _starts(sym, label)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = ts.shape[0] - 1
    count = (ends - starts + 1).astype(np.int64)
    return Groups(
        sym[starts],
        label[starts],
        price[starts],
        np.maximum.reduceat(price, starts),
        np.minimum.reduceat(price, starts),
        price[ends],
        np.add.reduceat(size, starts),
        np.add.reduceat(price * size, starts),
        count,
        ts[starts],
        ts[ends],
    )


def regroup(g: Groups, label: I64) -> Groups:
    """Merge consecutive groups that share (symbol, ``label``) (a coarser bucketing of ``g``)."""
    if len(g) == 0:
        return Groups(g.sym, label, g.open, g.high, g.low, g.close, g.volume, g.pv, g.count, g.tfirst, g.tlast)
    starts = _starts(g.sym, label)
    if starts.shape[0] == len(g):
        return Groups(g.sym, label, g.open, g.high, g.low, g.close, g.volume, g.pv, g.count, g.tfirst, g.tlast)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = len(g) - 1
    return Groups(
        g.sym[starts],
        label[starts],
        g.open[starts],
        np.maximum.reduceat(g.high, starts),
        np.minimum.reduceat(g.low, starts),
        g.close[ends],
        np.add.reduceat(g.volume, starts),
        np.add.reduceat(g.pv, starts),
        np.add.reduceat(g.count, starts),
        g.tfirst[starts],
        g.tlast[ends],
    )


class DayTable:
    """Local-midnight boundaries (America/New_York) as epoch ns, for 1d/1w labels.

    ``1d`` bars are labelled by the exchange-local date at midnight, in UTC
    (:mod:`jonbu_core.timeframe`); ``1w`` bars by the Monday of their week. The table
    covers a window of days around what it has seen and grows on demand.
    """

    def __init__(self) -> None:
        self._first: date | None = None
        self._starts: I64 = np.zeros(0, np.int64)
        self._dates: list[date] = []

    def _build(self, first: date, last: date) -> None:
        days = [first + timedelta(days=i) for i in range((last - first).days + 2)]
        self._dates = days
        self._first = first
        self._starts = np.array(
            [int(datetime(d.year, d.month, d.day, tzinfo=EXCHANGE_TZ).timestamp()) * NS for d in days],
            dtype=np.int64,
        )

    def _ensure(self, lo_ns: int, hi_ns: int) -> None:
        s = self._starts
        if s.shape[0] and s[0] <= lo_ns and hi_ns < s[-1]:
            return
        lo = datetime.fromtimestamp(lo_ns // NS, tz=UTC).astimezone(EXCHANGE_TZ).date() - timedelta(days=8)
        hi = datetime.fromtimestamp(hi_ns // NS, tz=UTC).astimezone(EXCHANGE_TZ).date() + timedelta(days=30)
        if self._first is not None and s.shape[0]:
            lo = min(lo, self._first)
            hi = max(hi, self._dates[-1])
        self._build(lo, hi)

    def day_labels(self, ts: I64) -> I64:
        """The ``1d`` label of each time in ``ts`` (epoch ns)."""
        if ts.shape[0] == 0:
            return ts.copy()
        self._ensure(int(ts.min()), int(ts.max()))
        idx = np.searchsorted(self._starts, ts, side="right") - 1
        return self._starts[idx]

    def week_labels(self, ts: I64) -> I64:
        """The ``1w`` label (Monday midnight, exchange time) of each time in ``ts``."""
        if ts.shape[0] == 0:
            return ts.copy()
        self._ensure(int(ts.min()) - 8 * 86400 * NS, int(ts.max()))
        idx = np.searchsorted(self._starts, ts, side="right") - 1
        assert self._first is not None
        weekday = (np.int64(self._first.weekday()) + idx) % 7
        return self._starts[idx - weekday]

    def end_of(self, label: I64, weeks: bool = False) -> I64:
        """The label of the following bar for ``1d`` (or ``1w``) labels."""
        if label.shape[0] == 0:
            return label.copy()
        self._ensure(int(label.min()), int(label.max()) + 8 * 86400 * NS)
        idx = np.searchsorted(self._starts, label, side="left")
        return self._starts[idx + (7 if weeks else 1)]


def labels_for(tf: Timeframe, minute_labels: I64, days: DayTable) -> I64:
    """The ``tf`` label of each 1-minute label."""
    if tf.is_intraday:
        step = tf.seconds * NS
        return minute_labels - minute_labels % step
    if tf.name == "1d":
        return days.day_labels(minute_labels)
    if tf.name == "1w":
        return days.week_labels(minute_labels)
    raise ValueError(f"unsupported streaming timeframe {tf.name!r}")


def ends_for(tf: Timeframe, labels: I64, days: DayTable) -> I64:
    """The end (exclusive, epoch ns) of each ``tf`` bar labelled ``labels``."""
    if tf.is_intraday:
        return labels + tf.seconds * NS
    return days.end_of(labels, weeks=tf.name == "1w")


__all__ = ["MINUTE_NS", "DayTable", "Groups", "ends_for", "group_trades", "labels_for", "regroup"]
