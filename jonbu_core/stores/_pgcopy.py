"""Vectorised PostgreSQL binary ``COPY`` encoding and decoding of bars.

psycopg's ``write_row``/``fetchall`` build one Python tuple per row; for bulk
loads and reads of 100k+ bars that dominates. Here rows are laid out with NumPy
structured dtypes instead:

* **encode**: rows are grouped by their variable parts (symbol, timeframe, source
  and which nullable fields are null); inside a group every row has the same
  byte layout, so one structured array per group holds the whole COPY stream.
* **decode**: :data:`READ_SELECT` makes every output row the same size (nullable
  values mapped to sentinels that validation never lets through: ``-1`` trade
  count, ``NaN`` vwap; ``source`` padded to :data:`SOURCE_WIDTH` bytes with its
  real length beside it), so the stream is one structured array.
  :func:`decode_bars` returns ``None`` if any row breaks the layout (a longer or
  non-ASCII source): the caller then falls back to psycopg's own binary fetch.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from jonbu_core.models import BAR_SCHEMA, TS_TYPE

#: ``2000-01-01T00:00:00Z`` (PostgreSQL's epoch) in Unix microseconds.
PG_EPOCH_US = 946_684_800_000_000
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
#: Column order of the COPY streams written by :func:`encode_bars`.
COPY_COLUMNS: tuple[str, ...] = tuple(BAR_SCHEMA.names)
SOURCE_WIDTH = 24

#: The select list whose binary COPY output :func:`decode_bars` parses.
READ_SELECT = (
    "ts, open, high, low, close, volume, coalesce(trade_count, -1), "
    f"coalesce(vwap, 'NaN'::float8), octet_length(source)::int2, rpad(source, {SOURCE_WIDTH})"
)
_FIXED = ("ts", "open", "high", "low", "close", "volume", "trade_count", "vwap")
_FLOATS = ("open", "high", "low", "close", "volume", "vwap")
_READ_DTYPE = np.dtype(
    [("n", ">i2")]
    + [item for name in _FIXED for item in ((f"l_{name}", ">i4"), (name, ">f8" if name in _FLOATS else ">i8"))]
    + [("l_srclen", ">i4"), ("srclen", ">i2"), ("l_src", ">i4"), ("src", f"S{SOURCE_WIDTH}")]
)


def _text(name: str, value: bytes) -> list[tuple[str, str]]:
    fields = [(f"l_{name}", ">i4")]
    if value:
        fields.append((name, f"S{len(value)}"))
    return fields


def encode_bars(table: pa.Table) -> bytes:
    """Encode valid bars (:data:`BAR_SCHEMA`) as a complete binary COPY stream.

    The stream's columns are :data:`COPY_COLUMNS`; row order is not kept.
    """
    return b"".join(iter_encode_bars(table))


def iter_encode_bars(table: pa.Table) -> Iterator[bytes | memoryview]:
    """:func:`encode_bars` in pieces (header, one block per group, trailer): no big copy."""
    df = pl.from_arrow(table.select(list(COPY_COLUMNS)))
    assert isinstance(df, pl.DataFrame)
    yield HEADER
    if df.height == 0:
        yield TRAILER
        return
    df = df.with_columns(
        pl.col("ts").dt.epoch("us").alias("_us"),
        pl.col("trade_count").is_null().alias("_tcn"),
        pl.col("vwap").is_null().alias("_vwn"),
    )
    for (symbol, timeframe, source, tc_null, vw_null), grp in df.group_by(
        "symbol", "timeframe", "source", "_tcn", "_vwn", maintain_order=True
    ):
        sym_b, tf_b, src_b = (str(v).encode() for v in (symbol, timeframe, source))
        fields: list[tuple[str, str]] = [("n", ">i2")]
        fields += _text("symbol", sym_b) + _text("timeframe", tf_b) + [("l_ts", ">i4"), ("ts", ">i8")]
        for name in ("open", "high", "low", "close", "volume"):
            fields += [(f"l_{name}", ">i4"), (name, ">f8")]
        fields += [("l_trade_count", ">i4")] + ([] if tc_null else [("trade_count", ">i8")])
        fields += [("l_vwap", ">i4")] + ([] if vw_null else [("vwap", ">f8")])
        fields += _text("source", src_b)
        arr = np.empty(grp.height, dtype=np.dtype(fields))
        arr["n"] = len(COPY_COLUMNS)
        for name, value in (("symbol", sym_b), ("timeframe", tf_b), ("source", src_b)):
            arr[f"l_{name}"] = len(value)
            if value:
                arr[name] = value
        arr["l_ts"] = 8
        arr["ts"] = grp.get_column("_us").to_numpy() - PG_EPOCH_US
        for name in ("open", "high", "low", "close", "volume"):
            arr[f"l_{name}"] = 8
            arr[name] = grp.get_column(name).to_numpy()
        arr["l_trade_count"] = -1 if tc_null else 8
        if not tc_null:
            arr["trade_count"] = grp.get_column("trade_count").to_numpy()
        arr["l_vwap"] = -1 if vw_null else 8
        if not vw_null:
            arr["vwap"] = grp.get_column("vwap").to_numpy()
        yield arr.data.cast("B")
    yield TRAILER


def decode_bars(data: bytes | bytearray | memoryview, symbol: str, timeframe: str) -> pa.Table | None:
    """Parse a binary COPY of :data:`READ_SELECT` into bars, or ``None`` if the layout breaks."""
    buf = memoryview(data)
    size = _READ_DTYPE.itemsize
    body = len(buf) - len(HEADER) - len(TRAILER)
    if len(buf) < len(HEADER) + len(TRAILER) or bytes(buf[: len(HEADER)]) != HEADER or body % size:
        return None
    n = body // size
    arr: Any = np.frombuffer(buf, dtype=_READ_DTYPE, count=n, offset=len(HEADER))
    if n:
        ok = (arr["n"] == 10).all() and (arr["l_srclen"] == 2).all() and (arr["l_src"] == SOURCE_WIDTH).all()
        ok = ok and all((arr[f"l_{name}"] == 8).all() for name in _FIXED)
        ok = ok and bool((arr["srclen"] <= SOURCE_WIDTH).all())
        if not ok:
            return None
    ts = arr["ts"].astype("<i8") + PG_EPOCH_US
    tc = arr["trade_count"].astype("<i8")
    vw = arr["vwap"].astype("<f8")
    cols: dict[str, pa.Array] = {
        "symbol": pa.repeat(pa.scalar(symbol), n),
        "timeframe": pa.repeat(pa.scalar(timeframe), n),
        "ts": pa.array(ts, type=pa.int64()).cast(TS_TYPE),
    }
    for name in ("open", "high", "low", "close", "volume"):
        cols[name] = pa.array(arr[name].astype("<f8"))
    cols["trade_count"] = pa.array(tc, mask=tc < 0)
    cols["vwap"] = pa.array(vw, mask=np.isnan(vw))
    cols["source"] = _decode_source(arr["src"], arr["srclen"].astype("<i8"))
    return pa.Table.from_pydict(cols, schema=BAR_SCHEMA)


def _decode_source(padded: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """Decode padded sources, one Python decode per run of equal values."""
    n = len(padded)
    if n == 0:
        return pa.array([], pa.string())
    change = np.empty(n, dtype=bool)
    change[0] = True
    change[1:] = (padded[1:] != padded[:-1]) | (lengths[1:] != lengths[:-1])
    starts = np.flatnonzero(change)
    values: dict[tuple[bytes, int], int] = {}
    codes_per_run = np.empty(len(starts), dtype="int32")
    for i, s in enumerate(starts):
        key = (bytes(padded[s]), int(lengths[s]))
        codes_per_run[i] = values.setdefault(key, len(values))
    run_len = np.diff(np.append(starts, n))
    codes = np.repeat(codes_per_run, run_len)
    dictionary = pa.array(
        [raw.ljust(SOURCE_WIDTH, b" ")[:length].decode() for raw, length in values], pa.string()
    )
    return pa.DictionaryArray.from_arrays(pa.array(codes), dictionary).cast(pa.string())


_TS_DTYPE = np.dtype([("n", ">i2"), ("l_ts", ">i4"), ("ts", ">i8")])


def decode_ts(data: bytes | bytearray | memoryview) -> pa.Array | None:
    """Parse a binary COPY of one non-null ``timestamptz`` column, or ``None`` if malformed."""
    buf = memoryview(data)
    body = len(buf) - len(HEADER) - len(TRAILER)
    if body < 0 or bytes(buf[: len(HEADER)]) != HEADER or body % _TS_DTYPE.itemsize:
        return None
    arr: Any = np.frombuffer(buf, dtype=_TS_DTYPE, count=body // _TS_DTYPE.itemsize, offset=len(HEADER))
    if len(arr) and not ((arr["n"] == 1).all() and (arr["l_ts"] == 8).all()):
        return None
    return pa.array(arr["ts"].astype("<i8") + PG_EPOCH_US, type=pa.int64()).cast(TS_TYPE)
