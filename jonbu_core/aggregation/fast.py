"""The aggregator's live-stream fast path: one C call per batch (``_fastagg.c``).

The live stream delivers small batches (one WebSocket frame: tens to hundreds of
trades) whose trades are nearly always valid, in order within their symbol, on time
and inside the minute whose bars are already open. For those,
:meth:`~jonbu_core.aggregation.aggregator.CandleAggregator.process` spends ~100 µs in
the fixed cost of some 80 NumPy operations, whatever the batch size. The C helper does
the same work in one pass (a few µs): it either produces exactly what the NumPy path
would — the same values bit for bit, the same trade-log order — or changes nothing
and the NumPy path runs. The tests run the aggregation suite both ways.

:func:`available` is false when the helper was not built (no C compiler at install
time); the aggregator then always takes the NumPy path.
"""

from __future__ import annotations

import ctypes
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from jonbu_core.aggregation.builder import MINUTE_NS
from jonbu_core.aggregation.types import BarSnapshot
from jonbu_core.clib import load_helper

if TYPE_CHECKING:
    from jonbu_core.aggregation.aggregator import CandleAggregator
    from jonbu_core.aggregation.types import TradeBatch

logger = logging.getLogger(__name__)

_ABI = 3
_P = ctypes.c_void_p
_I64 = ctypes.c_int64


class _State(ctypes.Structure):
    """``ja_state`` of ``_fastagg.c``."""

    _fields_ = [
        ("n_sym", _I64), ("n_tf", _I64), ("clock", _P), ("next", _P), ("last_ts", _P), ("last_price", _P),
        ("cur_min", _P), ("cur_rows", _P),
        ("cap", _I64), ("state", _P), ("dirty", _P), ("open", _P), ("high", _P), ("low", _P), ("close", _P),
        ("volume", _P), ("pv", _P), ("count", _P), ("tfirst", _P), ("tlast", _P),
        ("mark", _P), ("start", _P), ("prev", _P), ("touched", _P), ("call", _I64),
        ("cap_batch", _I64), ("pxsz", _P),
        ("sym", _P), ("tf", _P), ("label", _P), ("rev", _P),
    ]


def _load() -> tuple[Any, Any] | None:
    lib = load_helper(__file__, "_fastagg", _ABI, abi_symbol="ja_abi", keep_gil=True, what="aggregation",
                      fallback="using the NumPy path only")
    if lib is None:
        return None
    fn = lib.ja_process
    fn.argtypes = [_P, _I64, _P, _P, _P, _P, _P, _I64, _I64, _I64, _P, _P, _P, _P, _P, _P]
    fn.restype = _I64
    take = lib.ja_take_partials
    take.argtypes = [_P, _P, _I64, _P, _I64, _I64, *[_P] * 12]
    take.restype = _I64
    return fn, take


_NATIVE = _load()
_PROCESS: Any = _NATIVE[0] if _NATIVE else None
_TAKE_PARTIALS: Any = _NATIVE[1] if _NATIVE else None
_FROM_BUFFER: Any = ctypes.c_char.from_buffer
"""A ctypes view of an array's (writable, contiguous) buffer: the cheapest way to its address (~0.2 µs;
``ndarray.ctypes.data`` costs ~0.8 µs)."""
Sorted = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any],
               np.ndarray[Any, Any] | None]
"""``(sym, ts, price, size, trade_id)`` sorted by symbol."""
_SNAP_DTYPES = (np.int32, np.int8, np.int64, np.float64, np.float64, np.float64, np.float64, np.float64, np.int64,
                np.float64, np.int32, np.int8)
"""The columns of a :class:`BarSnapshot`, in order."""
_REFUSED: tuple[Any, ...] = ("refused",)
"""What :attr:`FastPath._bound` holds once arrays of another layout were refused."""
_EXPECTED = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.float64), np.dtype(np.float64))


def available() -> bool:
    """Whether the C fast path is built."""
    return _PROCESS is not None


def _addr(a: np.ndarray[Any, Any]) -> int:
    return int(a.ctypes.data)


class FastPath:
    """The C fast path bound to one :class:`CandleAggregator`'s arrays.

    The aggregator and its pool replace their arrays when they grow; :meth:`process`
    notices (identity checks) and binds the new ones.
    """

    def __init__(self, agg: CandleAggregator) -> None:
        self.agg = agg
        self.state = _State()
        self._state_ref = ctypes.byref(self.state)
        self._bound: tuple[Any, ...] = ()
        self._out: list[np.ndarray[Any, Any]] = []
        self._out_ptr: list[int] = []
        self._info = np.zeros(5, np.int64)
        self._info_ptr = _addr(self._info)
        self._scratch: list[np.ndarray[Any, Any]] = []
        self._snap: list[np.ndarray[Any, Any]] = []
        self._snap_ptr: list[int] = []
        self._emitted_ptr, self._n_emitted = 0, 0
        self.hits = 0
        """Batches the C path processed (the aggregator counts them all in ``batches``)."""

    def _arrays(self) -> tuple[Any, ...]:
        a, p = self.agg, self.agg.pool
        return (a._clock, a._next, a.last_ts, a.last_price, a._cur_min, a._cur_rows, p.state, p.dirty, p.open,
                p.high, p.low, p.close, p.volume, p.pv, p.count, p.tfirst, p.tlast, p.sym, p.tf, p.label, p.rev,
                a.emitted)

    def _bind(self, arrays: tuple[Any, ...], n: int) -> bool:
        """Point the C state at ``arrays`` (:meth:`_arrays`); ``False`` (and nothing bound) when their
        layout is not the one the C code reads — then every batch takes the NumPy path."""
        st = self.state
        (clock, nxt, last_ts, last_price, cur_min, cur_rows, state, dirty, open_, high, low, close, volume, pv,
         count, tfirst, tlast, psym, ptf, label, rev, emitted) = arrays
        n_sym, cap = clock.shape[0], state.shape[0]
        layout = [(clock, np.int64, n_sym), (nxt, np.int64, n_sym), (last_ts, np.int64, n_sym),
                  (last_price, np.float64, n_sym), (cur_min, np.int64, n_sym), (state, np.int8, cap),
                  (dirty, np.bool_, cap), (psym, np.int32, cap), (ptf, np.int8, cap), (label, np.int64, cap),
                  (rev, np.int32, cap), (emitted, np.bool_, emitted.shape[0]),
                  *((x, np.float64, cap) for x in (open_, high, low, close, volume, pv)),
                  *((x, np.int64, cap) for x in (count, tfirst, tlast))]
        if (any(a.ndim != 1 or a.dtype != dt or a.shape[0] != size or not a.flags.c_contiguous
                for a, dt, size in layout)
                or cur_rows.ndim != 2 or cur_rows.shape[0] != n_sym or cur_rows.dtype != np.int64
                or not cur_rows.flags.c_contiguous):
            if self._bound is not _REFUSED:
                logger.warning("aggregation: the arrays' layout is not the C fast path's; using the NumPy path")
            self._bound = _REFUSED
            return False
        st.n_sym, st.n_tf = n_sym, cur_rows.shape[1]
        st.clock, st.next, st.last_ts, st.last_price = (_addr(x) for x in (clock, nxt, last_ts, last_price))
        st.cur_min, st.cur_rows = _addr(cur_min), _addr(cur_rows)
        st.cap = state.shape[0]
        st.state, st.dirty, st.open, st.high, st.low, st.close = (
            _addr(x) for x in (state, dirty, open_, high, low, close))
        st.volume, st.pv, st.count, st.tfirst, st.tlast = (_addr(x) for x in (volume, pv, count, tfirst, tlast))
        st.sym, st.tf, st.label, st.rev = (_addr(x) for x in (psym, ptf, label, rev))
        self._emitted_ptr, self._n_emitted = _addr(emitted), emitted.shape[0]
        if not self._scratch or self._scratch[0].shape[0] != n_sym:
            self._scratch = [np.zeros(n_sym, np.int64), np.zeros(n_sym, np.int64), np.zeros(n_sym, np.int64),
                             np.zeros(n_sym, np.int32)]
        st.mark, st.start, st.prev, st.touched = (_addr(x) for x in self._scratch)
        cap = max(n, st.cap_batch, 1024)
        if not self._out or self._out[0].shape[0] < cap:
            self._out = [np.empty(cap, np.int32), np.empty(cap, np.int64), np.empty(cap), np.empty(cap),
                         np.empty(cap, np.int64), np.empty(cap)]
            self._out_ptr = [_addr(x) for x in self._out]
            st.cap_batch = cap
            st.pxsz = self._out_ptr[5]
        self._bound = arrays
        return True

    def _bound_now(self, n: int) -> bool:
        arrays = self._arrays()
        bound = self._bound
        if (len(bound) != len(arrays) or any(x is not y for x, y in zip(arrays, bound, strict=True))
                or n > self.state.cap_batch):
            return self._bind(arrays, n)
        return True

    def partials(self) -> BarSnapshot | None:
        """:meth:`CandleAggregator.partials` in one C call (``None``: use the NumPy path)."""
        krow = self.agg.pool.krow
        n_live = krow.shape[0]
        if n_live == 0 or krow.dtype != np.int64 or not self._bound_now(0):
            return None
        if not self._snap or self._snap[0].shape[0] < n_live:
            cap = max(256, 2 * n_live)
            self._snap = [np.empty(cap, dt) for dt in _SNAP_DTYPES]
            self._snap_ptr = [_addr(x) for x in self._snap]
        try:
            ref = ctypes.byref(_FROM_BUFFER(krow))
        except (TypeError, ValueError, BufferError):
            return None
        k = _TAKE_PARTIALS(self._state_ref, ref, n_live, self._emitted_ptr, self._n_emitted, self._snap[0].shape[0],
                           *self._snap_ptr)
        if k < 0:
            return None
        return BarSnapshot(*[b[:k].copy() for b in self._snap])

    def process(self, batch: TradeBatch, n_known: int,
                lateness_ns: int) -> tuple[Sorted, int, int, tuple[int, int]] | None:
        """Aggregate ``batch`` if the fast path applies.

        Returns
        -------
        tuple or None
            ``((sym, ts, price, size, trade_id), due, max_clock)``: the trades sorted by
            symbol (stable; ``trade_id`` ``None`` when the batch has none), whether a
            symbol's next bar transition is due, the largest clock of the batch's
            symbols and the batch's ``(earliest, latest)`` event time. ``None``: nothing
            was done, run the NumPy path.
        """
        n = len(batch)
        sym, ts, px, sz, ids = batch.sym, batch.ts, batch.price, batch.size, batch.trade_id
        if not self._bound_now(n):
            return None
        if (sym.dtype, ts.dtype, px.dtype, sz.dtype) != _EXPECTED or (ids is not None and ids.dtype != np.int64):
            return None
        try:
            refs = [ctypes.byref(_FROM_BUFFER(a)) for a in (sym, ts, px, sz)]
            rid = None if ids is None else ctypes.byref(_FROM_BUFFER(ids))
        except (TypeError, ValueError, BufferError):  # read-only or non-contiguous arrays
            return None
        if ts.shape[0] != n or px.shape[0] != n or sz.shape[0] != n or (ids is not None and ids.shape[0] != n):
            return None
        o = self._out_ptr
        done = _PROCESS(self._state_ref, n, *refs, rid, n_known, MINUTE_NS, lateness_ns,
                        o[0], o[1], o[2], o[3], o[4] if ids is not None else None, self._info_ptr)
        if done != n:
            return None
        self.hits += 1
        out = self._out
        cols: Sorted = (out[0][:n].copy(), out[1][:n].copy(), out[2][:n].copy(), out[3][:n].copy(),
                None if ids is None else out[4][:n].copy())
        due, max_clock, _, tmin, tmax = self._info.tolist()
        return cols, due, max_clock, (tmin, tmax)


__all__ = ["FastPath", "available"]
