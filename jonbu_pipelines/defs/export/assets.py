"""Narratives and their embeddings, per (session, symbol) partition like the raw bars.

``candle_narratives`` enriches the partition's candles on demand and writes their
narratives (text, markdown, summary, keywords…) as Parquet files under
``$JONBU_DATA_DIR/narratives``; ``candle_embeddings`` embeds those texts and upserts
them into the LanceDB table keyed by (symbol, timeframe, ts), so re-materializing a
partition replaces its rows. The thin bodies call :mod:`jonbu_core.rag`.
"""

import time
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa

from jonbu_core.enrich.memory import tune_allocator
from jonbu_core.rag.base import SearchFilter
from jonbu_core.rag.export import embed_rows, narrate_range
from jonbu_core.rag.files import exchange_days, read_day_files, write_day_files
from jonbu_pipelines.defs.export.common import (
    MAX_PARTITIONS_PER_RUN,
    NarrativeConfig,
    narratives_dir,
    partition_keys,
    runs,
)
from jonbu_pipelines.defs.ingest.assets import raw_bars_1m
from jonbu_pipelines.metadata import clean, markdown_table, md
from jonbu_pipelines.partitions import partition_key, symbol_sessions
from jonbu_pipelines.resources import EmbedderResource, LanceDBResource, StoreResource

_NARRATIVE_COLUMNS = {
    "symbol": "Ticker.",
    "timeframe": "Candle timeframe (15m, 1d…), rolled up from the raw 1m bars on read.",
    "ts": "Candle open time, UTC.",
    "text": "The narrative (plain text, one fact per line; times in the exchange's zone).",
    "markdown": "The same narrative in Markdown.",
    "summary": "One-line technical summary.",
    "pattern_explanation": "Every detected pattern with its meaning.",
    "keywords": "Search keywords.",
}

EMBEDDING_CHECKS = {
    "vector_dimension": "Every vector written has the model's dimension (384 for all-MiniLM-L6-v2) "
    "and unit length, and the LanceDB table's vector column has that dimension.",
    "no_duplicate_keys": "No (symbol, timeframe, ts) key occurs twice in LanceDB within the run's partitions.",
    "row_count_matches": "LanceDB holds exactly one row per narrated (enriched) candle of the run's partitions.",
}


@dg.asset(
    partitions_def=symbol_sessions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    deps=[raw_bars_1m],
    group_name="export",
    kinds={"python", "parquet"},
    code_version="1",
    metadata={"columns": dg.MetadataValue.json(_NARRATIVE_COLUMNS)},
)
def candle_narratives(
    context: dg.AssetExecutionContext, config: NarrativeConfig, store: StoreResource
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Human-readable narratives of the session's candles (enriched on demand).

    For each configured timeframe (15m and 1d by default) the candles of the session are
    enriched (indicators, patterns, context) and described in text, Markdown and JSON-ready
    columns, written to `narratives/timeframe=TF/symbol=SYM/DAY.parquet`. Deterministic: the
    same bars give the same files. Metadata per partition: rows per timeframe and a sample.
    """
    tune_allocator()  # the run worker is a batch process (jonbu_core.enrich.memory)
    bars = store.get()
    root = narratives_dir(store.data_dir)
    keys = partition_keys(context)
    total = 0
    per_partition: dict[str, dict[str, Any]] = {k: {"rows": {}, "sample": None} for k in keys}
    for symbol, days, start, end in runs(keys, store.exchange):
        for tf in config.timeframes:
            rows = narrate_range(bars, symbol, tf, start, end, indicators=config.indicators)
            write_day_files(root / f"timeframe={tf}", symbol, rows, days)
            total += rows.num_rows
            row_days = exchange_days(rows)
            for day in days:
                entry = per_partition[str(partition_key(day, symbol))]
                idx = [i for i, d in enumerate(row_days) if d == day]
                entry["rows"][tf] = len(idx)
                if idx and entry["sample"] is None:
                    entry["sample"] = rows.column("text")[idx[len(idx) // 2]].as_py()
    for key, entry in per_partition.items():
        n = sum(entry["rows"].values())
        context.add_asset_metadata(
            clean({
                "dagster/row_count": n,
                "rows": n,
                "rows_by_timeframe": dg.MetadataValue.json(entry["rows"]),
                "sample_narrative": md(f"```\n{entry['sample']}\n```" if entry["sample"] else None),
                "path": str(root),
            }),
            partition_key=key,
        )
    context.log.info("wrote %d narratives for %d partitions", total, len(keys))
    return dg.MaterializeResult()


def _check_vectors(table: pa.Table, dim: int, table_dim: int | None) -> dg.AssetCheckResult:
    vecs = table.column("vector").combine_chunks()
    got = vecs.type.list_size if pa.types.is_fixed_size_list(vecs.type) else None
    norms = np.linalg.norm(vecs.flatten().to_numpy().reshape(len(vecs), -1), axis=1) if len(vecs) else np.ones(0)
    ok = got == dim and table_dim == dim and bool(np.all(np.abs(norms - 1.0) < 1e-3))
    return dg.AssetCheckResult(
        check_name="vector_dimension",
        passed=ok,
        metadata={"expected": dim, "written": int(got or 0), "table": int(table_dim or 0),
                  "max_norm_error": float(np.max(np.abs(norms - 1.0))) if len(norms) else 0.0},
    )


@dg.asset(
    partitions_def=symbol_sessions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    deps=[candle_narratives],
    group_name="export",
    kinds={"python", "lancedb"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(name, asset="candle_embeddings", description=desc)
        for name, desc in EMBEDDING_CHECKS.items()
    ],
)
def candle_embeddings(
    context: dg.AssetExecutionContext,
    config: NarrativeConfig,
    store: StoreResource,
    embedder: EmbedderResource,
    lancedb: LanceDBResource,
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Sentence embeddings of the narratives, upserted into LanceDB (the RAG table).

    all-MiniLM-L6-v2 (bundled, offline) embeds each narrative's text; rows keyed by
    (symbol, timeframe, ts) are written with `merge_insert`, so a re-materialization
    replaces rows and never duplicates them. The full-text and vector indexes are created
    or refreshed afterwards. Checks: vector dimension, no duplicate keys, one row per
    narrated candle.
    """
    from jonbu_core.rag.embedder import get_embedder
    from jonbu_core.rag.lancedb_store import LanceRagStore

    model = get_embedder(embedder.settings())
    rag = LanceRagStore(lancedb.uri)
    root = narratives_dir(store.data_dir)
    keys = partition_keys(context)
    written: list[pa.Table] = []
    scopes: list[tuple[SearchFilter, int]] = []
    embed_seconds = 0.0
    sample: str | None = None
    for symbol, days, start, end in runs(keys, store.exchange):
        for tf in config.timeframes:
            rows = read_day_files(root / f"timeframe={tf}", symbol, days)
            n = 0 if rows is None else rows.num_rows
            scopes.append((SearchFilter(symbol=symbol, timeframe=tf, start=start, end=end), n))
            if rows is None or n == 0:
                continue
            if sample is None:
                sample = rows.column("text")[n // 2].as_py()
            t0 = time.perf_counter()
            with_vec = embed_rows(rows, model)
            embed_seconds += time.perf_counter() - t0
            rag.upsert(with_vec)
            written.append(with_vec.select(["symbol", "timeframe", "ts", "vector"]))
    report = rag.ensure_indexes()
    total = sum(t.num_rows for t in written)
    stored = sum(rag.count(flt) for flt, _ in scopes)
    expected = sum(n for _, n in scopes)
    dups = sum(rag.duplicate_keys(flt) for flt, _ in scopes)
    allrows = pa.concat_tables(written) if written else None
    checks = [
        _check_vectors(allrows, model.dimension, rag.dimension()) if allrows is not None else
        dg.AssetCheckResult(check_name="vector_dimension", passed=True, metadata={"written": 0}),
        dg.AssetCheckResult(check_name="no_duplicate_keys", passed=dups == 0, metadata={"duplicates": dups}),
        dg.AssetCheckResult(check_name="row_count_matches", passed=stored == expected,
                            metadata={"lancedb_rows": stored, "narrated_candles": expected}),
    ]
    meta = clean({
        "dagster/row_count": total,
        "rows": total,
        "table_rows": rag.count(),
        "embeddings_per_second": round(total / embed_seconds, 1) if embed_seconds > 0 else None,
        "model": model.model_name,
        "dimension": model.dimension,
        "indexes": ", ".join(report.actions) or None,
        "index_errors": dg.MetadataValue.json(report.errors) if report.errors else None,
        "sample_narrative": md(f"```\n{sample}\n```") if sample else None,
        "scope": md(markdown_table([{"symbol": f.symbol, "timeframe": f.timeframe, "start": f.start,
                                     "end": f.end, "rows": n} for f, n in scopes])),
    })
    context.log.info("embedded %d narratives (%s/s)", total, meta.get("embeddings_per_second"))
    return dg.MaterializeResult(metadata=meta, check_results=checks)
