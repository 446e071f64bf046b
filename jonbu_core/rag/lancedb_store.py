"""LanceDB backend of :class:`~jonbu_core.rag.base.RagStore`.

One table (:data:`~jonbu_core.rag.base.TABLE_NAME`) under ``settings.lancedb_dir``.

* Writes (:meth:`LanceRagStore.upsert`) are keyed on ``symbol|timeframe|ts`` (column
  ``key``) so a re-export replaces its rows. Writers lock their partitions
  (``(symbol, timeframe)``, an ``flock`` per pair, see :mod:`jonbu_core.rag.partitions`)
  and look at the latest table version: a batch none of whose range is stored yet is
  a plain append (measured ~3× cheaper than ``merge_insert``), a re-export of a stored
  range is ``delete`` + append, and a batch that overlaps stored rows only partly is
  a ``merge_insert`` on the key. Processes writing the same partition take turns;
  processes writing different partitions never wait for each other (commits are
  optimistic; we retry a few more times on a commit conflict). The key stays the
  table's (unenforced) primary key, so ``merge_insert`` calls racing without the lock
  (no ``fcntl``) are still resolved by Lance.
* Indexes: BTree on ``key`` (the merge join) and ``ts``, bitmaps on ``symbol`` and
  ``timeframe`` (filters), a native full-text index on ``text`` (stemmed, stop words removed) and,
  once the table holds :attr:`LanceRagStore.vector_index_min_rows` rows, an ``IVF_FLAT``
  cosine index on ``vector``. No write updates an index: rows added after an index
  was built are still searched (flat, so results stay complete and current) and are
  folded in, with small fragments compacted, by ``optimize()``, which
  :meth:`LanceRagStore.ensure_indexes` runs once unindexed rows reach 10 % of the
  indexed ones (at least 2,000) or small fragments pile up — the exporter calls it
  after every export, so bulk writes are never slowed by index maintenance.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core.errors import ConfigError, InvalidInputError, StoreError
from jonbu_core.rag.base import (
    KEY_COLUMNS,
    ROW_KEY,
    TABLE_NAME,
    IndexReport,
    SearchFilter,
    UpsertResult,
    rag_schema,
)
from jonbu_core.rag.keys import dedupe_last, row_keys, where_clause
from jonbu_core.rag.partitions import PartitionLock, lock_dir, partitions, range_filter

logger = logging.getLogger(__name__)

#: Rows from which an ANN index is worth building (below it a flat scan is fast and exact).
VECTOR_INDEX_MIN_ROWS = 20_000
#: Unindexed rows (share of indexed ones) that trigger an ``optimize()``.
OPTIMIZE_UNINDEXED_SHARE = 0.1
OPTIMIZE_UNINDEXED_MIN = 2_000
#: Small fragments (each append writes at least one) that trigger an ``optimize()``.
OPTIMIZE_SMALL_FRAGMENTS = 32
_RESULT_COLUMNS = ["symbol", "timeframe", "ts", "text"]
_SCALAR_INDEXES = {ROW_KEY: "btree", "ts": "btree", "symbol": "bitmap", "timeframe": "bitmap"}


def _small_fragments(tbl: Any) -> int:
    try:
        stats = tbl.stats()
    except (OSError, RuntimeError, ValueError, AttributeError) as exc:  # pragma: no cover
        logger.debug("table stats unavailable: %s", exc)
        return 0
    frag = stats.get("fragment_stats", {}) if isinstance(stats, dict) else getattr(stats, "fragment_stats", {})
    value = frag.get("num_small_fragments", 0) if isinstance(frag, dict) else getattr(frag, "num_small_fragments", 0)
    return int(value or 0)


class LanceRagStore:
    """RAG-ready candles in LanceDB.

    Parameters
    ----------
    uri : str or Path
        Database directory (``settings.lancedb_dir``).
    table_name : str
        Table name.
    vector_index_min_rows : int
        Rows from which an ``IVF_FLAT`` vector index is built.
    read_consistency_seconds : float
        How stale a long-lived handle may be before it re-checks the table version
        (another process may be writing).
    atomic_replace : bool
        Replace stored keys with one ``merge_insert`` commit (the default: atomic,
        ~3× the CPU of an append). ``False`` replaces a fully re-exported range with
        ``delete`` + append instead: two commits, so a reader may see the range empty
        for a moment and a crash between them empties it until the next export — for
        bulk rebuilds where nobody searches meanwhile (see :meth:`upsert`).
    """

    name = "lancedb"

    def __init__(
        self,
        uri: str | Path,
        table_name: str = TABLE_NAME,
        *,
        vector_index_min_rows: int = VECTOR_INDEX_MIN_ROWS,
        read_consistency_seconds: float = 2.0,
        atomic_replace: bool = True,
    ) -> None:
        import lancedb

        self.uri = Path(uri)
        self.uri.mkdir(parents=True, exist_ok=True)
        self.table_name = table_name
        self.vector_index_min_rows = vector_index_min_rows
        self.atomic_replace = atomic_replace
        self._db = lancedb.connect(
            str(self.uri), read_consistency_interval=timedelta(seconds=read_consistency_seconds)
        )
        self._tbl: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ table
    def _open(self) -> Any:
        if self._tbl is None:
            with self._lock:
                if self._tbl is None:
                    try:
                        self._tbl = self._db.open_table(self.table_name)
                    except (ValueError, FileNotFoundError, RuntimeError):
                        return None
        return self._tbl

    def _create(self, dimension: int) -> Any:
        with self._lock:
            try:
                self._tbl = self._db.create_table(
                    self.table_name, schema=rag_schema(dimension), exist_ok=True
                )
            except (ValueError, OSError, RuntimeError):  # created by another process meanwhile
                self._tbl = self._db.open_table(self.table_name)
            try:
                self._tbl.set_unenforced_primary_key(ROW_KEY)
            except (ValueError, OSError, RuntimeError) as exc:  # already set (another process)
                logger.debug("primary key not set: %s", exc)
            try:  # the merge join looks keys up in it
                from lancedb.index import BTree

                if ROW_KEY not in {i.columns[0] for i in self._tbl.list_indices()}:
                    self._tbl.create_index(ROW_KEY, config=BTree(), replace=False)
            except (ValueError, OSError, RuntimeError) as exc:  # created by another process
                logger.debug("key index not created: %s", exc)
        return self._tbl

    def dimension(self) -> int | None:
        """Vector length of the table (``None`` when it does not exist)."""
        tbl = self._open()
        if tbl is None:
            return None
        return int(tbl.schema.field("vector").type.list_size)

    def schema(self) -> pa.Schema | None:
        """The table's Arrow schema (``None`` when it does not exist)."""
        tbl = self._open()
        return None if tbl is None else tbl.schema

    # ------------------------------------------------------------------ writes
    def upsert(self, rows: pa.Table) -> UpsertResult:
        """Insert or replace ``rows`` by key (see :func:`~jonbu_core.rag.base.rag_schema`).

        The batch's partitions (``(symbol, timeframe)`` pairs) are locked across
        processes (:mod:`jonbu_core.rag.partitions`) and the stored rows inside the
        batch's ``ts`` ranges counted on the latest table version:

        * none (a first export) → plain append, one commit;
        * all of them are keys of the batch (a re-export) → with ``atomic_replace``
          (the default) one ``merge_insert``; without it ``delete`` of the ranges, then
          append: two commits, so another process's reader may for a moment see the
          ranges empty, and a crash between them leaves them empty until the next
          export (the export is idempotent);
        * otherwise (stored keys the batch does not have) → ``merge_insert`` on the
          key (atomic; matched rows updated, the others inserted).

        Without the lock (no ``fcntl``) every write is a ``merge_insert``.

        Parameters
        ----------
        rows : pyarrow.Table
            Rows with (at least) the key, ``text`` and ``vector``; other columns of the
            schema may be missing (null).

        Raises
        ------
        InvalidInputError
            If columns are missing or cannot be cast.
        ConfigError
            If the vectors' length differs from the table's (another model built it).
        StoreError
            If the write still conflicts after retries.
        """
        if rows.num_rows == 0:
            return UpsertResult(0, 0, 0)
        vtype = rows.schema.field("vector").type if "vector" in rows.column_names else None
        if vtype is None or not (pa.types.is_fixed_size_list(vtype) or pa.types.is_list(vtype)):
            raise InvalidInputError("RAG rows need a 'vector' column of fixed-size float lists")
        dim = vtype.list_size if pa.types.is_fixed_size_list(vtype) else len(rows.column("vector")[0])
        existing = self.dimension()
        if existing is not None and existing != dim:
            raise ConfigError(
                f"JONBU_EMBEDDING_MODEL: the LanceDB table {self.table_name!r} holds {existing}-d "
                f"vectors but the model makes {dim}-d ones; export to another JONBU_DATA_DIR"
            )
        data = dedupe_last(self._conform(rows, dim))
        tbl = self._open() if existing is not None else self._create(dim)
        started = time.perf_counter()
        parts = partitions(data)
        with PartitionLock(lock_dir(self.uri), parts) as locked:
            if not locked:
                return self._merge(tbl, data, started)
            # the writers of these partitions wait for us: look at the latest version
            tbl.checkout_latest()
            where = range_filter(parts)
            stored = int(tbl.count_rows(where))
            if stored == 0:
                return self._append(tbl, data, started)
            if self.atomic_replace or not self._covers(tbl, data, where, stored):
                return self._merge(tbl, data, started)
            self._retry("delete", lambda: tbl.delete(where))  # every stored key is in the batch
            self._append(tbl, data, started)
            return UpsertResult(
                inserted=data.num_rows - stored, updated=stored,
                seconds=time.perf_counter() - started, appended=True,
            )

    @staticmethod
    def _retry(action: str, fn: Any) -> Any:
        """``fn()``, retried a few times on a commit conflict."""
        last_exc: Exception | None = None
        for attempt in range(1, 6):
            try:
                return fn()
            except (OSError, RuntimeError, ValueError) as exc:  # commit conflicts surface here
                if "conflict" not in str(exc).lower() and "retry" not in str(exc).lower():
                    raise StoreError(f"LanceDB {action} failed: {exc}") from exc
                last_exc = exc
                logger.info("LanceDB %s conflict (attempt %d): %s", action, attempt, exc)
                time.sleep(0.05 * 2**attempt)
        raise StoreError(f"LanceDB {action} kept conflicting: {last_exc}")

    @staticmethod
    def _covers(tbl: Any, data: pa.Table, where: str, stored: int) -> bool:
        """Whether every stored key matching ``where`` is one of ``data``'s keys."""
        if stored > data.num_rows:
            return False
        got = tbl.search().where(where).select(list(KEY_COLUMNS)).limit(stored).to_arrow()
        return bool(pc.all(pc.is_in(row_keys(got), value_set=data.column(ROW_KEY))).as_py())

    @classmethod
    def _append(cls, tbl: Any, data: pa.Table, started: float) -> UpsertResult:
        """Plain append (no key of ``data`` is stored and the partitions are locked)."""
        cls._retry("append", lambda: tbl.add(data))
        return UpsertResult(
            inserted=data.num_rows, updated=0, seconds=time.perf_counter() - started, appended=True
        )

    @staticmethod
    def _merge(tbl: Any, data: pa.Table, started: float) -> UpsertResult:
        """``merge_insert`` on the key: matched rows replaced, the others inserted (atomic)."""
        last_exc: Exception | None = None
        for attempt in range(1, 6):
            try:
                res = (
                    tbl.merge_insert(ROW_KEY)
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute(data)
                )
                return UpsertResult(
                    inserted=int(res.num_inserted_rows),
                    updated=int(res.num_updated_rows),
                    attempts=attempt * int(getattr(res, "num_attempts", 1) or 1),
                    seconds=time.perf_counter() - started,
                )
            except (OSError, RuntimeError, ValueError) as exc:  # commit conflicts surface here
                if "conflict" not in str(exc).lower() and "retry" not in str(exc).lower():
                    raise StoreError(f"LanceDB upsert failed: {exc}") from exc
                last_exc = exc
                logger.info("LanceDB upsert conflict (attempt %d): %s", attempt, exc)
                time.sleep(0.05 * 2**attempt)
        raise StoreError(f"LanceDB upsert kept conflicting: {last_exc}")

    @staticmethod
    def _conform(rows: pa.Table, dim: int) -> pa.Table:
        schema = rag_schema(dim)
        cols = []
        for f in schema:
            if f.name == ROW_KEY:
                cols.append(row_keys(rows))
                continue
            if f.name in rows.column_names:
                col = rows.column(f.name)
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise InvalidInputError(f"RAG column {f.name!r}: {exc}") from exc
                if not f.nullable and col.null_count:
                    raise InvalidInputError(f"RAG column {f.name!r} has {col.null_count} nulls")
            elif f.nullable:
                col = pa.nulls(rows.num_rows, f.type)
            else:
                raise InvalidInputError(f"RAG rows are missing the column {f.name!r}")
            cols.append(col)
        return pa.Table.from_arrays(cols, schema=schema)

    def delete(self, flt: SearchFilter | None = None) -> int:
        """Delete rows matching ``flt`` (all when ``None``); returns how many."""
        tbl = self._open()
        if tbl is None:
            return 0
        where = where_clause(flt) or "true"
        before = int(tbl.count_rows(where if where != "true" else None))
        tbl.delete(where)
        return before

    # ------------------------------------------------------------------ reads
    def count(self, flt: SearchFilter | None = None) -> int:
        """Rows matching ``flt``."""
        tbl = self._open()
        if tbl is None:
            return 0
        return int(tbl.count_rows(where_clause(flt)))

    def read(self, flt: SearchFilter | None = None, columns: list[str] | None = None) -> pa.Table:
        """Rows matching ``flt``, sorted by key; ``columns`` defaults to all but ``vector``."""
        tbl = self._open()
        if tbl is None:
            return rag_schema(1).empty_table().drop_columns(["vector"])
        n = self.count(flt)
        cols = columns or [f.name for f in tbl.schema if f.name != "vector"]
        q = tbl.search().select(cols).limit(max(n, 1))
        where = where_clause(flt)
        if where:
            q = q.where(where)
        out: pa.Table = q.to_arrow()
        sort_keys = [(c, "ascending") for c in KEY_COLUMNS if c in out.column_names]
        return out.sort_by(sort_keys) if sort_keys else out

    def duplicate_keys(self, flt: SearchFilter | None = None) -> int:
        """Keys stored more than once."""
        keys = self.read(flt, list(KEY_COLUMNS))
        if keys.num_rows == 0:
            return 0
        counts = keys.group_by(list(KEY_COLUMNS)).aggregate([([], "count_all")])
        return int(pc.sum(pc.greater(counts.column("count_all"), 1)).as_py() or 0)

    # ------------------------------------------------------------------ indexes
    def index_names(self) -> dict[str, Any]:
        """``{column: IndexConfig}`` of the existing indexes."""
        tbl = self._open()
        if tbl is None:
            return {}
        return {idx.columns[0]: idx for idx in tbl.list_indices()}

    def ensure_indexes(self, *, optimize: bool = True) -> IndexReport:
        """Create the missing indexes, and ``optimize()`` when many rows are unindexed.

        Failures (e.g. another process indexing at the same moment) are logged and
        reported, never raised: searches work without indexes, only slower.
        """
        from lancedb.index import FTS, Bitmap, BTree, IvfFlat

        report = IndexReport()
        tbl = self._open()
        if tbl is None:
            return report
        rows = int(tbl.count_rows())
        if rows == 0:
            return report
        have = self.index_names()

        def attempt(action: str, fn: Any) -> None:
            try:
                fn()
                report.actions.append(action)
            except Exception as exc:  # index work is best effort
                logger.warning("LanceDB %s failed: %s", action, exc)
                report.errors.append(f"{action}: {exc}")

        for col, kind in _SCALAR_INDEXES.items():
            if col not in have:
                cfg = BTree() if kind == "btree" else Bitmap()
                attempt(f"{kind}:{col}", lambda c=col, g=cfg: tbl.create_index(c, config=g, replace=False))
        if "text" not in have:
            attempt("fts:text", lambda: tbl.create_index("text", config=FTS(), replace=False))
        if "vector" not in have and rows >= self.vector_index_min_rows:
            parts = max(8, min(1024, int(math.sqrt(rows) / 2)))
            attempt(
                "ivf_flat:vector",
                lambda: tbl.create_index(
                    "vector", config=IvfFlat(distance_type="cosine", num_partitions=parts), replace=False
                ),
            )
        if optimize and not report.actions:
            stale = 0
            for col, idx in have.items():
                indexed = int(getattr(idx, "num_indexed_rows", 0) or 0)
                unindexed = int(getattr(idx, "num_unindexed_rows", 0) or 0)
                if unindexed >= max(OPTIMIZE_UNINDEXED_MIN, OPTIMIZE_UNINDEXED_SHARE * indexed):
                    stale = max(stale, unindexed)
                    logger.debug("index on %s has %d unindexed rows", col, unindexed)
            if not stale:  # many small appends (one fragment each): compact them
                small = _small_fragments(tbl)
                stale = small if small >= OPTIMIZE_SMALL_FRAGMENTS else 0
            if stale:
                attempt("optimize", lambda: tbl.optimize())
        return report

    # ------------------------------------------------------------------ search
    def vector_search(
        self, vector: npt.NDArray[np.float32], flt: SearchFilter, limit: int
    ) -> pa.Table:
        """The ``limit`` nearest rows by cosine distance (``_distance`` in [0, 2])."""
        tbl = self._open()
        if tbl is None:
            return pa.table({c: [] for c in [*_RESULT_COLUMNS, "_distance"]})
        q = (
            tbl.search(np.asarray(vector, dtype=np.float32), query_type="vector")
            .distance_type("cosine")
            .select([*_RESULT_COLUMNS, "_distance"])
            .limit(limit)
        )
        where = where_clause(flt)
        if where:
            q = q.where(where, prefilter=True)
        out: pa.Table = q.to_arrow()
        return out

    def text_search(
        self, query: str, flt: SearchFilter, limit: int, *, with_vector: bool = False
    ) -> pa.Table:
        """The best BM25 matches of ``query`` (``_score``); empty without an FTS index.

        With ``with_vector`` the rows carry their ``vector`` too (to score them
        against a query vector without a second lookup).
        """
        empty = pa.table({c: [] for c in [*_RESULT_COLUMNS, "_score"]})
        tbl = self._open()
        if tbl is None or not query.strip():
            return empty
        cols = [*_RESULT_COLUMNS, *(["vector"] if with_vector else []), "_score"]
        q = tbl.search(query, query_type="fts", fts_columns="text").select(cols).limit(limit)
        where = where_clause(flt)
        if where:
            q = q.where(where, prefilter=True)
        try:
            out: pa.Table = q.to_arrow()
        except ValueError as exc:
            if "index" in str(exc).lower():  # no full-text index yet
                logger.debug("full-text search skipped: %s", exc)
                return empty
            raise
        return out

    def close(self) -> None:
        """Drop the table handle (LanceDB holds no server connection)."""
        self._tbl = None
