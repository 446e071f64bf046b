"""Open the RAG store chosen by settings (one backend today: LanceDB)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jonbu_core.rag.lancedb_store import LanceRagStore
    from jonbu_core.settings import Settings

_STORES: dict[Path, LanceRagStore] = {}
_LOCK = threading.Lock()


def open_rag_store(settings: Settings, *, cached: bool = True) -> LanceRagStore:
    """The RAG store under ``settings.lancedb_dir``.

    Parameters
    ----------
    settings : Settings
        Supplies ``lancedb_dir``.
    cached : bool
        Reuse one handle per directory in this process (searches stay fast); the
        handle re-checks the table version every few seconds, so writes by other
        processes are seen.

    Returns
    -------
    LanceRagStore
        The store (the table is created on the first write).
    """
    from jonbu_core.rag.lancedb_store import LanceRagStore

    path = Path(settings.lancedb_dir).resolve()
    if not cached:
        return LanceRagStore(path)
    with _LOCK:
        store = _STORES.get(path)
        if store is None:
            store = LanceRagStore(path)
            _STORES[path] = store
    return store


def clear_rag_store_cache() -> None:
    """Forget cached handles (tests, or after deleting the directory)."""
    with _LOCK:
        _STORES.clear()
