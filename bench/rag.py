"""Benchmark of narratives, embeddings, LanceDB writes and filtered hybrid search.

Run: ``.venv/bin/python bench/rag.py`` (about 60-75 s on 2 quiet cores; every figure moves a lot
when other processes share the CPU — the load average is recorded with the results).

Data: 1m bars of the mock market (2 symbols × 26 sessions, ~20,000 candles), enriched
with the default indicator set (not timed here: ``bench/enrich.py`` covers it).

1. **Narratives**: candles/s of :func:`jonbu_core.narrative.build_bundles` (text,
   markdown, technical summary, pattern explanation and keywords of each candle); the
   baseline is one bare f-string per candle with the price, change and RSI (the floor of
   any templating in Python). Target ≥ 20,000 candles/s.
2. **Embedding**: texts/s of our :class:`SentenceTransformerEmbedder.embed` (chunked,
   with progress) next to the bare ``SentenceTransformer.encode`` with the same batch
   size on the same 64 narratives (best of 3 interleaved runs each). Target ≥ 90 % of it.
3. **LanceDB writes**: 100,000 RAG rows (real narrative texts, 384-d vectors) written
   through ``LanceRagStore.upsert`` — what ``export_rag`` calls — in the batches the
   exporter makes (one symbol × one window of ``WINDOW_CANDLES`` rows; key column,
   duplicate check, partition lock and existence count included): first export into a
   fresh table (plain append), re-export of the same rows the default, atomic way
   (``merge_insert``), and with ``atomic_replace=False`` (delete + append). Baselines in the same
   rounds: a bare ``table.add`` of the already conformed rows into a fresh table, and a
   Parquet write of them (in the note). Best of ``WRITE_ROUNDS`` rounds; the load
   average at start and end is in the note. Target ≥ 100,000 rows/s for the first export.
4. **Search**: after the indexes (BTree/bitmap, full-text, IVF_FLAT) are built on the
   100,000 rows, p50/p99 latency of :func:`hybrid_search` — query embedding, filtered
   vector search, filtered full-text search and fusion — with a symbol + timeframe +
   date-range filter, 12 queries × 15 rounds after a warm-up. The vectors of the 100k
   rows are the real embeddings of 64 narratives plus small noise (embedding 100k texts
   would take half an hour on this CPU). The store-only latency (query vector given) is
   reported as well. Target p99 ≤ 50 ms.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench._common import figure, write_result

SYMBOLS = ("AAPL", "MSFT")
START, END = datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 2, 8, tzinfo=UTC)
EMBED_TEXTS = 64
ROUNDS = 3
WRITE_ROWS = 100_000
WRITE_ROUNDS = 2
QUERIES = (
    "hammer reversal with oversold RSI",
    "bearish engulfing near resistance on high volume",
    "overbought RSI with a shooting star",
    "doji indecision in a ranging market",
    "breakout above the range with heavy volume",
    "strong downtrend, MACD bearish crossover",
    "price touched the lower Bollinger Band",
    "gap up at the open",
    "double bottom support held",
    "low volume sideways market",
    "morning star bullish reversal",
    "volatile regime with long shadows",
)


def _candles() -> tuple[list[tuple[str, list]], int]:
    from jonbu_core.enrich import enrich_candles
    from jonbu_core.providers.mock import MockMarket

    market = MockMarket(42)
    out = []
    n = 0
    for sym in SYMBOLS:
        bars = pa.Table.from_batches(list(market.bars(sym, "1m", START, END)))
        enriched = enrich_candles(bars, None, timeframe="1m")
        out.append((sym, enriched))
        n += len(enriched)
    return out, n


def bench_narratives(series: list[tuple[str, list]], n: int) -> tuple[list[dict], list]:
    from jonbu_core.narrative import build_bundles

    best = 0.0
    bundles: list = []
    for _ in range(3):
        t0 = time.perf_counter()
        bundles = [b for sym, cs in series for b in build_bundles(cs, sym, "1m")]
        best = max(best, n / (time.perf_counter() - t0))
    base = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for sym, cs in series:
            prev = None
            for c in cs:
                o = c.ohlcv
                chg = (o.close / prev - 1.0) * 100.0 if prev else 0.0
                rsi = c.indicators.get("rsi_14")
                _ = f"{sym} 1m candle at {o.ts:%Y-%m-%d %H:%M}: ${o.close:.2f} ({chg:+.2f}%), RSI {rsi or 0:.1f}"
                prev = o.close
        base = max(base, n / (time.perf_counter() - t0))
    figs = [figure(
        f"narrative generation ({n:,} enriched 1m candles; text+markdown+summary+keywords)",
        best, "candles/s", baseline=("bare f-string per candle", base), target=(">=", 20_000),
        note=f"best of 3; {_load('after')}",
    )]
    return figs, bundles


def bench_embedding(texts: list[str]) -> tuple[list[dict], np.ndarray, object]:
    from jonbu_core.rag.embedder import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(None, device="cpu", batch_size=64)
    emb.embed(texts[:16])  # warm-up
    ours: list[float] = []
    bare: list[float] = []
    vecs = np.zeros((0, emb.dimension), dtype=np.float32)

    def run_bare() -> None:
        t0 = time.perf_counter()
        emb.model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                         show_progress_bar=False)
        bare.append(len(texts) / (time.perf_counter() - t0))

    def run_ours() -> np.ndarray:
        t0 = time.perf_counter()
        out = emb.embed(texts, progress=lambda done, total: None)
        ours.append(len(texts) / (time.perf_counter() - t0))
        return out

    for i in range(ROUNDS):  # interleaved, alternating who goes first (load bursts hit both)
        if i % 2:
            vecs = run_ours()
            run_bare()
        else:
            run_bare()
            vecs = run_ours()
    tokens = float(np.mean([len(emb.model.tokenizer(t)["input_ids"]) for t in texts]))
    figs = [figure(
        f"embedding {len(texts)} narratives (all-MiniLM-L6-v2, CPU, batch 64)",
        max(ours), "texts/s", baseline=("bare SentenceTransformer.encode", max(bare)),
        target=("x>=", 0.9),
        note=f"best of {ROUNDS} interleaved runs each; {tokens:.0f} tokens per narrative on average; "
             f"{_load('after')}",
    )]
    return figs, vecs, emb


def _rows(bundles: list, vecs: np.ndarray, n: int) -> pa.Table:
    """``n`` RAG rows: the narratives repeated over shifted keys, vectors = real + noise."""
    from jonbu_core.rag.export import narrative_rows, with_vectors

    base = narrative_rows(bundles)
    reps = -(-n // base.num_rows)
    parts = []
    ts = base.column("ts").cast(pa.int64()).to_numpy()
    for r in range(reps):
        shifted = pa.array(ts + r * 400 * 86_400_000_000, pa.int64()).cast(base.schema.field("ts").type)
        parts.append(base.set_column(base.schema.get_field_index("ts"), "ts", shifted))
    rows = pa.concat_tables(parts).slice(0, n)
    rng = np.random.default_rng(7)
    v = vecs[np.arange(n) % len(vecs)] + rng.normal(0, 0.05, (n, vecs.shape[1])).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return with_vectors(rows, v.astype(np.float32), "all-MiniLM-L6-v2")


def _load(label: str) -> str:
    one, five, _ = os.getloadavg()
    return f"load {label} {one:.2f}/{five:.2f} (1/5 min)"


def _export_batches(rows: pa.Table) -> list[pa.Table]:
    """The rows as the exporter hands them to ``upsert``: one symbol, one window each."""
    from jonbu_core.rag.export import WINDOW_CANDLES

    ordered = rows.sort_by([("symbol", "ascending"), ("ts", "ascending")])
    out = []
    for sym in sorted(set(ordered.column("symbol").to_pylist())):
        part = ordered.filter(pc.equal(ordered.column("symbol"), sym))
        out += [part.slice(i, WINDOW_CANDLES) for i in range(0, part.num_rows, WINDOW_CANDLES)]
    return out


def bench_writes(rows: pa.Table, root: Path) -> tuple[list[dict], object]:
    """First export, re-export (delete + append) and atomic re-export (merge_insert) of the rows.

    Each is timed through ``LanceRagStore.upsert`` — what ``export_rag`` calls — on the
    batches the exporter makes (one symbol × one window of ``WINDOW_CANDLES``), including
    the key column, the duplicate check, the partition lock and the existence count.
    Baselines on the same rows in the same rounds: a bare ``table.add`` of the already
    conformed table (one call, fresh table) and a Parquet write of it.
    """
    import lancedb
    import pyarrow.parquet as pq

    from jonbu_core.rag.base import rag_schema
    from jonbu_core.rag.lancedb_store import LanceRagStore

    n = rows.num_rows
    batches = _export_batches(rows)
    conformed = LanceRagStore._conform(rows, 384).combine_chunks()
    best: dict[str, float] = {}
    load_start = _load("at start")

    def timed(key: str, fn: object) -> None:
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best[key] = max(best.get(key, 0.0), n / (time.perf_counter() - t0))

    store: LanceRagStore | None = None
    for r in range(WRITE_ROUNDS):
        if r:
            shutil.rmtree(root / f"bare{r - 1}", ignore_errors=True)
            shutil.rmtree(root / f"ours{r - 1}", ignore_errors=True)
        tbl = lancedb.connect(str(root / f"bare{r}")).create_table("bare", schema=rag_schema(384))
        store = LanceRagStore(root / f"ours{r}", atomic_replace=False)
        res: list = []
        baselines = [
            lambda t=tbl: timed("bare", lambda: t.add(conformed)),
            lambda i=r: timed("parquet", lambda: pq.write_table(conformed, str(root / f"bare{i}" / "rows.parquet"))),
        ]
        if r % 2 == 0:  # alternate who goes first (load bursts and page-cache flushes hit both)
            for run in baselines:
                run()
        timed("first", lambda s=store, out=res: out.extend(s.upsert(b) for b in batches))
        if r % 2 == 1:
            for run in baselines:
                run()
        assert sum(x.inserted for x in res) == n and all(x.appended for x in res), res
        res.clear()
        timed("again", lambda s=store, out=res: out.extend(s.upsert(b) for b in batches))
        assert sum(x.updated for x in res) == n and store.count() == n, res
        res.clear()
        atomic = LanceRagStore(root / f"ours{r}")
        timed("atomic", lambda s=atomic, out=res: out.extend(s.upsert(b) for b in batches))
        assert sum(x.updated for x in res) == n and not any(x.appended for x in res), res
        assert store.count() == n and store.duplicate_keys() == 0
    load_end = _load("at end")
    loads = f"{load_start}, {load_end}"
    where = (f"{len(batches)} upsert calls of <= {batches[0].num_rows:,} rows (one symbol x one export "
             f"window each); best of {WRITE_ROUNDS} rounds, alternating with the baselines; {loads}")
    figs = [
        figure(f"LanceDB first export of {n:,} rows (LanceRagStore.upsert: lock, existence count, append)",
               best["first"], "rows/s", baseline=("bare table.add of the conformed rows", best["bare"]),
               target=(">=", 100_000),
               note=f"{where}; Parquet write of the same rows: {best['parquet']:,.0f} rows/s"),
        figure(f"LanceDB re-export of the same {n:,} rows (atomic_replace=False: delete + append)", best["again"],
               "rows/s", baseline=("bare table.add of the conformed rows", best["bare"]),
               note=f"{where}; two commits per batch (see LanceRagStore.upsert)"),
        figure(f"LanceDB re-export of the same {n:,} rows (default, atomic: merge_insert)",
               best["atomic"], "rows/s", baseline=("bare table.add of the conformed rows", best["bare"]),
               note=where),
    ]
    return figs, store


def bench_search(store: object, emb: object, rows: pa.Table) -> list[dict]:
    from jonbu_core.rag.base import SearchFilter
    from jonbu_core.rag.search import hybrid_search

    t0 = time.perf_counter()
    report = store.ensure_indexes()  # type: ignore[attr-defined]
    index_s = time.perf_counter() - t0
    ts = rows.column("ts").to_pylist()
    lo, hi = min(ts), max(ts)
    rng = np.random.default_rng(3)
    filters = []
    for i in range(len(QUERIES)):
        start = lo + (hi - lo) * float(rng.uniform(0, 0.8))
        filters.append(SearchFilter(symbol=SYMBOLS[i % len(SYMBOLS)], timeframe="1m", start=start,
                                    end=start + timedelta(days=60)))
    for q, f in zip(QUERIES, filters, strict=True):  # warm-up (caches, index pages)
        hybrid_search(store, emb, q, f, 10)  # type: ignore[arg-type]
    full: list[float] = []
    only: list[float] = []
    qvecs = {q: emb.embed_query(q) for q in QUERIES}  # type: ignore[attr-defined]
    for _ in range(15):
        for q, f in zip(QUERIES, filters, strict=True):
            t0 = time.perf_counter()
            res = hybrid_search(store, emb, q, f, 10)  # type: ignore[arg-type]
            full.append((time.perf_counter() - t0) * 1000)
            assert all(r.symbol == f.symbol for r in res)
            t0 = time.perf_counter()
            store.vector_search(qvecs[q], f, 50)  # type: ignore[attr-defined]
            store.text_search(q, f, 50, with_vector=True)  # type: ignore[attr-defined]
            only.append((time.perf_counter() - t0) * 1000)
    p = np.percentile
    return [
        figure(f"filtered hybrid search p50 over {rows.num_rows:,} rows", float(p(full, 50)), "ms",
               baseline=("store queries only (query vector given)", float(p(only, 50))),
               higher_is_better=False, note="query embedding + vector + full-text + fusion"),
        figure(f"filtered hybrid search p99 over {rows.num_rows:,} rows", float(p(full, 99)), "ms",
               baseline=("store queries only (query vector given)", float(p(only, 99))),
               target=("<=", 50.0), higher_is_better=False,
               note=f"{len(full)} queries; indexes built in {index_s:.1f}s: {', '.join(report.actions)}; "
                    f"{_load('after')}"),
    ]


def main() -> None:
    started = time.perf_counter()
    load_start = os.getloadavg()
    stages: dict[str, float] = {}
    mark = started

    def stage(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        stages[name] = round(now - mark, 1)
        mark = now

    series, n = _candles()
    print(f"enriched {n:,} candles in {time.perf_counter() - started:.1f}s")
    stage("enrich")
    figs, bundles = bench_narratives(series, n)
    stage("narratives")
    step = max(1, len(bundles) // EMBED_TEXTS)
    texts = [b.text for b in bundles[::step]][:EMBED_TEXTS]
    efigs, vecs, emb = bench_embedding(texts)
    figs += efigs
    stage("embedding")
    root = Path(tempfile.mkdtemp(prefix="bench-rag-"))
    try:
        rows = _rows(bundles, vecs, WRITE_ROWS)
        wfigs, store = bench_writes(rows, root)
        figs += wfigs
        stage("writes")
        figs += bench_search(store, emb, rows)
        stage("search")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    write_result("rag", figs, candles=n, embed_texts=len(texts), rows=WRITE_ROWS,
                 seconds=round(time.perf_counter() - started, 1), stage_seconds=stages,
                 load_average_start=load_start, load_average_end=os.getloadavg(),
                 load_average=os.getloadavg(), median_chars=statistics.median(len(t) for t in texts))
    print(f"rag: stages {stages}; load average {load_start} at start, {os.getloadavg()} at end")
    try:  # bench/results/rag.png, the ratio chart bench/report.py draws
        from bench.report import _chart

        print(f"chart: {_chart('rag', figs)}")
    except ImportError as exc:  # matplotlib missing: the JSON is what matters
        print(f"no chart: {exc}")


if __name__ == "__main__":
    main()
