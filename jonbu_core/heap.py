"""Garbage-collector tuning of the long-running processes (the API server, the stream daemon).

Both allocate short-lived containers at a high rate (WebSocket messages, bus events,
decoded frames) on an event loop that must not stall. CPython's default thresholds
``(700, 10, 10)`` then collect young objects many times a second and walk the whole heap
every few seconds — with NumPy, PyArrow, Polars and pydantic loaded, 60-250 ms per full
collection, measured as the whole p99 of WebSocket delivery (``bench/api.py``) and of
trade-to-bus latency (``bench/stream.py``). :func:`freeze_gc`, once a process has started,
moves everything alive to the permanent generation (never scanned again) and raises the
thresholds (:data:`GC_THRESHOLD`).
"""

from __future__ import annotations

import gc

GC_THRESHOLD = (20_000, 20, 10)
"""``gc.set_threshold`` once started (CPython's default is ``(700, 10, 10)``).

The API's fan-out allocates ~20,000 tracked objects per second at 10,000 messages/s:
with the default thresholds that is a young collection every ~30 ms and a full one every
few seconds, each full one stopping the event loop for 100-250 ms (measured with 1,000
clients). At 20,000 young collections take a few ms, and a full one is due only after
~4 million allocations (minutes at that rate) instead of ~70,000. The stream daemon at
50k trades/s keeps ~2,000 tracked objects a second (its events die as fast as they are
made): with the default thresholds a young collection (~100-350 µs) hit 1.4% of the
frames and a middle one (~1 ms) every few seconds; at 20,000 a young collection comes
every ~10 s."""


def freeze_gc() -> tuple[int, int, int]:
    """Collect once, exclude every object alive now from future collections, and make
    collections rarer (:data:`GC_THRESHOLD`).

    Returns
    -------
    tuple of int
        The thresholds before (for :func:`unfreeze_gc`).
    """
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    return before


def unfreeze_gc(threshold: tuple[int, int, int]) -> None:
    """Undo :func:`freeze_gc` (the frozen objects are scanned again, ``threshold`` restored)."""
    gc.unfreeze()
    gc.set_threshold(*threshold)


__all__ = ["GC_THRESHOLD", "freeze_gc", "unfreeze_gc"]
