"""Training sets: normalised features and future-return targets, as Parquet.

Layout (hive-style, readable with ``pyarrow.dataset``, pandas, Polars, DuckDB, Spark)::

    <output>/timeframe=15m/_manifest.json
    <output>/timeframe=15m/symbol=AAPL/2024-01-02.parquet     # one file per exchange day

Each row is one candle (``ts`` = its open time, UTC). Columns:

* ``ts``, ``close`` — the key and the reference price (known at the candle's close);
* ``feat_<name>`` — the enrichment's feature vector, every value in [0, 1], computed
  only from candles up to and including this one (the enrichment's rule, checked by
  this module's tests); ``feat_confidence`` is the signal-agreement score;
* ``target_return_<h>`` — simple return from this close to the close ``h`` bars later;
  ``target_up_<h>`` — 1 when that return is positive, else 0.

No leakage: targets use closes strictly after the row's candle and never enter a
feature; nothing is normalised over the whole dataset (that would leak the future).
Rows inside the feature warm-up and rows whose horizons reach past the stored bars
are dropped (``drop_incomplete=False`` keeps them with nulls). Re-exporting a day
rewrites its file, so exports are idempotent; ``_manifest.json`` describes every column.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from jonbu_core.errors import InvalidInputError
from jonbu_core.models import TS_TYPE, parse_symbols
from jonbu_core.rag.files import atomic_write, write_day_files
from jonbu_core.timeframe import EXCHANGE_TZ, parse_timeframe
from jonbu_core.timeutil import parse_end, parse_start

if TYPE_CHECKING:
    from jonbu_core.enrich.models import EnrichedCandle
    from jonbu_core.settings import Settings
    from jonbu_core.stores.base import BarStore

logger = logging.getLogger(__name__)

DEFAULT_HORIZONS: tuple[int, ...] = (1, 4, 16)
MANIFEST_NAME = "_manifest.json"
MANIFEST_VERSION = 1
FEATURE_PREFIX = "feat_"


def target_columns(horizons: Sequence[int]) -> list[str]:
    """Target column names for ``horizons`` (``target_return_4``, ``target_up_4``…)."""
    out: list[str] = []
    for h in horizons:
        out += [f"target_return_{h}", f"target_up_{h}"]
    return out


def check_horizons(horizons: Sequence[int]) -> tuple[int, ...]:
    """Validate horizons (positive bar counts, unique, ascending)."""
    hs = tuple(sorted({int(h) for h in horizons}))
    if not hs or hs[0] < 1 or hs[-1] > 10_000:
        raise InvalidInputError(f"horizons must be bar counts between 1 and 10000 (got {list(horizons)})")
    return hs


def training_table(
    candles: Sequence[EnrichedCandle],
    horizons: Sequence[int],
    future_closes: Sequence[float] = (),
    *,
    feature_names: Sequence[str] | None = None,
    drop_incomplete: bool = True,
) -> pa.Table:
    """Features and targets of consecutive ``candles``.

    Parameters
    ----------
    candles : sequence of EnrichedCandle
        Consecutive candles of one symbol and timeframe, ascending.
    horizons : sequence of int
        Target horizons in bars.
    future_closes : sequence of float
        Closes of the bars right after the last candle (to fill its targets).
    feature_names : sequence of str, optional
        Feature order (default: the first candle with features, then any new names sorted).
    drop_incomplete : bool
        Drop rows without features (warm-up) or with a missing target.

    Returns
    -------
    pyarrow.Table
        ``ts``, ``close``, ``feat_*``, ``target_*`` columns.
    """
    hs = check_horizons(horizons)
    n = len(candles)
    names = list(feature_names) if feature_names is not None else feature_order(candles)
    closes = np.array([c.ohlcv.close for c in candles] + [float(x) for x in future_closes], dtype=np.float64)
    cols: dict[str, Any] = {
        "ts": pa.array([c.ohlcv.ts for c in candles], TS_TYPE),
        "close": pa.array(closes[:n]),
    }
    has_features = np.array([bool(c.features) for c in candles], dtype=bool)
    for name in names:
        vals = [c.features.get(name) for c in candles]
        cols[FEATURE_PREFIX + name] = pa.array(vals, pa.float64())
    cols[FEATURE_PREFIX + "confidence"] = pa.array([c.confidence for c in candles], pa.float64())
    complete = has_features.copy()
    for h in hs:
        ret = np.full(n, np.nan)
        m = min(n, max(0, len(closes) - h))
        if m:
            ret[:m] = closes[h : h + m] / closes[:m] - 1.0
        valid = np.isfinite(ret)
        complete &= valid
        cols[f"target_return_{h}"] = pa.array(ret, mask=~valid)
        cols[f"target_up_{h}"] = pa.array((ret > 0).astype(np.int8), mask=~valid)
    table = pa.table(cols)
    if drop_incomplete:
        table = table.filter(pa.array(complete))
    return table


def feature_order(candles: Sequence[EnrichedCandle]) -> list[str]:
    """Feature names in the enrichment's order (new names met later are appended, sorted)."""
    names: list[str] = []
    seen: set[str] = set()
    extra: set[str] = set()
    for c in candles:
        if not c.features:
            continue
        if not names:
            names = list(c.features)
            seen = set(names)
        else:
            extra.update(k for k in c.features if k not in seen)
    return names + sorted(extra)


def _enrich_attr(name: str, modules: tuple[str, ...]) -> Any:
    """``name`` from the first enrichment module that defines it (``None`` otherwise)."""
    for mod in modules:
        try:
            value = getattr(importlib.import_module(mod), name, None)
        except ImportError:
            continue
        if value is not None:
            return value
    return None


def _feature_rules() -> tuple[dict[str, str], int | None]:
    """``{feature: "fixed"|"minmax"}`` and the min-max window, from the enrichment."""
    feats = _enrich_attr("FEATURES", ("jonbu_core.enrich.features", "jonbu_core.enrich.plan"))
    rules = {str(name): str(rule) for name, rule in (feats or ())}
    params = _enrich_attr("P", ("jonbu_core.enrich.params", "jonbu_core.enrich.plan"))
    window = getattr(params, "norm_window", None)
    return rules, int(window) if window is not None else None


def _describe_feature(name: str, rules: dict[str, str], window: int | None) -> tuple[str, str | None]:
    rule = rules.get(name)
    if rule == "fixed":
        how = "a bounded quantity mapped from its fixed range to [0, 1]"
    elif rule == "minmax":
        span = f"the previous {window} bars" if window else "a trailing window"
        how = f"an unbounded quantity scaled by its rolling min-max over {span}"
    else:
        how = "normalised to [0, 1]"
    return f"enrichment feature '{name}': {how}, from candles up to this one only", rule


def manifest(timeframe: str, horizons: Sequence[int], feature_names: Sequence[str],
             metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON manifest of a training set: layout, leakage rules and every column."""
    hs = check_horizons(horizons)
    columns: list[dict[str, Any]] = [
        {"name": "symbol", "dtype": "string", "role": "partition",
         "description": "ticker; from the directory name symbol=<SYMBOL> (hive partitioning)"},
        {"name": "ts", "dtype": "timestamp[us, tz=UTC]", "role": "key",
         "description": f"open time of the {timeframe} candle (UTC); the row's information is as of its close"},
        {"name": "close", "dtype": "float64", "role": "reference",
         "description": "close price of the candle (not normalised; for reference and back-tests)"},
    ]
    rules, window = _feature_rules()
    for name in feature_names:
        text, rule = _describe_feature(name, rules, window)
        col: dict[str, Any] = {"name": FEATURE_PREFIX + name, "dtype": "float64", "role": "feature",
                               "range": [0.0, 1.0], "description": text}
        if rule:
            col["normalisation"] = rule
        columns.append(col)
    columns.append({"name": FEATURE_PREFIX + "confidence", "dtype": "float64", "role": "feature",
                    "range": [0.0, 1.0], "description": "agreement of the technical signals at this candle"})
    for h in hs:
        columns.append({"name": f"target_return_{h}", "dtype": "float64", "role": "target", "horizon_bars": h,
                        "description": f"close {h} bar(s) later / this close - 1 (simple return)"})
        columns.append({"name": f"target_up_{h}", "dtype": "int8", "role": "target", "horizon_bars": h,
                        "description": f"1 if target_return_{h} > 0 else 0"})
    return {
        "name": "jonbu-ohlcv training set",
        "version": MANIFEST_VERSION,
        "timeframe": timeframe,
        "horizons_bars": list(hs),
        "layout": f"timeframe={timeframe}/symbol=<SYMBOL>/<YYYY-MM-DD>.parquet, one file per exchange day",
        "rows": "one candle per row, ascending by ts within a file",
        "leakage": (
            "features use only candles up to and including the row's candle (rolling/fixed-range "
            "normalisation, never whole-dataset statistics); targets use closes strictly after it "
            "and are never features"
        ),
        "dropped_rows": "candles inside the feature warm-up and candles whose horizons reach past the stored bars",
        "columns": columns,
        "enrichment": metadata or {},
    }


def write_manifest(root: Path, doc: dict[str, Any]) -> Path:
    """Write ``_manifest.json`` under ``root`` (atomically).

    Raises
    ------
    InvalidInputError
        If an existing manifest there describes other columns (mixing would corrupt the set).
    """
    path = root / MANIFEST_NAME
    if path.exists():
        old = json.loads(path.read_text())
        if [c["name"] for c in old.get("columns", [])] != [c["name"] for c in doc["columns"]]:
            raise InvalidInputError(
                f"{path} describes other columns (horizons or features differ); "
                "export to another --output directory"
            )
    text = json.dumps(doc, indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


@dataclass
class TrainingSummary:
    """What :func:`export_training` wrote."""

    output: Path
    timeframe: str
    horizons: tuple[int, ...]
    symbols: list[str]
    rows: int = 0
    files: list[Path] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    dropped: int = 0
    empty_symbols: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _future_closes(store: BarStore, symbol: str, timeframe: str, after: datetime, n: int) -> list[float]:
    page = store.read_bars(symbol, timeframe, after, None, limit=n)
    return [float(x) for x in page.table.column("close").to_pylist()]


def export_training(
    settings: Settings,
    symbols: str | Sequence[str],
    timeframe: str,
    start: str | date | datetime,
    end: str | date | datetime | None = None,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    output: Path | None = None,
    *,
    store: BarStore | None = None,
    indicators: str | None = None,
    drop_incomplete: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> TrainingSummary:
    """Write the training set of ``symbols`` over ``[start, end)`` as Parquet + manifest.

    Parameters
    ----------
    settings : Settings
        Store settings; the default output is ``$JONBU_DATA_DIR/training``.
    symbols, timeframe, start, end
        What to export (a date ``end`` includes that day; ``None`` = now).
    horizons : sequence of int
        Target horizons in bars.
    output : Path, optional
        Root directory of the data set.
    store : BarStore, optional
        Injected store (opened from ``settings`` when ``None``).
    indicators : str, optional
        Indicator spec of the enrichment.
    drop_incomplete : bool
        Drop warm-up rows and rows with missing targets.
    progress : callable, optional
        ``progress(done_symbols, total_symbols, message)``.

    Returns
    -------
    TrainingSummary
    """
    from jonbu_core.enrich.service import enrich_range

    syms = parse_symbols(symbols)
    tf = parse_timeframe(timeframe)
    hs = check_horizons(horizons)
    t_start = parse_start(start)
    t_end = parse_end(end) if end is not None else datetime.now(UTC)
    if t_start >= t_end:
        raise InvalidInputError(f"start ({t_start.isoformat()}) must be before end ({t_end.isoformat()})")
    root = Path(output or settings.data_dir / "training") / f"timeframe={tf.name}"
    summary = TrainingSummary(output=root, timeframe=tf.name, horizons=hs, symbols=syms)
    started = time.perf_counter()
    own = store is None
    if store is None:
        from jonbu_core.stores.factory import open_store

        store = open_store(settings)
    names: list[str] | None = None
    meta: dict[str, Any] = {}
    try:
        for i, sym in enumerate(syms):
            candles = list(enrich_range(store, sym, tf.name, t_start, t_end, indicators=indicators))
            if not candles:
                summary.empty_symbols.append(sym)
            else:
                if names is None:
                    names = feature_order(candles)
                    meta = dict(candles[-1].metadata)
                future = _future_closes(store, sym, tf.name, t_end, hs[-1])
                table = training_table(candles, hs, future, feature_names=names, drop_incomplete=drop_incomplete)
                summary.dropped += len(candles) - table.num_rows
                summary.rows += table.num_rows
                days = {c.ohlcv.ts.astimezone(EXCHANGE_TZ).date() for c in candles}
                summary.files += write_day_files(root, sym, table, days)
            if progress is not None:
                progress(i + 1, len(syms), sym)
    finally:
        if own:
            store.close()
    if names is not None:
        summary.feature_names = names
        write_manifest(root, manifest(tf.name, hs, names, meta))
    summary.seconds = time.perf_counter() - started
    return summary
