"""Gap detection: which bars of a symbol's sessions are missing from the store.

Expected bars come from the exchange calendar's regular sessions
(:mod:`jonbu_core.calendar`): every minute for ``1m``, every bucket touched by the
session for other intraday timeframes, one bar per session for ``1d``. Missing
labels of a session are collapsed into :class:`Gap` ranges that can be asked of a
provider directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa

from jonbu_core import calendar as cal
from jonbu_core.errors import InvalidInputError
from jonbu_core.models import normalize_symbol
from jonbu_core.stores.base import BarStore
from jonbu_core.timeframe import Timeframe, parse_timeframe

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Gap:
    """A run of missing bars inside one session.

    Attributes
    ----------
    symbol, timeframe : str
    day : date
        The session.
    start, end : datetime
        ``[start, end)``: the first missing label and the end of the last missing bar.
    bars : int
        Missing bars in the run.
    """

    symbol: str
    timeframe: str
    day: date
    start: datetime
    end: datetime
    bars: int


def check_fetch_timeframe(timeframe: str | Timeframe) -> Timeframe:
    """The timeframe, if bars of it can be fetched and stored per session (not ``1w``)."""
    tf = parse_timeframe(timeframe)
    if tf.name == "1w":
        raise InvalidInputError("weekly bars are not fetched: fetch 1d (or 1m) and read 1w, it is rolled up")
    return tf


def to_us(ts: datetime) -> int:
    """Epoch microseconds of an aware datetime (exact integer arithmetic)."""
    return int((ts - _EPOCH) // timedelta(microseconds=1))


def from_us(us: int) -> datetime:
    """UTC datetime of epoch microseconds."""
    return _EPOCH + timedelta(microseconds=int(us))


def expected_day(tf: Timeframe, day: date, exchange: str = "XNYS") -> np.ndarray:
    """Bar labels (epoch µs, ascending) the regular session ``day`` should have."""
    if not tf.is_intraday:
        label = cal.session_label(day)
        return np.array([to_us(label)], dtype=np.int64)
    minutes = cal.session_minutes(day, exchange).astype(np.int64)
    step = tf.seconds * 1_000_000
    return np.unique(minutes - minutes % step)


def ts_us(table: pa.Table) -> np.ndarray:
    """The ``ts`` column of ``table`` as epoch µs (nulls dropped)."""
    col = table.column("ts").drop_null().cast(pa.int64())
    return np.asarray(col.to_numpy(), dtype=np.int64)


def runs(symbol: str, tf: Timeframe, day: date, missing: np.ndarray) -> list[Gap]:
    """Collapse sorted missing labels of one session into contiguous :class:`Gap` runs."""
    if len(missing) == 0:
        return []
    step = tf.seconds * 1_000_000 if tf.is_intraday else 0
    breaks = np.flatnonzero(np.diff(missing) != step) + 1 if step else np.arange(1, len(missing))
    out = []
    for chunk in np.split(missing, breaks):
        lo, hi = int(chunk[0]), int(chunk[-1])
        end = from_us(hi + step) if step else tf.next_open(from_us(hi))
        out.append(Gap(symbol, tf.name, day, from_us(lo), end, len(chunk)))
    return out


def day_gaps(
    store: BarStore, symbol: str, timeframe: str | Timeframe, days: Sequence[date], exchange: str = "XNYS"
) -> dict[date, list[Gap]]:
    """Missing runs per session of ``days`` (consecutive sessions, read in one go).

    Bars that readers see count as present (for timeframes above ``1m`` that
    includes bars rolled up from stored ``1m`` bars).
    """
    tf = check_fetch_timeframe(timeframe)
    symbol = normalize_symbol(symbol)
    if not days:
        return {}
    lo, _ = cal.day_bounds_utc(days[0])
    _, hi = cal.day_bounds_utc(days[-1])
    present = ts_us(store.read_bars(symbol, tf.name, lo, hi).table)
    out: dict[date, list[Gap]] = {}
    for day in days:
        expected = expected_day(tf, day, exchange)
        missing = np.setdiff1d(expected, present, assume_unique=True)
        if len(missing):
            out[day] = runs(symbol, tf, day, missing)
    return out


def find_gaps(
    store: BarStore,
    symbol: str,
    timeframe: str | Timeframe,
    start: date,
    end: date,
    exchange: str = "XNYS",
    *,
    window: int = 20,
) -> list[Gap]:
    """Every run of missing bars of ``symbol`` over the sessions in ``[start, end]``.

    Parameters
    ----------
    store : BarStore
    symbol : str
    timeframe : str or Timeframe
        ``1m``, ``5m``, ``15m``, ``30m``, ``1h``, ``4h`` or ``1d``.
    start, end : date
        Inclusive session dates.
    exchange : str
        Exchange calendar.
    window : int
        Sessions read from the store at a time (bounds memory).

    Returns
    -------
    list of Gap
        Ascending; a session with nothing stored is one gap covering all of it.
    """
    days = cal.sessions(start, end, exchange)
    out: list[Gap] = []
    for i in range(0, len(days), max(1, window)):
        found = day_gaps(store, symbol, timeframe, days[i : i + window], exchange)
        for day in sorted(found):
            out.extend(found[day])
    return out


def merge_gaps(gaps: Sequence[Gap], tf: Timeframe, slack: int = 30) -> list[tuple[datetime, datetime]]:
    """Request ranges covering ``gaps`` of one session, merging runs less than ``slack`` bars apart."""
    ranges: list[tuple[datetime, datetime]] = []
    for g in gaps:
        if ranges and (g.start - ranges[-1][1]) < tf.delta * slack:
            ranges[-1] = (ranges[-1][0], g.end)
        else:
            ranges.append((g.start, g.end))
    return ranges


__all__ = [
    "Gap", "check_fetch_timeframe", "day_gaps", "expected_day", "find_gaps", "from_us", "merge_gaps", "runs", "to_us",
]
