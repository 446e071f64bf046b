"""TA-Lib streaming handles driven from C: the incremental path's fast lane.

TA-Lib (>= 0.6) has a stateful streaming API in C (``TA_<FUNC>_Open``,
``_Update``, ``_Peek``, ``_Value``, ``_Close``); ``talib.stream`` wraps each handle
in a Python object whose every call costs ~0.4 µs (method call, GIL release, a
mutex). With ~100 handles per bar that is most of an incremental update.

This module opens the *same* C handles itself (through ctypes, resolving the
symbols via talib's own extension module, so the exact TA-Lib build talib uses)
and runs a whole graph step — the handles, the lags and the element-wise
operations of :mod:`.ops` — with one call into ``_tastep.c``. The TA-Lib numbers
are TA-Lib's, bit for bit, and each operation is its Python expression in C; the
tests run the incremental path both ways and compare with the batch path, and
every operation with its expression.

:func:`available` is false when the C helper was not built (no compiler at install
time); :class:`~jonbu_core.enrich.stepper.Stepper` then uses ``talib.stream``.
"""

from __future__ import annotations

import ctypes
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import talib
from talib import _ta_lib

from jonbu_core.clib import load_helper

logger = logging.getLogger(__name__)

_INSUFFICIENT_HISTORY = 17
"""TA-Lib's return code of an ``_Open`` with fewer bars than the lookback (what
``talib.stream`` raises ``InsufficientHistory`` for)."""
MAX_TA_IN, MAX_OUT = 5, 3
"""Shapes the C loop knows (every TA-Lib function has at most 5 inputs, 3 outputs)."""

_I32P = ctypes.POINTER(ctypes.c_int32)


class _Program(ctypes.Structure):
    """``jb_program`` of ``_tastep.c``."""

    _fields_ = [
        ("n", ctypes.c_int32),
        ("failed", ctypes.c_int32),
        ("n_hits", ctypes.c_int32),
        ("commit", ctypes.c_int32),
        ("kind", _I32P),
        ("n_in", _I32P),
        ("n_out", _I32P),
        ("is_int", _I32P),
        ("fn", ctypes.POINTER(ctypes.c_void_p)),
        ("handle", ctypes.POINTER(ctypes.c_void_p)),
        ("in_idx", _I32P),
        ("out_idx", _I32P),
        ("cst", ctypes.POINTER(ctypes.c_double)),
        ("tag", _I32P),
        ("lag_off", _I32P),
        ("lag_k", _I32P),
        ("hits", _I32P),
        ("lagbuf", ctypes.POINTER(ctypes.c_double)),
        ("v", ctypes.POINTER(ctypes.c_double)),
    ]


OP_NAMES: tuple[str, ...] = (
    "pctb", "bbwidth", "ratio", "chop", "sub", "div_or", "r2", "lin01", "mm01", "balance", "signmul",
    "clipk", "nansum0", "tstrength", "breakout", "breakdown", "gap", "regime", "tdir", "eq")
"""Element-wise operations the C loop implements, in the order of its ``OP_*`` codes."""
_K_TA, _K_LAG, _K_ANCHOR, _OP_BASE = 0, 1, 2, 3
ANCHOR_STATE = 4
_ABI = 2
"""Layout version of ``jb_program`` and the instruction kinds (``jb_abi()`` of the C file)."""
"""Doubles of state of an anchored VWAP/OBV instruction: (anchor id, Σ pv, Σ volume, Σ signed volume)."""
MAX_OP_IN, N_CONST = 8, 3


def _load() -> tuple[ctypes.CDLL, Any] | None:
    def check(helper: ctypes.CDLL) -> None:
        if helper.jb_n_ops() != len(OP_NAMES):
            raise AttributeError(f"_tastep has {helper.jb_n_ops()} operations, this module expects "
                                 f"{len(OP_NAMES)} (rebuild it: pip install -e .)")

    helper = load_helper(__file__, "_tastep", _ABI, what="enrichment", fallback="using talib.stream handles",
                         check=check)
    if helper is None:
        return None
    try:
        ta = ctypes.CDLL(_ta_lib.__file__)
        ta.TA_SMA_Update  # noqa: B018 - the streaming API is there
    except (OSError, AttributeError) as exc:  # pragma: no cover - depends on the install
        logger.warning("enrichment: TA-Lib's streaming API is not reachable (%s); using talib.stream handles", exc)
        return None
    run = helper.jb_run
    run.argtypes = [ctypes.c_void_p]
    run.restype = ctypes.c_int
    return ta, run


_NATIVE = _load()


def available() -> bool:
    """Whether handles can be opened and stepped natively."""
    return _NATIVE is not None


@dataclass(frozen=True)
class Signature:
    """The C shape of one TA-Lib function's streaming API."""

    func: str
    n_in: int
    n_out: int
    is_int: bool
    params: tuple[Any, ...]
    """ctypes type of each optional parameter (``c_double`` or ``c_int``)."""


@cache
def signature(func: str, n_in: int, n_out: int) -> Signature:
    """The streaming signature of TA-Lib function ``func``."""
    name = func.encode()
    info = _ta_lib._ta_getFuncInfo(name)  # type: ignore[attr-defined]
    params = tuple(ctypes.c_double if _ta_lib._ta_getOptInputParameterInfo(name, i)["type"] < 2  # type: ignore[attr-defined]
                   else ctypes.c_int for i in range(info["num_opt_inputs"]))
    x = np.linspace(1.0, 2.0, 400)
    probe = getattr(talib, func)(*(x + 0.01 * k for k in range(n_in)))
    first = probe[0] if isinstance(probe, (tuple, list)) else probe
    return Signature(func, n_in, n_out, first.dtype.kind in "iu", params)


_INTEGER_DEFAULT, _REAL_DEFAULT = -(2**31), -4e37
"""TA-Lib's "use the default" values of an optional parameter (``TA_INTEGER_DEFAULT``,
``TA_REAL_DEFAULT``), which ``talib`` passes for an omitted argument too."""


def _with_defaults(sig: Signature, params: Sequence[int | float]) -> list[int | float]:
    if len(params) > len(sig.params):
        raise ValueError(f"TA-Lib {sig.func} takes {len(sig.params)} parameters, not {len(params)}")
    rest = [_REAL_DEFAULT if t is ctypes.c_double else _INTEGER_DEFAULT for t in sig.params[len(params):]]
    return [*params, *rest]


def _fn(func: str, part: str) -> Any:
    assert _NATIVE is not None
    return getattr(_NATIVE[0], f"TA_{func}_{part}")


def _check(func: str, part: str, rc: int) -> None:
    if rc != 0:
        raise RuntimeError(f"TA-Lib TA_{func}_{part} failed with return code {rc}")


class NativeHandle:
    """One TA-Lib streaming handle, opened and owned here (closed when collected).

    Same interface as a ``talib.stream`` handle: ``update(*inputs)``,
    ``peek(*inputs)`` and ``value``, each returning one number or a tuple.
    """

    __slots__ = ("__weakref__", "_outs", "ptr", "sig")

    def __init__(self, sig: Signature, ptr: int) -> None:
        self.sig = sig
        self.ptr = ptr
        kind = ctypes.c_int if sig.is_int else ctypes.c_double
        self._outs = [kind() for _ in range(sig.n_out)]
        weakref.finalize(self, _fn(sig.func, "Close"), ctypes.c_void_p(ptr))

    @classmethod
    def open(cls, func: str, arrays: Sequence[np.ndarray[Any, Any]], params: Sequence[int | float],
             n_out: int) -> NativeHandle | None:
        """A handle over ``arrays`` (history, oldest first); None when it is too short.

        Leading bars where any input is NaN are skipped, as ``talib.stream`` does.
        """
        sig = signature(func, len(arrays), n_out)
        data = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]
        if not len(data[0]):
            return None
        finite = np.logical_and.reduce([~np.isnan(a) for a in data])
        if not finite.any():
            return None
        begin = int(np.argmax(finite))
        handle = ctypes.c_void_p()
        outs = [(ctypes.c_int if sig.is_int else ctypes.c_double)() for _ in range(n_out)]
        args = [ctypes.byref(handle),
                *(ctypes.c_void_p(a.ctypes.data + 8 * begin) for a in data),
                ctypes.c_int(len(data[0]) - begin),
                *(t(p) for t, p in zip(sig.params, _with_defaults(sig, params), strict=True)),
                *(ctypes.byref(o) for o in outs)]
        rc = _fn(func, "Open")(*args)
        if rc == _INSUFFICIENT_HISTORY:
            return None
        _check(func, "Open", rc)
        assert handle.value is not None
        return cls(sig, handle.value)

    def _call(self, part: str, inputs: tuple[float, ...]) -> Any:
        rc = _fn(self.sig.func, part)(ctypes.c_void_p(self.ptr), *(ctypes.c_double(x) for x in inputs),
                                      *(ctypes.byref(o) for o in self._outs))
        _check(self.sig.func, part, rc)
        vals = [o.value for o in self._outs]
        return tuple(vals) if len(vals) > 1 else vals[0]

    def update(self, *inputs: float) -> Any:
        """Advance by one bar; the outputs at that bar."""
        return self._call("Update", inputs)

    def peek(self, *inputs: float) -> Any:
        """The outputs a bar would give, without advancing."""
        return self._call("Peek", inputs)

    @property
    def value(self) -> Any:
        """The outputs at the last bar."""
        rc = _fn(self.sig.func, "Value")(ctypes.c_void_p(self.ptr), *(ctypes.byref(o) for o in self._outs))
        _check(self.sig.func, "Value", rc)
        vals = [o.value for o in self._outs]
        return tuple(vals) if len(vals) > 1 else vals[0]


@dataclass(frozen=True)
class Instr:
    """One instruction of a :class:`Program`: a TA-Lib call, a lag or an operation.

    ``inputs``/``outputs`` are slots of the program's value buffer.
    """

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    handle: NativeHandle | None = None
    """The TA-Lib handle (a TA-Lib call)."""
    tag: int = -1
    """A TA-Lib call's integer outputs reported as hits under ``tag + k`` (``-1``: written)."""
    lag: int = 0
    """Bars of a lag (``0``: not a lag)."""
    anchor: bool = False
    """Anchored VWAP and OBV (:meth:`~jonbu_core.enrich.anchors.AnchoredState.step`): inputs
    (anchor id, price, pv, volume, sv), outputs (vwap, obv), :data:`ANCHOR_STATE` doubles of state."""
    op: str | None = None
    """The operation (:data:`OP_NAMES`)."""
    const: tuple[float, ...] = ()


class Program:
    """A list of instructions run over a shared value buffer with one C call.

    Parameters
    ----------
    instrs : sequence of Instr
        In evaluation order (every input is a base slot or an earlier output).
    buffer : ctypes array of c_double
        The values of every slot at the current bar.
    lag_state : ctypes array of c_double
        The state of the lags (their buffers, oldest first) and of the anchored
        instructions, one after the other in instruction order (shared by the
        programs of one graph).
    commit : bool
        ``_Update`` and shift the lags (advance), or ``_Peek`` (evaluate only).

    After a call, :attr:`hits` holds ``[tag + k, value, ...]`` for every non-zero
    output ``k`` of the tagged TA-Lib calls (candlestick functions are 0 on most bars).
    """

    def __init__(self, instrs: Sequence[Instr], buffer: Any, lag_state: Any, commit: bool) -> None:
        assert _NATIVE is not None
        n = len(instrs)
        part = "Update" if commit else "Peek"
        cols: dict[str, list[Any]] = {k: [] for k in (
            "kind", "n_in", "n_out", "is_int", "fn", "handle", "in_idx", "out_idx", "cst", "tag", "lag_off", "lag_k")}
        lag_off = 0
        for ins in instrs:
            h = ins.handle
            if h is not None:
                kind, width = _K_TA, MAX_TA_IN
                if len(ins.inputs) != h.sig.n_in or len(ins.outputs) != h.sig.n_out:
                    raise ValueError(f"TA-Lib {h.sig.func}: {h.sig.n_in} inputs and {h.sig.n_out} outputs")
                if ins.tag >= 0 and not h.sig.is_int:
                    raise ValueError(f"TA-Lib {h.sig.func}: only integer outputs can be reported as hits")
            elif ins.lag:
                kind, width = _K_LAG, 1
            elif ins.anchor:
                kind, width = _K_ANCHOR, 5
            elif ins.op in OP_NAMES:
                kind, width = _OP_BASE + OP_NAMES.index(ins.op), MAX_OP_IN
            else:
                raise ValueError(f"operation {ins.op!r} has no native implementation")
            if len(ins.inputs) > width or not 1 <= len(ins.outputs) <= MAX_OUT or len(ins.const) > N_CONST:
                raise ValueError(f"instruction {ins} does not fit the native loop")
            cols["kind"].append(kind)
            cols["n_in"].append(len(ins.inputs))
            cols["n_out"].append(len(ins.outputs))
            cols["is_int"].append(int(h is not None and h.sig.is_int))
            cols["fn"].append(ctypes.cast(_fn(h.sig.func, part), ctypes.c_void_p).value if h else 0)
            cols["handle"].append(h.ptr if h else 0)
            cols["in_idx"].extend([*ins.inputs, *[0] * (MAX_OP_IN - len(ins.inputs))])
            cols["out_idx"].extend([*ins.outputs, *[0] * (MAX_OUT - len(ins.outputs))])
            cols["cst"].extend([*(float(c) for c in ins.const), *[0.0] * (N_CONST - len(ins.const))])
            cols["tag"].append(ins.tag)
            cols["lag_off"].append(lag_off)
            cols["lag_k"].append(ins.lag)
            lag_off += ANCHOR_STATE if ins.anchor else ins.lag
        if lag_off > len(lag_state):
            raise ValueError(f"the lags need {lag_off} values of state, the buffer has {len(lag_state)}")

        def arr(ctype: Any, values: list[Any]) -> Any:
            return (ctype * max(1, len(values)))(*values)

        self.handles = [ins.handle for ins in instrs]
        self.hits_buffer = arr(ctypes.c_int32, [0] * (2 * MAX_OUT * n))
        """Where the C loop writes the hits (:attr:`hits` reads them)."""
        self._keep = [arr(ctypes.c_double if k == "cst" else ctypes.c_void_p if k in ("fn", "handle")
                          else ctypes.c_int32, v) for k, v in cols.items()]
        self.program = _Program(n, -1, 0, int(commit), *self._keep, self.hits_buffer,
                                ctypes.cast(lag_state, ctypes.POINTER(ctypes.c_double)),
                                ctypes.cast(buffer, ctypes.POINTER(ctypes.c_double)))
        self.address = ctypes.addressof(self.program)
        """What ``run`` (the C function) takes."""
        self.run = _NATIVE[1]
        self._buffers = (buffer, lag_state)

    def __call__(self) -> None:
        """Run every instruction once at the buffer's current values."""
        rc = self.run(self.address)
        if rc:
            self.fail(rc)

    @property
    def hits(self) -> list[int]:
        """``[tag + k, value, ...]`` of the last call's non-zero tagged outputs."""
        return self.hits_buffer[:2 * self.program.n_hits]  # type: ignore[no-any-return]

    def fail(self, rc: int) -> None:
        """Raise for a failed call (return code ``rc``)."""
        h = self.handles[self.program.failed]
        what = f"TA-Lib streaming update of {h.sig.func}" if h is not None else "an element-wise operation"
        raise RuntimeError(f"{what} failed with return code {rc}")


__all__ = ["ANCHOR_STATE", "OP_NAMES", "Instr", "NativeHandle", "Program", "Signature", "available", "signature"]
