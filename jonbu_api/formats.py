"""History encoders: JSON, CSV, Arrow IPC stream and Parquet, chunk by chunk.

Each encoder turns a sequence of bar tables into bytes incrementally
(``begin``, ``chunk`` per table, ``end``), so an answer of any size is streamed
without ever being held whole in memory. Every format carries the same values:
the candle columns of CONTRACT.md (``ts, open, high, low, close, volume,
trade_count, vwap``); JSON and CSV write ``ts`` as ISO 8601 with ``Z``, Arrow and
Parquet as ``timestamp[us, UTC]``; floats are written in their shortest
round-trip form, so a parsed value equals the stored one.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from jonbu_core.models import BAR_SCHEMA, CANDLE_COLUMNS

#: Arrow schema of the candle columns (what Arrow/Parquet answers carry).
CANDLE_SCHEMA = pa.schema([BAR_SCHEMA.field(c) for c in CANDLE_COLUMNS])

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}
EXTENSIONS = {"json": "json", "csv": "csv", "arrow": "arrows", "parquet": "parquet"}
_TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def candles_only(table: pa.Table) -> pa.Table:
    """The candle columns of a bar table, with :data:`CANDLE_SCHEMA`."""
    return table.select(list(CANDLE_COLUMNS)).cast(CANDLE_SCHEMA)


def _text_frame(table: pa.Table) -> pl.DataFrame:
    df = pl.from_arrow(candles_only(table))
    assert isinstance(df, pl.DataFrame)
    return df.with_columns(pl.col("ts").dt.strftime(_TS_FORMAT))


class Encoder(Protocol):
    """Turns bar tables into the bytes of one answer."""

    media_type: str

    def begin(self) -> bytes:
        """Bytes before the first chunk."""
        ...

    def chunk(self, table: pa.Table) -> bytes:
        """Bytes of one table of bars."""
        ...

    def end(self, next_cursor: str | None) -> bytes:
        """Bytes after the last chunk."""
        ...


class JsonEncoder:
    """``{"symbol", "timeframe", "candles": [...], "next_cursor"}``, streamed."""

    media_type = MEDIA_TYPES["json"]

    def __init__(self, symbol: str, timeframe: str) -> None:
        self.head = orjson.dumps({"symbol": symbol, "timeframe": timeframe})[:-1] + b',"candles":['
        self.first = True

    def begin(self) -> bytes:
        """The object's opening and the candles array's bracket."""
        return self.head

    def chunk(self, table: pa.Table) -> bytes:
        """Candle objects, comma-separated."""
        if table.num_rows == 0:
            return b""
        body = _text_frame(table).write_json().encode()[1:-1]
        if self.first:
            self.first = False
            return body
        return b"," + body

    def end(self, next_cursor: str | None) -> bytes:
        """Close the array; ``next_cursor``; close the object."""
        return b'],"next_cursor":' + orjson.dumps(next_cursor) + b"}"


class CsvEncoder:
    """A header line, then one line per bar (nulls are empty)."""

    media_type = MEDIA_TYPES["csv"]

    def __init__(self) -> None:
        self.first = True

    def begin(self) -> bytes:
        """The header."""
        return (",".join(CANDLE_COLUMNS) + "\n").encode()

    def chunk(self, table: pa.Table) -> bytes:
        """Rows of one table."""
        if table.num_rows == 0:
            return b""
        return _text_frame(table).write_csv(include_header=False).encode()

    def end(self, next_cursor: str | None) -> bytes:
        """Nothing (the cursor goes in the ``X-Next-Cursor`` header)."""
        return b""


class _Drain:
    """A write-only file whose contents are taken out piece by piece."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False
        self.pos = 0

    def write(self, data: Any) -> int:
        b = bytes(data)
        self.parts.append(b)
        self.pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


class ArrowEncoder:
    """An Arrow IPC *stream* (``application/vnd.apache.arrow.stream``)."""

    media_type = MEDIA_TYPES["arrow"]

    def __init__(self, symbol: str, timeframe: str) -> None:
        self.drain = _Drain()
        meta = {b"symbol": symbol.encode(), b"timeframe": timeframe.encode()}
        self.writer = ipc.new_stream(pa.PythonFile(self.drain, mode="w"), CANDLE_SCHEMA.with_metadata(meta))

    def begin(self) -> bytes:
        """The schema message."""
        return self.drain.take()

    def chunk(self, table: pa.Table) -> bytes:
        """Record batches of one table."""
        if table.num_rows:
            self.writer.write_table(candles_only(table))
        return self.drain.take()

    def end(self, next_cursor: str | None) -> bytes:
        """The end-of-stream marker."""
        self.writer.close()
        return self.drain.take()


class ParquetEncoder:
    """A Parquet file, one row group per chunk, footer last."""

    media_type = MEDIA_TYPES["parquet"]

    def __init__(self, symbol: str, timeframe: str) -> None:
        self.drain = _Drain()
        meta = {b"symbol": symbol.encode(), b"timeframe": timeframe.encode()}
        self.writer = pq.ParquetWriter(
            pa.PythonFile(self.drain, mode="w"), CANDLE_SCHEMA.with_metadata(meta), compression="snappy"
        )

    def begin(self) -> bytes:
        """Whatever the writer produced up front (the magic bytes)."""
        return self.drain.take()

    def chunk(self, table: pa.Table) -> bytes:
        """One row group."""
        if table.num_rows:
            self.writer.write_table(candles_only(table), row_group_size=max(1, table.num_rows))
        return self.drain.take()

    def end(self, next_cursor: str | None) -> bytes:
        """The footer."""
        self.writer.close()
        return self.drain.take()


def make_encoder(fmt: str, symbol: str, timeframe: str) -> Encoder:
    """The encoder of ``fmt`` (``json``, ``csv``, ``arrow``, ``parquet``)."""
    if fmt == "json":
        return JsonEncoder(symbol, timeframe)
    if fmt == "csv":
        return CsvEncoder()
    if fmt == "arrow":
        return ArrowEncoder(symbol, timeframe)
    if fmt == "parquet":
        return ParquetEncoder(symbol, timeframe)
    raise ValueError(f"unknown format {fmt!r}")


def content_hash(table: pa.Table, *parts: str) -> str:
    """A strong ETag value: BLAKE2b of the candle columns (Arrow IPC) and ``parts``."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    sink = pa.BufferOutputStream()
    data = candles_only(table)
    with ipc.new_stream(sink, data.schema) as w:
        w.write_table(data)
    h.update(sink.getvalue())
    return h.hexdigest()
