"""Background warm-up of the RAG embedder, so the first ``/api/v1/rag/search`` is fast.

Loading MiniLM (torch, the tokenizer, the weights) takes 5-10 s; without a warm-up the
first search pays it. The lifespan runs :func:`jonbu_core.rag.embedder.warm` (a daemon
thread) when :func:`rag_enabled`: startup and health never wait for it, and a missing or
broken model only logs a warning (the search route then reports the problem itself).
"""

from __future__ import annotations

from jonbu_core.settings import Settings


def rag_enabled(settings: Settings) -> bool:
    """Whether narratives were exported for search (``$JONBU_DATA_DIR/lancedb`` exists)."""
    return settings.lancedb_dir.is_dir()
