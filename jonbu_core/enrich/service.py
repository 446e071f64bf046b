"""Enrichment over a store: ranges (batch) and seeded incremental enrichers.

:func:`enrich_range` loads :func:`required_warmup` bars before ``start`` so that a
candle's values never depend on where the request starts: windowed quantities see
full windows, and recursive (EMA-family) ones have forgotten their seed to 1e-12.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from jonbu_core.enrich.batch import enrich_candles, enrich_table, make_metadata
from jonbu_core.enrich.engine import cached_plan
from jonbu_core.enrich.incremental import IncrementalEnricher
from jonbu_core.enrich.models import EnrichedCandle
from jonbu_core.enrich.params import P
from jonbu_core.enrich.registry import ANCHORED_OBV, ANCHORED_VWAP, IndicatorSpec, resolve_specs
from jonbu_core.errors import InvalidInputError
from jonbu_core.models import BAR_SCHEMA, normalize_symbol, to_utc
from jonbu_core.stores.base import BarStore
from jonbu_core.timeframe import Timeframe, parse_timeframe

logger = logging.getLogger(__name__)

#: Longest span searched for warm-up history before giving up (the start of the data).
_MAX_HISTORY = timedelta(days=366 * 60)


def _anchor_bars(tf: Timeframe) -> int:
    """Bars an anchor period (session, month, year) can span at most."""
    if tf.is_intraday:
        return -(-16 * 3600 // tf.seconds)  # an extended-hours session (04:00-20:00 ET)
    return 23 if tf.seconds < 5 * 86400 else 53


def required_warmup(specs: str | list[IndicatorSpec] | None, timeframe: str | Timeframe) -> int:
    """Bars of history to load before a range so results do not depend on its start.

    The largest of: every requested indicator's lookback plus its unstable period
    (EMA-family seeds decayed below 1e-12), the internal context/feature/level
    needs (:attr:`~jonbu_core.enrich.plan.Plan.internal_warmup`, which includes two
    pivot memories so level clusters are rebuilt from the same pivots), and for the
    anchored ``vwap``/``obv`` the longest anchor period.
    """
    resolved = resolve_specs(specs)
    tf = parse_timeframe(timeframe)
    plan = cached_plan(tuple(resolved))
    need = max([s.lookback + s.unstable for s in resolved] + [plan.internal_warmup + P.pivot_memory])
    if any(v in (ANCHORED_VWAP, ANCHORED_OBV) for v in plan.indicators.values()):
        need = max(need, _anchor_bars(tf))
    return need + 1


def _read_all(store: BarStore, symbol: str, tf: str, start: datetime | None, end: datetime | None) -> pa.Table:
    pages: list[pa.Table] = []
    cursor: str | None = None
    while True:
        page = store.read_bars(symbol, tf, start, end, cursor=cursor)
        pages.append(page.table)
        cursor = page.next_cursor
        if not cursor:
            break
    return pa.concat_tables(pages) if len(pages) > 1 else pages[0]


def _span(tf: Timeframe, bars: int) -> timedelta:
    """A first guess of the calendar time ``bars`` bars take (sessions, weekends)."""
    if tf.is_intraday:
        per_day = max(1, (6 * 3600 + 1800) // tf.seconds)
        return timedelta(days=bars / per_day * 7 / 5 + 4)
    if tf.seconds < 5 * 86400:
        return timedelta(days=bars * 1.5 + 10)
    return timedelta(days=bars * 7 + 14)


def load_history(store: BarStore, symbol: str, timeframe: str | Timeframe, before: datetime, bars: int) -> pa.Table:
    """The last ``bars`` stored bars before ``before`` (fewer when the data starts later)."""
    tf = parse_timeframe(timeframe)
    span = _span(tf, bars)
    prev = -1
    while True:
        table = _read_all(store, symbol, tf.name, before - span, before)
        if table.num_rows >= bars or table.num_rows == prev or span >= _MAX_HISTORY:
            break
        prev = table.num_rows
        span = min(span * 4, _MAX_HISTORY)
    if table.num_rows == prev and span < _MAX_HISTORY and table.num_rows < bars:
        # two equal answers: probe once far back to be sure the data really starts here
        table = _read_all(store, symbol, tf.name, before - _MAX_HISTORY, before)
    return table.slice(max(0, table.num_rows - bars))


def enrich_range(store: BarStore, symbol: str, timeframe: str, start: datetime, end: datetime | None = None,
                 indicators: str | None = None) -> list[EnrichedCandle]:
    """Enriched candles of ``symbol`` in ``[start, end)`` from ``store``.

    Parameters
    ----------
    store : BarStore
        Where the raw bars are read (any adapter).
    symbol, timeframe : str
        What to enrich (``"AAPL"``, ``"1d"``).
    start, end : datetime
        The range (``end`` exclusive; ``None``: up to the latest bar).
    indicators : str, optional
        Indicator spec (``"rsi:14,ema:50"``); ``None``: the default set.

    Returns
    -------
    list of EnrichedCandle
        Ascending by ts; empty when nothing is stored in the range.

    Raises
    ------
    InvalidInputError
        For a bad symbol, timeframe, spec or range.
    """
    loaded = _load_range(store, symbol, timeframe, start, end, indicators)
    if loaded is None:
        return []
    table, specs, tf, meta = loaded
    return enrich_candles(table, specs, to_utc(start), timeframe=tf.name, metadata=meta)


def enrich_range_table(store: BarStore, symbol: str, timeframe: str, start: datetime,
                       end: datetime | None = None, indicators: str | None = None) -> pa.Table:
    """Like :func:`enrich_range` but as the flat table of :func:`~jonbu_core.enrich.enrich_table`.

    Only rows in ``[start, end)`` are returned (the loaded history just warms up).
    """
    loaded = _load_range(store, symbol, timeframe, start, end, indicators)
    if loaded is None:
        return enrich_table(BAR_SCHEMA.empty_table(), resolve_specs(indicators), timeframe=timeframe)
    table, specs, tf, meta = loaded
    out = enrich_table(table, specs, timeframe=tf.name)
    return out.slice(int(meta["history_bars"]))


def _load_range(store: BarStore, symbol: str, timeframe: str, start: datetime, end: datetime | None,
                indicators: str | None) -> tuple[pa.Table, list[IndicatorSpec], Timeframe, dict[str, Any]] | None:
    specs = resolve_specs(indicators)
    sym = normalize_symbol(symbol)
    tf = parse_timeframe(timeframe)
    start = to_utc(start)
    end = to_utc(end) if end is not None else None
    if end is not None and start >= end:
        raise InvalidInputError(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
    main = _read_all(store, sym, tf.name, start, end)
    if main.num_rows == 0:
        return None
    warm = required_warmup(specs, tf)
    history = load_history(store, sym, tf, start, warm)
    table = pa.concat_tables([history.select(BAR_SCHEMA.names), main.select(BAR_SCHEMA.names)])
    meta = make_metadata(specs, symbol=sym, timeframe=tf.name, warmup_bars=warm, history_bars=history.num_rows)
    logger.debug("enrich %s %s: %d bars + %d of history", sym, tf.name, main.num_rows, history.num_rows)
    return table, specs, tf, meta


def incremental_from_store(store: BarStore, symbol: str, timeframe: str, indicators: str | None = None,
                           before: datetime | None = None) -> IncrementalEnricher:
    """An :class:`IncrementalEnricher` seeded with the bars stored before ``before``.

    ``before=None`` seeds with the latest stored bars; feed it the following closed
    candles with ``update`` (and forming ones with ``peek``).
    """
    specs = resolve_specs(indicators)
    sym = normalize_symbol(symbol)
    tf = parse_timeframe(timeframe)
    warm = required_warmup(specs, tf)
    if before is None:
        latest = store.latest_bar(sym, tf.name)
        before = (latest.ts + tf.delta) if latest is not None else None
    enr = IncrementalEnricher(specs, timeframe=tf.name,
                              metadata=make_metadata(specs, symbol=sym, timeframe=tf.name))
    if before is not None:
        enr.seed(load_history(store, sym, tf, to_utc(before), warm))
    return enr
