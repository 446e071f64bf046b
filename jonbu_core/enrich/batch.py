"""Batch enrichment of a range: an Arrow table (vectorised) or EnrichedCandle objects.

Table columns, in order:

1. the candle: ``ts open high low close volume trade_count vwap``;
2. the indicators, keys as in CONTRACT.md (a key clashing with a candle column is
   prefixed ``ind_``: the anchored ``vwap`` becomes ``ind_vwap``); null in warm-up;
3. ``cdl_<pattern>``: TA-Lib's raw value for each candlestick pattern (0, ±100, ±200);
4. ``chart_<pattern>``: strength 0–1 of each chart pattern (0 = not present);
5. context: ``regime trend_direction`` (dictionary strings), ``trend_strength
   trend_slope_pct trend_r2 volatility_percentile relative_volume``, nearest
   ``support``/``resistance`` with ``_touches`` and ``_dist_atr``, ``signal_bias``;
6. ``f_<feature>``: the feature vector (null inside the feature warm-up);
7. ``confidence``.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import talib

from jonbu_core.enrich.candles import CANDLES
from jonbu_core.enrich.context import CONTEXT_NUMBERS, split_levels
from jonbu_core.enrich.engine import ENGINE_VERSION, BatchResult, compute
from jonbu_core.enrich.features import FEATURE_NAMES
from jonbu_core.enrich.models import (
    REGIMES,
    TREND_DIRECTIONS,
    EnrichedCandle,
    MarketContext,
    Pattern,
)
from jonbu_core.enrich.patterns import CHART_NAMES, candle_pattern, chart_pattern
from jonbu_core.enrich.registry import IndicatorSpec, resolve_specs
from jonbu_core.models import CANDLE_COLUMNS, Candle, fast_model

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def indicator_column(key: str) -> str:
    """Column name of an indicator key in tables/CSV (``ind_`` prefix on a clash)."""
    return f"ind_{key}" if key in CANDLE_COLUMNS else key


def _nullable(arr: np.ndarray[Any, Any], leading: int = 0) -> pa.Array:
    """A float64 Arrow array (zero-copy when possible) with NaN as null.

    ``leading`` rows are null whatever they hold (a warm-up); when no NaN follows
    them the validity bitmap is built directly instead of scanning every value.
    """
    n = len(arr)
    k = min(max(leading, 0), n)
    # a sum without NaN proves there is no NaN (one pass, no temporary); a NaN sum
    # may also come from inf - inf, so then look element by element
    with np.errstate(invalid="ignore", over="ignore"):
        maybe_nan = bool(np.isnan(np.sum(arr[k:])))
    if maybe_nan and np.isnan(arr[k:]).any():
        mask = np.isnan(arr)
        mask[:k] = True
        return pa.array(arr, mask=mask)
    if k == 0:
        return pa.array(arr)
    bits = np.full((n + 7) // 8, 0xFF, dtype=np.uint8)
    full, rem = divmod(k, 8)
    bits[:full] = 0
    if rem:
        bits[full] = (0xFF << rem) & 0xFF
    data = np.ascontiguousarray(arr, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), n, [pa.py_buffer(bits), pa.py_buffer(data)], null_count=k)


def _codes(codes: np.ndarray[Any, Any], names: tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(list(names)))


def result_table(res: BatchResult) -> pa.Table:
    """The enriched table of a :class:`BatchResult` (see the module docstring)."""
    plan, s = res.plan, res.series
    names: list[str] = list(res.table.column_names)
    arrays: list[pa.Array | pa.ChunkedArray] = list(res.table.columns)
    look = plan.graph.lookback
    for key, arr in res.indicators.items():
        names.append(indicator_column(key))
        arrays.append(_nullable(arr, look.get(plan.indicators[key], 0)))
    for info, arr in zip(CANDLES, res.cdl, strict=True):
        names.append(f"cdl_{info.name}")
        arrays.append(pa.array(arr))
    for name in CHART_NAMES:
        names.append(f"chart_{name}")
        arrays.append(pa.array(res.chart[name]))
    names += ["regime", "trend_direction"]
    arrays += [_codes(s[plan.s["regime"]], REGIMES), _codes(s[plan.s["trend_direction"]], TREND_DIRECTIONS)]
    for name in CONTEXT_NUMBERS:
        names.append(name)
        arrays.append(_nullable(s[plan.s[name]], look[plan.s[name]]))
    for side in ("support", "resistance"):
        names += [side, f"{side}_touches", f"{side}_dist_atr"]
        arrays += [_nullable(res.nearest[side]), pa.array(res.nearest[f"{side}_touches"].astype(np.int64)),
                   _nullable(res.nearest[f"{side}_dist_atr"])]
    names.append("signal_bias")
    arrays.append(pa.array(res.agg["bias"]))
    fstart = plan.feature_lookback
    for name in FEATURE_NAMES:
        names.append(f"f_{name}")
        arrays.append(_nullable(res.features[name], fstart))
    names.append("confidence")
    arrays.append(pa.array(res.agg["confidence"]))
    return pa.Table.from_arrays(arrays, names=names)


def enrich_table(bars: pa.Table, specs: str | list[IndicatorSpec] | None = None, *,
                 timeframe: str | None = None, parallel: bool | None = None) -> pa.Table:
    """Enrich every bar of ``bars`` (vectorised).

    Parameters
    ----------
    bars : pyarrow.Table
        Bars ascending by ``ts`` with ``open high low close volume`` (``trade_count``
        and ``vwap`` optional), e.g. a ``BarStore.read_bars`` page.
    specs : str or list of IndicatorSpec, optional
        Indicators to compute (``"rsi:14,ema:50"``); ``None`` for the default set.
    timeframe : str, optional
        Timeframe of the bars (picks the anchor of ``vwap``/``obv``); inferred from
        the ``timeframe`` column or the bar spacing when omitted.
    parallel : bool, optional
        Run the TA-Lib calls on the shared thread pool (default: for tables of
        50,000 bars or more on a multi-core machine); same results either way.

    Returns
    -------
    pyarrow.Table
        See the module docstring for the columns.
    """
    res = compute(bars, resolve_specs(specs), _timeframe(bars, timeframe), parallel)
    return result_table(res)


def _timeframe(bars: pa.Table, timeframe: str | None) -> str | None:
    if timeframe is None and isinstance(bars, pa.Table) and "timeframe" in bars.column_names and bars.num_rows:
        value = bars.column("timeframe")[0].as_py()
        return str(value) if value else None
    return timeframe


def make_metadata(specs: list[IndicatorSpec], **extra: Any) -> dict[str, Any]:
    """Metadata shared by every candle of one request."""
    return {"engine": f"jonbu-enrich/{ENGINE_VERSION}", "talib": str(getattr(talib, "__ta_version__", "?")),
            "indicators": [s.label for s in specs], **extra}


def _ts(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _none_if_nan(values: list[float]) -> list[float | None]:
    return [None if v != v else v for v in values]


def result_candles(res: BatchResult, first: int = 0, metadata: dict[str, Any] | None = None,
                   processed_at: datetime | None = None) -> list[EnrichedCandle]:
    """EnrichedCandle objects for rows ``first…`` of a :class:`BatchResult`."""
    n = res.n
    if first >= n:
        return []
    plan, s = res.plan, res.series
    m = n - first
    now = processed_at or datetime.now(UTC)
    meta = metadata if metadata is not None else make_metadata(res.plan.specs)
    cols = [c for c in CANDLE_COLUMNS if c != "ts"]
    candle_rows = zip(*(res.table.column(c).slice(first).to_pylist() for c in cols), strict=True)
    ts = res.ts_us[first:].tolist()
    ind_keys = list(res.indicators)
    ind_rows = zip(*(_none_if_nan(v[first:].tolist()) for v in res.indicators.values()), strict=True)
    pats: list[list[Pattern]] = [[] for _ in range(m)]
    for info, arr in zip(CANDLES, res.cdl, strict=True):
        part = arr[first:]
        for i in np.flatnonzero(part != 0).tolist():
            pats[i].append(candle_pattern(info, int(part[i])))
    for name in CHART_NAMES:
        part = res.chart[name][first:]
        for i in np.flatnonzero(part > 0).tolist():
            pats[i].append(chart_pattern(name, float(part[i])))
    regime = [REGIMES[x] for x in s[plan.s["regime"]][first:].astype(np.int64).tolist()]
    tdir = [TREND_DIRECTIONS[x] for x in s[plan.s["trend_direction"]][first:].astype(np.int64).tolist()]
    ctx_rows = zip(*(_none_if_nan(s[plan.s[k]][first:].tolist()) for k in CONTEXT_NUMBERS), strict=True)
    bias = res.agg["bias"][first:].tolist()
    conf = res.agg["confidence"][first:].tolist()
    close = res.series["close"][first:].tolist()
    atr = s[plan.s["atr"]][first:].tolist()
    ev = res.levels.event_of_bar[first:].tolist()
    lv_price, lv_touch, lv_count = res.levels.price, res.levels.touches, res.levels.count
    fskip = max(0, min(plan.feature_lookback - first, m))
    feat_rows = zip(*(res.features[k][first + fskip:].tolist() for k in FEATURE_NAMES), strict=True)
    out: list[EnrichedCandle] = []
    level_cache: dict[int, tuple[list[float], list[int]]] = {}
    ckeys = ("ts", *cols)
    # The objects are acyclic: suspend the cyclic GC, which would otherwise rescan the
    # growing result list over and over (it doubles the cost of a large range).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        _build(out, level_cache, candle_rows, ind_rows, ctx_rows, feat_rows, ckeys, ts, ind_keys, pats, regime,
               tdir, bias, conf, close, atr, ev, lv_price, lv_touch, lv_count, fskip, now, meta)
    finally:
        if gc_was_on:
            gc.enable()
    return out


def _build(out: list[EnrichedCandle], level_cache: dict[int, tuple[list[float], list[int]]],
           candle_rows: Any, ind_rows: Any, ctx_rows: Any, feat_rows: Any, ckeys: tuple[str, ...],
           ts: list[int], ind_keys: list[str], pats: list[list[Pattern]], regime: list[str], tdir: list[str],
           bias: list[float], conf: list[float], close: list[float], atr: list[float], ev: list[int],
           lv_price: np.ndarray[Any, Any], lv_touch: np.ndarray[Any, Any], lv_count: np.ndarray[Any, Any],
           fskip: int, now: datetime, meta: dict[str, Any]) -> None:
    for r, (crow, irow, nrow) in enumerate(zip(candle_rows, ind_rows, ctx_rows, strict=True)):
        e = ev[r]
        lv = level_cache.get(e)
        if lv is None:
            k = int(lv_count[e])
            lv = (lv_price[e, :k].tolist(), lv_touch[e, :k].tolist())
            level_cache[e] = lv
        support, resistance = split_levels(lv[0], lv[1], close[r], atr[r])
        ctx: dict[str, Any] = {"regime": regime[r], "trend_direction": tdir[r]}
        ctx.update(zip(CONTEXT_NUMBERS, nrow, strict=True))
        ctx["support"] = support
        ctx["resistance"] = resistance
        ctx["signal_bias"] = bias[r]
        candle = fast_model(Candle, dict(zip(ckeys, (_ts(ts[r]), *crow), strict=True)))
        features = dict(zip(FEATURE_NAMES, next(feat_rows), strict=True)) if r >= fskip else {}
        out.append(fast_model(EnrichedCandle, {
            "ohlcv": candle, "indicators": dict(zip(ind_keys, irow, strict=True)), "patterns": pats[r],
            "context": fast_model(MarketContext, ctx), "features": features, "confidence": conf[r],
            "processed_at": now, "metadata": meta}))


def enrich_candles(bars: pa.Table, specs: str | list[IndicatorSpec] | None = None,
                   start: datetime | None = None, *, timeframe: str | None = None,
                   metadata: dict[str, Any] | None = None) -> list[EnrichedCandle]:
    """Enrich ``bars`` and return :class:`EnrichedCandle` objects from ``start`` on.

    Bars before ``start`` only warm the indicators up. See :func:`enrich_table` for
    ``bars``, ``specs`` and ``timeframe``.
    """
    resolved = resolve_specs(specs)
    res = compute(bars, resolved, _timeframe(bars, timeframe))
    first = 0
    if start is not None:
        st = start if start.tzinfo else start.replace(tzinfo=UTC)
        first = int(np.searchsorted(res.ts_us, int((st - _EPOCH) / timedelta(microseconds=1)), side="left"))
    meta = metadata if metadata is not None else make_metadata(resolved)
    return result_candles(res, first, meta)
