"""Result types of the RAG layer: search hits and export summaries."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from jonbu_core.models import iso_z


class SearchResult(BaseModel):
    """One hit of :func:`jonbu_core.rag.search.search`.

    ``score`` is in [0, 1], higher is better: a blend of the cosine similarity of the
    query to the narrative and of the full-text (BM25) match (see
    :mod:`jonbu_core.rag.search`).
    """

    model_config = ConfigDict(frozen=True)

    symbol: str
    timeframe: str
    ts: datetime
    text: str
    score: float
    vector_score: float | None = None
    """Cosine similarity in [0, 1] (``None`` when the row came only from full-text search)."""
    text_score: float | None = None
    """BM25 score scaled to [0, 1] by the best full-text hit (``None`` when not matched)."""

    @field_serializer("ts")
    def _ser_ts(self, ts: datetime) -> str:
        return iso_z(ts)


class ExportSummary(BaseModel):
    """What :func:`jonbu_core.rag.export.export_rag` did."""

    symbols: list[str]
    timeframe: str
    start: datetime
    end: datetime | None
    candles: int = 0
    """Enriched candles in the range (= rows written)."""
    rows_written: int = 0
    inserted: int = 0
    updated: int = 0
    table_rows: int = 0
    """Rows in the LanceDB table after the export."""
    empty_symbols: list[str] = Field(default_factory=list)
    """Symbols with no stored bars in the range (nothing exported for them)."""
    enrich_seconds: float = 0.0
    narrative_seconds: float = 0.0
    embed_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0
    model: str = ""
    dimension: int = 0
    indexes: list[str] = Field(default_factory=list)
    """Index work done after the write (``fts``, ``vector``, ``optimize``…)."""
    sample_narrative: str | None = None

    @property
    def embeddings_per_second(self) -> float:
        """Embedding throughput (texts per second)."""
        return self.candles / self.embed_seconds if self.embed_seconds > 0 else 0.0

    @property
    def narratives_per_second(self) -> float:
        """Narrative generation throughput (candles per second)."""
        return self.candles / self.narrative_seconds if self.narrative_seconds > 0 else 0.0

    @field_serializer("start", "end")
    def _ser_ts(self, ts: datetime | None) -> str | None:
        return iso_z(ts) if ts is not None else None
