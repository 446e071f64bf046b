"""Alpaca trade frames decoded in C: the first step of :meth:`AlpacaFeed._decode`.

A frame of the Alpaca stream is a msgpack array of trade maps. The Python fast path
of :meth:`~jonbu_stream.feeds.alpaca.AlpacaFeed._decode` (``msgpack.unpackb`` then
columns by ``zip``/``map``) costs ~150–200 µs for 250 trades; ``_wire.c`` reads the
bytes once straight into the columns, ~10× faster.

:class:`WireDecoder` holds the C side's symbol table (built from the feed's
``bytes → id`` dict, rebuilt when that changes) and reusable output buffers.
:meth:`WireDecoder.decode` returns exactly the :class:`TradeBatch` the Python fast
path would, :data:`EMPTY` for an empty frame (nothing to deliver), or ``None``:
"take the Python path" (anything unusual — another message type, a bad value, an
unknown symbol, a malformed frame — which Python then handles as before,
quarantining what is bad).

:func:`available` is false when the C helper was not built (no compiler at install
time) or does not match this module; the feed then decodes in Python only.
"""

from __future__ import annotations

import ctypes
import enum
import logging
from typing import Any, Final, Literal

import numpy as np

from jonbu_core.aggregation.types import TradeBatch
from jonbu_core.clib import load_helper

logger = logging.getLogger(__name__)

_ABI = 1
"""Layout version of ``jb_wire`` and the return codes (``jb_abi()`` of the C file)."""
_FALLBACK, _GROW = -1, -2
_I32_MAX = 2**31 - 1


class _Wire(ctypes.Structure):
    """``jb_wire`` of ``_wire.c``."""

    _fields_ = [
        ("n_names", ctypes.c_int64),
        ("mask", ctypes.c_int64),
        ("blob", ctypes.c_void_p),
        ("off", ctypes.c_void_p),
        ("sid", ctypes.c_void_p),
        ("slot", ctypes.c_void_p),
        ("cap", ctypes.c_int64),
        ("sym", ctypes.c_void_p),
        ("ts", ctypes.c_void_p),
        ("price", ctypes.c_void_p),
        ("size", ctypes.c_void_p),
        ("tid", ctypes.c_void_p),
        ("need", ctypes.c_int64),
        ("reason", ctypes.c_int64),
    ]


class Nothing(enum.Enum):
    """The type of :data:`EMPTY`."""

    EMPTY = 0


EMPTY: Final = Nothing.EMPTY
"""What :meth:`WireDecoder.decode` returns for an empty frame (``[]``): nothing to deliver."""


def _load() -> tuple[Any, Any] | None:
    """The C functions ``(jb_wire_decode, jb_wire_index)``, or None (the reason is logged)."""
    def check(lib: ctypes.CDLL) -> None:
        lib.jb_wire_size.restype = ctypes.c_int64
        size = lib.jb_wire_size()
        if size != ctypes.sizeof(_Wire):
            raise AttributeError(f"_wire's jb_wire is {size} bytes, this module's {ctypes.sizeof(_Wire)}")

    # keep_gil: the call keeps the GIL (~10 µs; no release/reacquire, and one decoder's
    # buffers are never written by two threads at once).
    lib = load_helper(__file__, "_wire", _ABI, keep_gil=True, check=check, what="alpaca stream",
                      fallback="decoding frames in Python")
    if lib is None:
        return None
    decode = lib.jb_wire_decode
    decode.argtypes = [ctypes.c_char_p, ctypes.c_int64, ctypes.c_void_p]
    decode.restype = ctypes.c_int64
    index = lib.jb_wire_index
    index.argtypes = [ctypes.c_void_p]
    index.restype = ctypes.c_int
    return decode, index


_NATIVE = _load()


def available() -> bool:
    """Whether frames can be decoded natively.

    Returns
    -------
    bool
        True when ``_wire`` is built and matches this module.
    """
    return _NATIVE is not None


class WireDecoder:
    """The C frame decoder with its symbol table and reusable output buffers.

    Not thread-safe: one per feed (the feed decodes on its event loop).

    Parameters
    ----------
    capacity : int
        Trades the output buffers hold at first (they grow to the largest frame seen).
    """

    def __init__(self, capacity: int = 1024) -> None:
        if _NATIVE is None:
            raise RuntimeError("the C frame decoder _wire is not available")
        self._decode_fn, self._index_fn = _NATIVE
        self._w = _Wire()
        self._addr = ctypes.addressof(self._w)
        self._src: dict[bytes, int] | None = None
        self._src_len = -1
        self._table: tuple[Any, ...] = ()
        self._bufs: tuple[np.ndarray[Any, Any], ...] = ()
        self._set_symbols({})
        self._grow(max(1, capacity))

    # ------------------------------------------------------------ buffers
    def _grow(self, cap: int) -> None:
        bufs = (np.empty(cap, np.int32), np.empty(cap, np.int64), np.empty(cap, np.float64),
                np.empty(cap, np.float64), np.empty(cap, np.int64))
        w = self._w
        w.sym, w.ts, w.price, w.size, w.tid = (int(b.ctypes.data) for b in bufs)
        w.cap = cap
        self._bufs = bufs

    @property
    def capacity(self) -> int:
        """Trades the output buffers hold."""
        return int(self._w.cap)

    # ------------------------------------------------------- symbol table
    def _set_symbols(self, symbols: dict[bytes, int]) -> None:
        names = [(k, v) for k, v in symbols.items()
                 if type(k) is bytes and type(v) is int and 0 <= v <= _I32_MAX]
        blob = np.frombuffer(b"".join(k for k, _ in names) or b"\0", np.uint8).copy()
        off = np.zeros(len(names) + 1, np.int64)
        off[1:] = np.cumsum([len(k) for k, _ in names], dtype=np.int64)
        sid = np.array([v for _, v in names] or [0], np.int32)
        nslots = 8
        while nslots < 2 * len(names):
            nslots *= 2
        slot = np.empty(nslots, np.int32)
        w = self._w
        w.n_names, w.mask = len(names), nslots - 1
        w.blob, w.off, w.sid, w.slot = (int(a.ctypes.data) for a in (blob, off, sid, slot))
        if self._index_fn(self._addr) != 0:  # pragma: no cover - the table is sized above
            raise RuntimeError("symbol table too small")
        self._table = (blob, off, sid, slot)

    def sync(self, symbols: dict[bytes, int]) -> None:
        """Rebuild the C symbol table from ``symbols`` (the feed's ``bytes → id`` dict).

        :meth:`decode` rebuilds it by itself when it sees another dict or a new length;
        call this after changing the id of a name already there.

        Parameters
        ----------
        symbols : dict of bytes to int
            Symbol names as they come on the wire, and their ids.
        """
        self._set_symbols(symbols)
        self._src, self._src_len = symbols, len(symbols)

    # ------------------------------------------------------------- decode
    def decode(self, raw: bytes, symbols: dict[bytes, int]) -> TradeBatch | Literal[Nothing.EMPTY] | None:
        """Frame ``raw`` as the Python fast path would decode it, or None: take the Python path.

        Parameters
        ----------
        raw : bytes
            One WebSocket frame.
        symbols : dict of bytes to int
            The feed's symbol ids by wire name; a name not there means the Python path.

        Returns
        -------
        TradeBatch, EMPTY or None
            The trades (arrays of their own), :data:`EMPTY` for an empty array (nothing
            to deliver), None for anything the C decoder leaves to Python.
        """
        if symbols is not self._src or len(symbols) != self._src_len:
            self.sync(symbols)
        if type(raw) is not bytes:
            return None
        n = self._decode_fn(raw, len(raw), self._addr)
        if n == _GROW:
            need = int(self._w.need)
            cap = self.capacity
            while cap < need:
                cap *= 2
            self._grow(cap)
            n = self._decode_fn(raw, len(raw), self._addr)
        if n > 0:
            sym, ts, px, sz, tid = self._bufs
            return TradeBatch(sym[:n].copy(), ts[:n].copy(), px[:n].copy(), sz[:n].copy(), tid[:n].copy())
        if n == 0:
            return EMPTY
        return None

    @property
    def last_fallback_offset(self) -> int:
        """Where in the last frame the C decoder gave up (diagnostics)."""
        return int(self._w.reason)


def decoder() -> WireDecoder | None:
    """A new :class:`WireDecoder`, or None when the C decoder is not available.

    Returns
    -------
    WireDecoder or None
        The decoder, or None (frames are then decoded in Python).
    """
    return WireDecoder() if _NATIVE is not None else None


__all__ = ["EMPTY", "Nothing", "WireDecoder", "available", "decoder"]
