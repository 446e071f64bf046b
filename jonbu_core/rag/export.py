"""RAG export: stored bars → enrichment → narratives → embeddings → LanceDB.

For each symbol the range is enriched on demand (never stored), every candle gets a
narrative bundle (text, markdown, technical summary, pattern explanation, keywords),
the texts are embedded in batches and the rows are upserted into the LanceDB table
keyed by ``(symbol, timeframe, ts)`` — so exporting the same range again replaces
rows instead of duplicating them. Long ranges are processed in windows so memory
stays flat.

A candle's narrative must not depend on where the export starts: the candle before
``start`` is enriched too and serves as the "previous candle" of the first one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from jonbu_core.calendar import sessions
from jonbu_core.errors import InvalidInputError
from jonbu_core.models import TS_TYPE, parse_symbols
from jonbu_core.narrative import NarrativeBundle, build_bundles
from jonbu_core.rag.models import ExportSummary
from jonbu_core.timeframe import EXCHANGE_TZ, Timeframe, parse_timeframe
from jonbu_core.timeutil import parse_end, parse_start

if TYPE_CHECKING:
    from jonbu_core.enrich.models import EnrichedCandle
    from jonbu_core.rag.base import RagStore
    from jonbu_core.rag.embedder import Embedder
    from jonbu_core.settings import Settings
    from jonbu_core.stores.base import BarStore

logger = logging.getLogger(__name__)

#: ``progress(done, total, message)``: candles written so far, the (estimated) total.
ExportProgress = Callable[[int, int, str], None]

#: Candles per processing window (enrich → narrate → embed → write).
WINDOW_CANDLES = 20_000


def _bars_per_session(tf: Timeframe) -> float:
    if tf.is_intraday:
        return max(1.0, 390 * 60 / tf.seconds)
    return 1.0 if tf.name == "1d" else 0.2


def estimate_candles(tf: Timeframe, start: datetime, end: datetime, exchange: str = "XNYS") -> int:
    """Bars a full history would hold in ``[start, end)`` (for progress totals)."""
    first = start.astimezone(EXCHANGE_TZ).date()
    last = (end - timedelta(microseconds=1)).astimezone(EXCHANGE_TZ).date()
    days = sessions(first, last, exchange)
    return max(1, math.ceil(len(days) * _bars_per_session(tf)))


def windows(
    tf: Timeframe, start: datetime, end: datetime, size: int = WINDOW_CANDLES
) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into consecutive windows of about ``size`` candles."""
    days = max(1, math.floor(size / _bars_per_session(tf) * 7 / 5))
    out: list[tuple[datetime, datetime]] = []
    lo = start
    while lo < end:
        hi = min(end, lo + timedelta(days=days))
        out.append((lo, hi))
        lo = hi
    return out


def narrative_rows(bundles: Sequence[NarrativeBundle], exported_at: datetime | None = None) -> pa.Table:
    """Narrative rows: the RAG table's columns without the vector, plus ``markdown``.

    (See :func:`jonbu_core.rag.base.rag_schema`; the RAG store ignores ``markdown``.)

    Parameters
    ----------
    bundles : sequence of NarrativeBundle
        One per candle, ascending.
    exported_at : datetime, optional
        When (defaults to now).
    """
    now = exported_at or datetime.now(UTC)
    facts = [b.facts for b in bundles]
    n = len(bundles)
    return pa.table(
        {
            "symbol": pa.array([f.symbol for f in facts], pa.string()),
            "timeframe": pa.array([f.timeframe for f in facts], pa.string()),
            "ts": pa.array([f.ts for f in facts], TS_TYPE),
            "text": pa.array([b.text for b in bundles], pa.string()),
            "markdown": pa.array([b.markdown for b in bundles], pa.string()),
            "summary": pa.array([b.technical_summary for b in bundles], pa.string()),
            "pattern_explanation": pa.array([b.pattern_explanation for b in bundles], pa.string()),
            "keywords": pa.array([b.search_keywords for b in bundles], pa.list_(pa.string())),
            "patterns": pa.array([[p.name for p in f.patterns] for f in facts], pa.list_(pa.string())),
            "regime": pa.array([f.regime for f in facts], pa.string()),
            "trend": pa.array([f.trend_direction for f in facts], pa.string()),
            "rsi_state": pa.array([f.rsi_state for f in facts], pa.string()),
            "rsi_14": pa.array([f.rsi for f in facts], pa.float64()),
            "change_pct": pa.array([f.change_pct for f in facts], pa.float64()),
            "open": pa.array([f.open for f in facts], pa.float64()),
            "high": pa.array([f.high for f in facts], pa.float64()),
            "low": pa.array([f.low for f in facts], pa.float64()),
            "close": pa.array([f.close for f in facts], pa.float64()),
            "volume": pa.array([f.volume for f in facts], pa.float64()),
            "confidence": pa.array([f.confidence for f in facts], pa.float64()),
            "exported_at": pa.array([now] * n, TS_TYPE),
        }
    )


def with_vectors(rows: pa.Table, vectors: np.ndarray, model: str) -> pa.Table:
    """``rows`` plus the ``model`` and ``vector`` columns.

    Raises
    ------
    InvalidInputError
        If the number of vectors differs from the rows.
    """
    if vectors.ndim != 2 or vectors.shape[0] != rows.num_rows:
        raise InvalidInputError(f"{rows.num_rows} rows but vectors of shape {vectors.shape}")
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    return rows.append_column("model", pa.array([model] * rows.num_rows, pa.string())).append_column(
        "vector", pa.FixedSizeListArray.from_arrays(flat, int(vectors.shape[1]))
    )


def embed_rows(
    rows: pa.Table, embedder: Embedder, progress: Callable[[int, int], None] | None = None
) -> pa.Table:
    """Embed the ``text`` column of narrative rows and attach the vectors."""
    texts = rows.column("text").to_pylist()
    return with_vectors(rows, embedder.embed(texts, progress=progress), embedder.model_name)


def enrich_with_previous(
    store: BarStore, symbol: str, tf: Timeframe, start: datetime, end: datetime, indicators: str | None
) -> tuple[list[EnrichedCandle], EnrichedCandle | None]:
    """Enriched candles of ``[start, end)`` and the stored candle just before ``start``.

    The previous candle (``None`` at the start of the data) lets the first narrative
    measure its change from the previous close, so a candle reads the same whatever
    range it is exported in.
    """
    from jonbu_core.enrich.service import enrich_range, load_history

    prev = load_history(store, symbol, tf, start, 1)
    first = prev.column("ts")[0].as_py() if prev.num_rows else start
    got = enrich_range(store, symbol, tf.name, first, end, indicators=indicators)
    if got and prev.num_rows and got[0].ohlcv.ts < start:
        return got[1:], got[0]
    return got, None


def narrate_range(
    store: BarStore,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    *,
    indicators: str | None = None,
) -> pa.Table:
    """Narrative rows (no vectors) of one symbol's candles in ``[start, end)``."""
    tf = parse_timeframe(timeframe)
    candles, previous = enrich_with_previous(store, symbol, tf, start, end, indicators)
    return narrative_rows(build_bundles(candles, symbol, tf.name, previous=previous))


def export_candles(
    store: BarStore,
    rag: RagStore,
    embedder: Embedder,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    *,
    indicators: str | None = None,
    on_embedded: Callable[[int], None] | None = None,
    summary: ExportSummary | None = None,
) -> int:
    """Export one symbol's ``[start, end)`` window; returns the rows written.

    Timings and counts are added to ``summary`` when given.
    """
    tf = parse_timeframe(timeframe)
    t0 = time.perf_counter()
    candles, previous = enrich_with_previous(store, symbol, tf, start, end, indicators)
    t1 = time.perf_counter()
    if not candles:
        if summary is not None:
            summary.enrich_seconds += t1 - t0
        return 0
    bundles = build_bundles(candles, symbol, tf.name, previous=previous)
    rows = narrative_rows(bundles)
    t2 = time.perf_counter()
    seen = 0

    def step(done: int, total: int) -> None:
        nonlocal seen
        if on_embedded is not None:
            on_embedded(done - seen)
        seen = done

    rows = embed_rows(rows, embedder, step)
    t3 = time.perf_counter()
    res = rag.upsert(rows)
    t4 = time.perf_counter()
    if summary is not None:
        summary.enrich_seconds += t1 - t0
        summary.narrative_seconds += t2 - t1
        summary.embed_seconds += t3 - t2
        summary.write_seconds += t4 - t3
        summary.candles += len(candles)
        summary.rows_written += len(candles)
        summary.inserted += res.inserted
        summary.updated += res.updated
        if summary.sample_narrative is None:
            summary.sample_narrative = bundles[len(bundles) // 2].text
    return len(candles)


def export_rag(
    settings: Settings,
    symbols: str | Sequence[str],
    timeframe: str,
    start: str | date | datetime,
    end: str | date | datetime | None = None,
    progress: ExportProgress | None = None,
    *,
    indicators: str | None = None,
    store: BarStore | None = None,
    rag: RagStore | None = None,
    embedder: Embedder | None = None,
    build_indexes: bool = True,
) -> ExportSummary:
    """Export narratives and embeddings of stored candles into LanceDB.

    Parameters
    ----------
    settings : Settings
        Store, LanceDB directory and embedding options.
    symbols : str or sequence of str
        ``"AAPL,MSFT"`` or a list.
    timeframe : str
        ``1m``, ``15m``, ``1d``…
    start, end : str, date or datetime
        The range (a date ``end`` includes that day; ``None`` = now).
    progress : callable, optional
        ``progress(done, total, message)`` as candles are embedded.
    indicators : str, optional
        Indicator spec for the enrichment (default set when ``None``).
    store, rag, embedder : optional
        Injected dependencies (opened from ``settings`` when ``None``).
    build_indexes : bool
        Create/refresh the LanceDB indexes afterwards.

    Returns
    -------
    ExportSummary
        Counts, timings, symbols without data and a sample narrative.

    Raises
    ------
    InvalidInputError
        For bad symbols, timeframe or range.
    """
    syms = parse_symbols(symbols)
    tf = parse_timeframe(timeframe)
    t_start = parse_start(start)
    t_end = parse_end(end) if end is not None else datetime.now(UTC)
    if t_start >= t_end:
        raise InvalidInputError(f"start ({t_start.isoformat()}) must be before end ({t_end.isoformat()})")
    started = time.perf_counter()
    own_store = store is None
    if store is None:
        from jonbu_core.stores.factory import open_store

        store = open_store(settings)
    if rag is None:
        from jonbu_core.rag.factory import open_rag_store

        rag = open_rag_store(settings)
    if embedder is None:
        from jonbu_core.rag.embedder import get_embedder

        embedder = get_embedder(settings)
    summary = ExportSummary(
        symbols=syms, timeframe=tf.name, start=t_start, end=t_end,
        model=embedder.model_name, dimension=embedder.dimension,
    )
    per_symbol = estimate_candles(tf, t_start, t_end, settings.exchange)
    total = per_symbol * len(syms)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, max(total, done), f"{tf.name} narratives embedded")

    try:
        for i, sym in enumerate(syms):
            wrote = 0
            for lo, hi in windows(tf, t_start, t_end):
                wrote += export_candles(
                    store, rag, embedder, sym, tf.name, lo, hi,
                    indicators=indicators, on_embedded=advance, summary=summary,
                )
            if wrote == 0:
                summary.empty_symbols.append(sym)
                logger.warning("no %s bars of %s stored in the range; nothing exported", tf.name, sym)
            # re-estimate the total from what the finished symbols really had
            total = done + per_symbol * (len(syms) - i - 1)
            if progress is not None:
                progress(done, max(total, done), f"{sym} done")
        if build_indexes and summary.rows_written:
            report = rag.ensure_indexes()
            summary.indexes = report.actions
        summary.table_rows = rag.count()
    finally:
        if own_store:
            store.close()
    summary.seconds = time.perf_counter() - started
    logger.info(
        "exported %d %s candles of %s to LanceDB in %.1fs (%.0f embeddings/s)",
        summary.rows_written, tf.name, ",".join(syms), summary.seconds, summary.embeddings_per_second,
    )
    return summary


def summary_metadata(summary: ExportSummary) -> dict[str, Any]:
    """Flat metadata of an export (for Dagster and logs)."""
    return {
        "rows": summary.rows_written,
        "inserted": summary.inserted,
        "updated": summary.updated,
        "table_rows": summary.table_rows,
        "embeddings_per_second": round(summary.embeddings_per_second, 1),
        "narratives_per_second": round(summary.narratives_per_second, 1),
        "seconds": round(summary.seconds, 3),
        "model": summary.model,
        "dimension": summary.dimension,
    }
