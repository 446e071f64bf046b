"""Allocator tuning for large batch enrichments (opt-in, process-wide).

A batch enrichment of 1M bars allocates a few hundred float64 arrays of 8 MB each
(TA-Lib outputs, intermediate series, the result columns). glibc serves blocks that
large with ``mmap`` and gives them back with ``munmap`` when freed, so every new
array page-faults its memory in again; on a virtual machine (where a fault of fresh
guest memory may also exit to the host) this was measured to cost more than the
arithmetic itself (``bench/enrich.py`` reports the batch figure with the default
allocator and after :func:`tune_allocator`).

:func:`tune_allocator` raises glibc's ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD``
(to "never trim") so freed arrays stay in the heap and are reused without faults.
The price is that the process keeps its peak heap (about 2 GB after a 1M-bar
enrichment) instead of returning it to the OS: call it in batch workers (CLI exports, Dagster assets,
benchmarks), not blindly in a long-running API process. It is a no-op where glibc's
``mallopt`` is not available. Nothing in the library calls it by itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc caps M_MMAP_THRESHOLD at HEAP_MAX (32 MiB on 64-bit): blocks up to that size
#: (a 1M-bar float64 array is 8 MB) are then served from the reusable heap.
MMAP_THRESHOLD = 32 * 1024 * 1024
#: -1: never give the top of the heap back to the OS (``man mallopt``). A finite
#: threshold is not enough: after a 1M-bar table ~1.5 GB is free at the top of the
#: heap and a trim there makes the next table fault it all in again.
TRIM_THRESHOLD = -1

_tuned: bool | None = None


def tune_allocator(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Keep freed large arrays in the heap (see the module docstring).

    Returns whether glibc accepted both settings (False on other C libraries).
    Idempotent: later calls return the first answer.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    ok = False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is not None:
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        ok = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
            mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    logger.debug("allocator tuning %s", "applied" if ok else "unavailable")
    _tuned = ok
    return ok


__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_allocator"]
