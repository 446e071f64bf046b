"""Evaluate the enrichment graph one bar at a time (the incremental path).

Every :class:`~jonbu_core.enrich.graph.TaCall` becomes a TA-Lib streaming handle:
O(1) state per indicator, advanced by one closed bar with ``update`` or asked about a
forming bar with ``peek`` (which commits nothing). TA-Lib documents its handles as
bit-identical to its Function API, which the batch path uses. The handles are TA-Lib's
C handles opened by :mod:`jonbu_core.enrich.native` when its C helper is built, else
``talib.stream.<FUNC>`` objects. Lags keep the last ``k`` values; element-wise
operations are compiled from their scalar expressions (:mod:`jonbu_core.enrich.ops`).

Two evaluators share the state:

* the *cold* one, an interpreter that handles warm-up (NaN inputs, handles that
  cannot open yet because there is not enough history);
* the *warm* one, generated once every handle is open and every series is past its
  warm-up (no NaN checks, no dispatch) — the fast path: with native handles, one C
  call runs the whole graph (:class:`~jonbu_core.enrich.native.Program`, which then
  owns the lags' state); otherwise a straight-line Python function.
"""

from __future__ import annotations

import ctypes
import logging
import math
import re
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import talib
from talib import stream

from jonbu_core.enrich import native
from jonbu_core.enrich.anchors import AnchoredState
from jonbu_core.enrich.graph import BASE_SERIES, Graph, Lag, Op, TaCall, ta_lookback
from jonbu_core.enrich.ops import EXPR_GLOBALS, render, scalar_fn

logger = logging.getLogger(__name__)

InsufficientHistory: type[Exception] = getattr(talib, "InsufficientHistory", Exception)


def has_streaming_api() -> bool:
    """Whether the installed TA-Lib has stateful streaming handles (``update``/``peek``)."""
    return hasattr(getattr(stream, "SMA", None), "update")


class _Pending:
    """A TA-Lib call whose handle cannot open yet: its input history so far."""

    __slots__ = ("finite", "history", "need")

    def __init__(self, n_in: int, need: int) -> None:
        self.history: list[list[float]] = [[] for _ in range(n_in)]
        self.finite = 0
        """Rows of the history where every input is a number."""
        self.need = need
        """Finite rows TA-Lib needs at least before a handle can open."""

    def add(self, row: list[float]) -> None:
        for h, x in zip(self.history, row, strict=True):
            h.append(x)
        if not any(x != x for x in row):
            self.finite += 1


def _open(node: TaCall, arrays: list[np.ndarray[Any, Any]]) -> Any | None:
    """Open a handle on ``arrays`` (None when the history is still too short).

    A :class:`~jonbu_core.enrich.native.NativeHandle` when the C helper is built,
    else a ``talib.stream`` handle: the same TA-Lib state either way.
    """
    if native.available():
        return native.NativeHandle.open(node.func, arrays, node.params, node.n_out)
    finite = [np.asarray(a, dtype=np.float64) for a in arrays]
    if len(finite[0]) == 0 or any(np.isnan(a).all() for a in finite):
        return None
    try:
        return getattr(stream, node.func)(*finite, *node.params)
    except InsufficientHistory:
        return None


class Stepper:
    """State of every graph node, advanced one bar at a time."""

    def __init__(self, graph: Graph) -> None:
        if not has_streaming_api():  # pragma: no cover - depends on the TA-Lib install
            raise RuntimeError("jonbu enrichment needs ta-lib >= 0.8.2 (stateful streaming API)")
        self.graph = graph
        self.nodes = graph.nodes
        self.index = {name: i for i, name in enumerate(self._all_series())}
        self._out_warm = "()"
        self._extra: list[str] = []
        self._globals: dict[str, Any] = {}
        self._sparse: list[str] = []
        self._native: tuple[Any, Any] | None = None
        self.anchored: AnchoredState | None = None
        self._assemble: Callable[..., Any] = lambda *a: ()
        self.handles: list[Any] = [
            _Pending(len(n.inputs), ta_lookback(n.func, n.params) + 1) if isinstance(n, TaCall) else None
            for n in self.nodes]
        self.lags: list[list[float]] = [
            [math.nan] * n.k if isinstance(n, Lag) else [] for n in self.nodes]
        self.count = 0
        self.warm_after = graph.max_lookback
        self._fast: Callable[..., tuple[float, ...]] | None = None
        self._fast_peek: Callable[..., tuple[float, ...]] | None = None
        self._scalar: list[Callable[..., float] | None] = [
            scalar_fn(n.op, len(n.inputs), n.const) if isinstance(n, Op) else None for n in self.nodes
        ]

    def var(self, series: str) -> str:
        """The variable holding ``series`` in output expressions."""
        return f"x{self.index[series]}"

    def set_output(self, warm: str, cold: str, extra: list[str], glb: dict[str, Any],
                   sparse: list[str] | None = None) -> None:
        """What :meth:`step` returns: a Python expression over :meth:`var` names and ``extra``.

        ``warm`` is used once every series is past its warm-up (values are numbers),
        ``cold`` before (values may be NaN); ``extra`` names arguments passed to
        :meth:`step` besides the bar; ``glb`` are names the expressions use.
        ``sparse`` names integer series that are 0 on most bars (candlestick
        patterns): the expressions see them as ``_hits``, the flat list
        ``[k, value, ...]`` of the non-zero ones (``k``: position in ``sparse``),
        which the native path gets from C without touching the zeros.
        """
        self._out_warm = warm
        self._extra = list(extra)
        self._globals = dict(glb)
        self._sparse = list(sparse or [])
        args = [f"x{i}" for i in range(len(self.index))] + self._extra
        env = dict(EXPR_GLOBALS, **self._globals)
        hits = f"_sparse_hits(({''.join(f'{self.var(s)}, ' for s in self._sparse)}))"
        env["_sparse_hits"] = sparse_hits
        self._assemble = eval(f"lambda {', '.join(args)}: (lambda _hits: {cold})({hits})", env)
        self._fast = self._fast_peek = None
        self._maybe_warm()

    def set_anchored(self, state: AnchoredState) -> None:
        """Compute the anchored VWAP and OBV too, from ``state`` (already seeded).

        :meth:`step` then takes ``extra=(anchor id,)`` and the output expressions see
        the two values under the ``extra`` names given to :meth:`set_output`.
        """
        self.anchored = state
        self._fast = self._fast_peek = None
        self._maybe_warm()

    def _all_series(self) -> list[str]:
        names = list(BASE_SERIES)
        for node in self.nodes:
            names.extend(node.outputs)
        return names

    # --- seeding ---------------------------------------------------------------------

    def seed(self, series: dict[str, np.ndarray[Any, Any]], n: int) -> None:
        """Open every handle on the batch series of ``n`` history bars."""
        self.count = n
        for pos, node in enumerate(self.nodes):
            if isinstance(node, TaCall):
                arrays = [series[s] for s in node.inputs]
                handle = _open(node, arrays) if n else None
                if handle is None:
                    pend = _Pending(len(arrays), ta_lookback(node.func, node.params) + 1)
                    for row in zip(*(np.asarray(a, dtype=np.float64).tolist() for a in arrays), strict=True):
                        pend.add(list(row))
                    self.handles[pos] = pend
                else:
                    self.handles[pos] = handle
            elif isinstance(node, Lag):
                src = series[node.source]
                tail = [float(x) for x in src[max(0, n - node.k):n]]
                self.lags[pos] = [math.nan] * (node.k - len(tail)) + tail
        self._maybe_warm()

    def _maybe_warm(self) -> None:
        if self._fast is None and self.count > self.warm_after and not any(
                isinstance(h, _Pending) for h in self.handles):
            self._fast = self._compile(commit=True)
            self._fast_peek = self._compile(commit=False)
            logger.debug("enrichment stepper warm after %d bars", self.count)

    # --- evaluation ------------------------------------------------------------------

    def step(self, base: tuple[float, ...], extra: tuple[Any, ...] = (), commit: bool = True) -> Any:
        """Advance by one bar (``commit=False``: evaluate without changing state).

        Returns the output expression (:meth:`set_output`) evaluated at this bar.
        """
        fast = self._fast if commit else self._fast_peek
        if fast is not None:
            if commit:
                self.count += 1
            return fast(*base, *extra)
        if self.anchored is not None:
            extra = self._anchor_step(extra[0], base, commit)
        vals = self._cold(base, commit)
        if commit:
            self.count += 1
            self._maybe_warm()
        return self._assemble(*vals, *extra)

    def _anchor_step(self, ident: int, base: tuple[float, ...], commit: bool) -> tuple[float, float]:
        assert self.anchored is not None
        return self.anchored.step(ident, base[5], base[6], base[4], base[7], commit)

    def _cold(self, base: tuple[float, ...], commit: bool) -> list[Any]:
        vals: list[Any] = list(base) + [math.nan] * (len(self.index) - len(base))
        idx = self.index
        for pos, node in enumerate(self.nodes):
            ins = [vals[idx[s]] for s in node.inputs]
            if isinstance(node, TaCall):
                res = self._cold_ta(pos, node, ins, commit)
                outs = res if node.n_out > 1 else (res,)
                for name, v in zip(node.outputs, outs, strict=True):
                    vals[idx[name]] = v
            elif isinstance(node, Lag):
                buf = self.lags[pos]
                vals[idx[node.name]] = buf[0]
                if commit:
                    buf.append(ins[0])
                    del buf[0]
            else:
                fn = self._scalar[pos]
                assert fn is not None
                vals[idx[node.name]] = fn(*ins)
        return vals

    def _cold_ta(self, pos: int, node: TaCall, ins: list[float], commit: bool) -> Any:
        handle = self.handles[pos]
        empty: Any = 0 if node.func.startswith("CDL") else math.nan  # TA-Lib: 0 in a pattern's warm-up
        nan = (empty,) * node.n_out if node.n_out > 1 else empty
        if not isinstance(handle, _Pending):
            if any(x != x for x in ins):  # pragma: no cover - inputs are finite once open
                return nan
            return handle.update(*ins) if commit else handle.peek(*ins)
        finite = handle.finite + (0 if any(x != x for x in ins) else 1)
        opened = None
        if finite >= handle.need:
            arrays = [np.array([*h, x]) for h, x in zip(handle.history, ins, strict=True)]
            opened = _open(node, arrays)
        if opened is None:
            if commit:
                handle.add(ins)
            return nan
        if commit:
            self.handles[pos] = opened
        return opened.value

    # --- the fast path -----------------------------------------------------------------

    def _compile(self, commit: bool) -> Callable[..., tuple[float, ...]]:
        if self._native_ok():
            return self._compile_native(commit)
        var = {name: f"x{i}" for i, name in enumerate(self.index)}
        glb: dict[str, Any] = dict(EXPR_GLOBALS, **self._globals)
        if self.anchored is None:
            lines = [f"def step({', '.join([var[b] for b in BASE_SERIES] + self._extra)}):"]
        else:
            glb["_anch"] = self.anchored.step
            lines = [f"def step({', '.join(var[b] for b in BASE_SERIES)}, _ident):",
                     f"    {', '.join(self._extra)}, = _anch(_ident, {var['price']}, {var['pv']}, {var['volume']}, "
                     f"{var['sv']}, {commit})"]
        post: list[str] = []
        for pos, node in enumerate(self.nodes):
            args = [var[s] for s in node.inputs]
            if isinstance(node, TaCall):
                hname = f"h{pos}"
                glb[hname] = self.handles[pos].update if commit else self.handles[pos].peek
                targets = ", ".join(var[o] for o in node.outputs)
                if node.n_out > 1:
                    targets += ","
                lines.append(f"    {targets} = {hname}({', '.join(args)})")
            elif isinstance(node, Lag):
                buf = f"L{pos}"
                glb[buf] = self.lags[pos]
                lines.append(f"    {var[node.name]} = {buf}[0]")
                if commit:
                    shift = [f"{buf}[{j}] = {buf}[{j + 1}]" for j in range(node.k - 1)]
                    post.append("    " + "; ".join([*shift, f"{buf}[{node.k - 1}] = {args[0]}"]))
            else:
                lines.append(f"    {var[node.name]} = {render(node.op, args, node.const)}")
        glb["_sparse_hits"] = sparse_hits
        lines.append(f"    _hits = _sparse_hits(({''.join(f'{var[s]}, ' for s in self._sparse)}))")
        lines.append(f"    _out = {self._out_warm}")
        lines += post
        lines.append("    return _out")
        src = "\n".join(lines)
        exec(compile(src, f"<jonbu-enrich-step-{'commit' if commit else 'peek'}>", "exec"), glb)
        fn: Callable[..., tuple[float, ...]] = glb["step"]
        return fn

    def _output_reads(self) -> set[str]:
        """The series the warm output expression reads (its :meth:`var` names)."""
        names = list(self.index)
        return {names[int(m)] for m in re.findall(r"\bx(\d+)\b", self._out_warm)}

    def _native_ok(self) -> bool:
        """Every handle is native, every operation known to C, every sparse series a
        whole integer TA-Lib call's output that no node and no output expression reads."""
        if not native.available():
            return False
        used = {s for n in self.nodes for s in n.inputs} | self._output_reads()
        sparse = set(self._sparse)
        for h, n in zip(self.handles, self.nodes, strict=True):
            if isinstance(n, TaCall):
                if not isinstance(h, native.NativeHandle):
                    return False
                if sparse.intersection(n.outputs) and not (
                        sparse.issuperset(n.outputs) and h.sig.is_int and not used.intersection(n.outputs)):
                    return False
            elif isinstance(n, Op) and n.op not in native.OP_NAMES:
                return False
        return True

    def _compile_native(self, commit: bool) -> Callable[..., tuple[float, ...]]:
        """The fast path as one C call per bar (:class:`~jonbu_core.enrich.native.Program`).

        Python writes the base series into the value buffer, the program runs every
        node, and Python reads back, with one ``struct`` unpack, the series the
        output expression uses; candlestick values come as hits.
        """
        anchored = self.anchored
        if self._native is None:  # one buffer and state for update and peek
            lags = [(pos, n) for pos, n in enumerate(self.nodes) if isinstance(n, Lag)]
            state = [x for pos, _ in lags for x in self.lags[pos]]
            if anchored is not None:
                state += [math.nan if anchored.ident is None else float(anchored.ident),
                          anchored.cum_pv, anchored.cum_v, anchored.cum_sv]
            self._native = ((ctypes.c_double * (len(self.index) + 3))(),
                            (ctypes.c_double * max(1, len(state)))(*state))
        buffer, lag_state = self._native
        var = {name: f"x{i}" for i, name in enumerate(self.index)}
        n_base = len(BASE_SERIES)
        # slots: the base series (and the anchor id), then what the output reads (one
        # contiguous unpack: the anchored values first), then the rest
        wanted = self._output_reads()
        names = sorted(self.index, key=lambda name: (
            self.index[name] >= n_base, name not in wanted, self.index[name]))
        written = names[:n_base]
        if anchored is not None:
            written.append("_ident")
            names[n_base:n_base] = ["_ident", *self._extra]
            var.update({name: name for name in ("_ident", *self._extra)})
        slot = {name: i for i, name in enumerate(names)}
        read = [name for name in names[len(written):] if name in self._extra or name in wanted]
        sparse = {name: k for k, name in enumerate(self._sparse)}
        instrs = []
        for pos, node in enumerate(self.nodes):
            ins = tuple(slot[s] for s in node.inputs)
            outs = tuple(slot[s] for s in node.outputs)
            if isinstance(node, TaCall):
                instrs.append(native.Instr(ins, outs, handle=self.handles[pos],
                                           tag=sparse.get(node.outputs[0], -1)))
            elif isinstance(node, Lag):
                instrs.append(native.Instr(ins, outs, lag=node.k))
            else:
                instrs.append(native.Instr(ins, outs, op=node.op, const=tuple(node.const)))
        if anchored is not None:  # last: its state follows the lags' in lag_state
            instrs.append(native.Instr(tuple(slot[s] for s in ("_ident", "price", "pv", "volume", "sv")),
                                       tuple(slot[s] for s in self._extra), anchor=True))
        program = native.Program(instrs, buffer, lag_state, commit)
        args = [var[b] for b in written]
        glb: dict[str, Any] = dict(EXPR_GLOBALS, **self._globals)
        glb.update(V=buffer, P=program.program, H=program.hits_buffer, _run=program.run,
                   _fail=program.fail, _pack=struct.Struct(f"{len(written)}d").pack_into,
                   _unpack=struct.Struct(f"{len(read)}d").unpack_from)
        lines = [f"def step({', '.join(args if anchored is not None else args + self._extra)}):",
                 f"    _pack(V, 0, {', '.join(args)})",
                 f"    _rc = _run({program.address})",
                 "    if _rc:",
                 "        _fail(_rc)"]
        if read:
            lines.append(f"    {''.join(f'{var[name]}, ' for name in read)}= _unpack(V, {8 * len(written)})")
        lines += ["    _hits = H[:2 * P.n_hits]", f"    return {self._out_warm}"]
        src = "\n".join(lines)
        exec(compile(src, f"<jonbu-enrich-native-{'commit' if commit else 'peek'}>", "exec"), glb)
        fn: Callable[..., tuple[float, ...]] = glb["step"]
        return fn

def sparse_hits(values: tuple[float, ...]) -> list[int]:
    """``[k, int(value), ...]`` for the non-zero (and non-NaN) ``values``."""
    return [y for k, v in enumerate(values) if v and v == v for y in (k, int(v))]
