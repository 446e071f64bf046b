"""Background warm-up of the RAG embedder, so the first ``/api/v1/rag/search`` is fast.

Loading MiniLM (torch, the tokenizer, the weights) takes 5-10 s; without a warm-up the
first search pays it. :func:`start_rag_warmup` does it in a daemon thread: startup and
health never wait for it, and a missing or broken model only logs a warning (the search
route then reports the problem itself).
"""

from __future__ import annotations

import threading

from jonbu_core.settings import Settings


def rag_enabled(settings: Settings) -> bool:
    """Whether narratives were exported for search (``$JONBU_DATA_DIR/lancedb`` exists)."""
    return settings.lancedb_dir.is_dir()


def start_rag_warmup(settings: Settings) -> threading.Thread:
    """Start loading the embedder in a daemon thread and return the thread (not joined)."""
    from jonbu_core.rag.embedder import warm

    return warm(settings)
