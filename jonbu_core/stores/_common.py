"""Rules shared by every :class:`~jonbu_core.stores.base.BarStore` adapter (pure functions).

* the source-precedence rule (:func:`is_stream`, :func:`merge_precedence`,
  :func:`combine_native_rollup`);
* opaque cursors (:func:`encode_cursor`, :func:`decode_cursor`);
* time ranges of bars and days, and expected bar labels from the calendar.

:class:`jonbu_core.stores._template.StoreBase` builds the protocol's operations on them.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from jonbu_core import calendar as cal
from jonbu_core.errors import InvalidInputError
from jonbu_core.models import BAR_SCHEMA, to_utc
from jonbu_core.timeframe import EXCHANGE_TZ, Timeframe

logger = logging.getLogger(__name__)

#: The ``source`` of bars built from the live trade stream; every other source is a provider.
STREAM_SOURCE = "stream"
KEY = ["symbol", "timeframe", "ts"]
_CURSOR_PREFIX = "c1"
#: Upper bound of 1m bars inside one bar of each timeframe (a 25-hour DST day for 1d).
_MINUTES_PER_BAR = {"1d": 25 * 60, "1w": 7 * 24 * 60 + 60}


# ----------------------------------------------------------------- conversions
def to_us(ts: datetime) -> int:
    """Epoch microseconds of a datetime (naive input is taken as UTC)."""
    ts = to_utc(ts)
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """The UTC datetime of epoch microseconds."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def iso_us(us: int) -> str:
    """ISO 8601 UTC text of epoch microseconds (for SQL predicates)."""
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------- cursors
def encode_cursor(timeframe: str, last_ts_us: int) -> str:
    """An opaque cursor meaning "bars of ``timeframe`` after ``last_ts_us``"."""
    raw = f"{_CURSOR_PREFIX}|{timeframe}|{last_ts_us}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, timeframe: str) -> int:
    """The last ts (epoch µs) encoded in ``cursor``.

    Raises
    ------
    InvalidInputError
        If the cursor is malformed or was issued for another timeframe.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, tf, ts = text.split("|")
        if prefix != _CURSOR_PREFIX:
            raise ValueError(prefix)
        value = int(ts)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError(f"invalid cursor {cursor!r}") from None
    if tf != timeframe:
        raise InvalidInputError(f"cursor was issued for timeframe {tf}, not {timeframe}")
    return value


# ------------------------------------------------------------------ precedence
def is_stream(source: str | None) -> bool:
    """Whether a bar came from the live stream (it loses to provider bars)."""
    return source == STREAM_SOURCE


def merge_precedence(existing: pl.DataFrame, incoming: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Apply an upsert of ``incoming`` over ``existing`` rows of the same key range.

    A row of ``incoming`` replaces the existing row with its key unless it is a
    ``stream`` bar and the existing one comes from a provider.

    Returns
    -------
    tuple
        ``(merged, written, kept_existing)``: every row of the range after the
        upsert (sorted by key), the incoming rows that were written, and the number
        of incoming rows dropped because a provider bar wins.
    """
    if existing.height == 0:
        return incoming, incoming, 0
    old = existing.select(*KEY, pl.col("source").alias("_old_source"))
    joined = incoming.join(old, on=KEY, how="left")
    drop = (pl.col("source") == STREAM_SOURCE) & pl.col("_old_source").is_not_null() & (
        pl.col("_old_source") != STREAM_SOURCE
    )
    written = joined.filter(~drop).drop("_old_source")
    kept = incoming.height - written.height
    survivors = existing.join(written.select(KEY), on=KEY, how="anti")
    merged = pl.concat([survivors, written.select(existing.columns)]).sort(KEY)
    return merged, written, kept


def combine_native_rollup(native: pa.Table, rolled: pa.Table) -> pa.Table:
    """Merge native bars with bars rolled up from 1m, one bar per ts.

    Ranking: native provider bar, rolled-up provider bar, native stream bar,
    rolled-up stream bar.
    """
    if rolled.num_rows == 0:
        return native
    if native.num_rows == 0:
        return rolled
    frames = []
    for table, rolled_flag in ((native, 0), (rolled, 1)):
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        frames.append(df.with_columns(
            ((pl.col("source") == STREAM_SOURCE).cast(pl.Int8) * 2 + rolled_flag).alias("_rank")
        ))
    out = pl.concat(frames).sort("ts", "_rank").unique(subset=["ts"], keep="first", maintain_order=True)
    return out.drop("_rank").to_arrow().cast(BAR_SCHEMA)


# ---------------------------------------------------------------- time ranges
def ceil_label(tf: Timeframe, ts: datetime) -> datetime:
    """The first bar label of ``tf`` at or after ``ts``."""
    label = tf.bucket(ts)
    return label if label == ts else tf.next_open(label)


def bar_end(tf: Timeframe, label: datetime) -> datetime:
    """The end (exclusive) of the bar labelled ``label``."""
    return tf.next_open(label)


def minutes_per_bar(tf: Timeframe) -> int:
    """The most 1m bars one bar of ``tf`` can hold."""
    return _MINUTES_PER_BAR.get(tf.name, tf.seconds // 60)


def day_range_us(day: date) -> tuple[int, int]:
    """Epoch-µs ``[start, end)`` of exchange-local day ``day``."""
    lo, hi = cal.day_bounds_utc(day)
    return to_us(lo), to_us(hi)


def exchange_days(ts: pa.Array | pa.ChunkedArray) -> dict[date, int]:
    """Count timestamps per exchange-local date."""
    if len(ts) == 0:
        return {}
    s = pl.Series("ts", ts)
    counts = (
        s.dt.convert_time_zone(str(EXCHANGE_TZ)).dt.date().value_counts(sort=False, name="n").sort("ts")
    )
    return {d: int(n) for d, n in counts.iter_rows()}


def expected_labels(tf: Timeframe, start: date, end: date, exchange: str) -> np.ndarray:
    """Bar labels (epoch µs) expected from the calendar's regular sessions in ``[start, end]``."""
    if tf.is_intraday:
        minutes = cal.expected_minutes(start, end, exchange).astype("int64")
        step = tf.seconds * 1_000_000
        return np.unique(minutes - minutes % step)
    days = cal.sessions(start, end, exchange)
    labels = sorted({to_us(tf.bucket(cal.session_label(d) + timedelta(hours=12))) for d in days})
    return np.array(labels, dtype="int64")
