"""Functions run in spawned processes by the concurrency tests (importable by name)."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

Target = tuple[str, str]
"""``("lake", directory)`` or ``("postgres", url)``."""


def open_store(target: Target) -> Any:
    """Open the store a target names."""
    kind, where = target
    if kind == "lake":
        from jonbu_core.stores.lake import LakeStore

        return LakeStore(where)
    from jonbu_core.stores.postgres import PostgresStore

    return PostgresStore(where, auto_migrate=True)


def writer(targets: list[Target], jobs: list[tuple[str, str]], start_evt: Any) -> list[int]:
    """Write the full session of each (symbol, ISO day) into every target; rows written per target."""
    from tests.core.stores._data import session_bars

    stores = [open_store(t) for t in targets]
    start_evt.wait(60)
    written = [0] * len(stores)
    try:
        for symbol, day in jobs:
            bars = session_bars(symbol, date.fromisoformat(day))
            for i, store in enumerate(stores):
                written[i] += store.write_bars(bars).written
        for store in stores:
            store.add_symbols([symbol for symbol, _ in jobs])
    finally:
        for store in stores:
            store.close()
    return written


def reader(targets: list[Target], symbols: list[str], start_evt: Any, stop_evt: Any) -> list[list[int]]:
    """Read every symbol of every target until told to stop; the row counts seen per target."""
    stores = [open_store(t) for t in targets]
    start_evt.wait(60)
    seen: list[list[int]] = [[] for _ in stores]
    try:
        while not stop_evt.is_set():
            for i, store in enumerate(stores):
                for symbol in symbols:
                    seen[i].append(int(store.read_bars(symbol, "1m").table.num_rows))
                    store.latest_bar(symbol, "5m")
            time.sleep(0.005)
    finally:
        for store in stores:
            store.close()
    return seen
