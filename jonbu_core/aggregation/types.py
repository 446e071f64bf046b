"""Columnar containers of the aggregator: symbol table, trade batches, bar snapshots.

Everything is NumPy arrays so the aggregator's hot path stays vectorised. Times
are integer nanoseconds since the UNIX epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.bus.base import CandleEvent, EventKind, bar_candle
from jonbu_core.models import BAR_SCHEMA, Candle, normalize_symbol

NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

#: Event kinds as stored in :attr:`BarSnapshot.kind`.
KIND_PARTIAL, KIND_CLOSED, KIND_REVISION = 0, 1, 2
_KIND_NAMES: tuple[EventKind, EventKind, EventKind] = ("partial", "closed", "revision")
_KIND_FINAL = (False, True, True)


class SymbolTable:
    """A two-way map between symbols and dense integer ids (0, 1, 2…)."""

    def __init__(self, symbols: Iterable[str] = ()) -> None:
        self._ids: dict[str, int] = {}
        self._names: list[str] = []
        for s in symbols:
            self.add(s)

    def add(self, symbol: str) -> int:
        """The id of ``symbol`` (validated and upper-cased), adding it if new."""
        sid = self._ids.get(symbol)
        if sid is not None:
            return sid
        sym = normalize_symbol(symbol)
        sid = self._ids.get(sym)
        if sid is None:
            sid = len(self._names)
            self._names.append(sym)
            self._ids[sym] = sid
        self._ids[symbol] = sid
        return sid

    def id(self, symbol: str) -> int | None:
        """The id of ``symbol``, or ``None`` when unknown."""
        return self._ids.get(symbol)

    def name(self, sid: int) -> str:
        """The symbol of id ``sid``."""
        return self._names[sid]

    @property
    def names(self) -> list[str]:
        """Every symbol, by id."""
        return list(self._names)

    @property
    def mapping(self) -> dict[str, int]:
        """The symbol→id dict (read-only use: the hot path of feed decoders)."""
        return self._ids

    def __len__(self) -> int:
        return len(self._names)


@dataclass(slots=True)
class TradeBatch:
    """Trades in arrival order.

    Attributes
    ----------
    sym : ndarray of int32
        Symbol ids (:class:`SymbolTable`).
    ts : ndarray of int64
        Event times, ns since the epoch (UTC).
    price, size : ndarray of float64
    trade_id : ndarray of int64, optional
        Exchange trade ids (needed to apply corrections and cancels).
    """

    sym: I32
    ts: I64
    price: F64
    size: F64
    trade_id: I64 | None = None

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def from_lists(
        cls,
        sym: Sequence[int],
        ts: Sequence[int],
        price: Sequence[float],
        size: Sequence[float],
        trade_id: Sequence[int] | None = None,
    ) -> TradeBatch:
        """Build a batch from Python lists (what a feed decoder collects)."""
        return cls(
            np.asarray(sym, dtype=np.int32),
            np.asarray(ts, dtype=np.int64),
            np.asarray(price, dtype=np.float64),
            np.asarray(size, dtype=np.float64),
            None if trade_id is None else np.asarray(trade_id, dtype=np.int64),
        )

    @classmethod
    def from_arrow(cls, table: pa.Table | pa.RecordBatch, symbols: SymbolTable) -> TradeBatch:
        """Trades with :data:`~jonbu_core.models.TRADE_SCHEMA` columns as a batch."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        names = table.column("symbol").to_pylist()
        mapping = {s: symbols.add(s) for s in set(names)}
        sym = np.fromiter((mapping[s] for s in names), dtype=np.int32, count=len(names))
        ts = table.column("ts").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        ids: I64 | None = None
        if "trade_id" in table.column_names:
            raw = table.column("trade_id")
            as_int = pc.cast(raw, pa.int64(), safe=False) if pa.types.is_integer(raw.type) else None
            if as_int is None:
                try:
                    as_int = pc.cast(raw, pa.int64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    as_int = None
            if as_int is not None and as_int.null_count == 0:
                ids = as_int.to_numpy().astype(np.int64, copy=False)
        return cls(
            sym,
            ts.to_numpy().astype(np.int64, copy=False),
            table.column("price").to_numpy().astype(np.float64, copy=False),
            table.column("size").to_numpy().astype(np.float64, copy=False),
            ids,
        )

    def take(self, idx: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> TradeBatch:
        """The rows selected by an index or mask."""
        return TradeBatch(
            self.sym[idx], self.ts[idx], self.price[idx], self.size[idx],
            None if self.trade_id is None else self.trade_id[idx],
        )

    @staticmethod
    def concat(batches: Sequence[TradeBatch]) -> TradeBatch:
        """One batch from several (arrival order kept)."""
        if len(batches) == 1:
            return batches[0]
        ids = None
        if all(b.trade_id is not None for b in batches):
            ids = np.concatenate([b.trade_id for b in batches if b.trade_id is not None])
        return TradeBatch(
            np.concatenate([b.sym for b in batches]),
            np.concatenate([b.ts for b in batches]),
            np.concatenate([b.price for b in batches]),
            np.concatenate([b.size for b in batches]),
            ids,
        )


def ns_to_datetime(ns: int) -> datetime:
    """Integer epoch nanoseconds as an aware UTC datetime (µs precision)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


@dataclass(slots=True)
class BarSnapshot:
    """Bars as columns: what the aggregator hands to its sinks.

    ``kind`` is 0 (partial), 1 (closed) or 2 (revision of a closed bar).
    """

    sym: I32
    tf: npt.NDArray[np.int8]
    label: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    count: I64
    vwap: F64
    revision: I32
    kind: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.label.shape[0])

    @classmethod
    def empty(cls) -> BarSnapshot:
        """A snapshot with no bars."""
        z = np.zeros(0)
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0, np.int64), z, z, z, z, z,
                   np.zeros(0, np.int64), z, np.zeros(0, np.int32), np.zeros(0, np.int8))

    @staticmethod
    def concat(parts: Sequence[BarSnapshot]) -> BarSnapshot:
        """One snapshot from several, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return BarSnapshot.empty()
        if len(parts) == 1:
            return parts[0]
        return BarSnapshot(*(np.concatenate([getattr(p, f) for p in parts]) for f in BarSnapshot.__slots__))

    def select(self, mask: npt.NDArray[np.bool_]) -> BarSnapshot:
        """The bars where ``mask`` holds."""
        return BarSnapshot(*(getattr(self, f)[mask] for f in BarSnapshot.__slots__))

    def to_arrow(self, symbols: SymbolTable, timeframes: Sequence[str], source: str = "stream") -> pa.Table:
        """The bars as a :data:`~jonbu_core.models.BAR_SCHEMA` table."""
        n = len(self)
        names = symbols.names
        vwap = np.where(np.isfinite(self.vwap), self.vwap, np.nan)
        return pa.Table.from_arrays(
            [
                pa.array([names[i] for i in self.sym.tolist()], pa.string()),
                pa.array([timeframes[i] for i in self.tf.tolist()], pa.string()),
                pa.array(self.label // 1000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                pa.array(self.open), pa.array(self.high), pa.array(self.low), pa.array(self.close),
                pa.array(self.volume), pa.array(self.count, pa.int64()),
                pa.array(vwap, pa.float64(), from_pandas=True),
                pa.repeat(pa.scalar(source, pa.string()), n),
            ],
            schema=BAR_SCHEMA,
        )

    def to_events(self, symbols: SymbolTable, timeframes: Sequence[str]) -> list[CandleEvent]:
        """The bars as bus events (closed bars and revisions are ``final``); candles are built on first access."""
        return CandleEvent.from_bars(symbols.names, timeframes, _KIND_FINAL, _KIND_NAMES, self.sym.tolist(),
                                     self.tf.tolist(), self.kind.tolist(), self.revision.tolist(), _BarRows(self))


class _BarRows:
    """The candles of a snapshot's rows, for its events, built when first asked for.

    The bar values become Python objects (one ``tolist`` per column, for every row at
    once) only when some event's candle is first read, and each candle once: a bus
    that only routes events by key never pays for them.
    """

    __slots__ = ("_candles", "_rows", "snap")

    def __init__(self, snap: BarSnapshot) -> None:
        self.snap = snap
        self._rows: list[tuple[int, float, float, float, float, float, int, float]] | None = None
        self._candles: list[Candle | None] = []

    def built(self, i: int) -> Candle | None:
        """Row ``i``'s candle if it was built already."""
        return self._candles[i] if self._candles else None

    def candle(self, i: int) -> Candle:
        """Row ``i``'s candle (built on first access, then kept)."""
        rows = self._rows
        if rows is None:
            s = self.snap
            rows = self._rows = list(zip(s.label.tolist(), s.open.tolist(), s.high.tolist(), s.low.tolist(),
                                         s.close.tolist(), s.volume.tolist(), s.count.tolist(), s.vwap.tolist(),
                                         strict=True))
            self._candles = [None] * len(rows)
        c = self._candles[i]
        if c is None:
            c = self._candles[i] = bar_candle(*rows[i])
        return c


__all__ = [
    "KIND_CLOSED", "KIND_PARTIAL", "KIND_REVISION", "NS", "BarSnapshot", "SymbolTable", "TradeBatch",
    "ns_to_datetime",
]
