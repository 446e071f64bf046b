"""Narrate a stored candle: find it, enrich it on demand, describe it.

Used by ``jonbu-ohlcv narrate`` (and available to the API): the candle whose interval
contains ``at`` (or, when none does, the last one before it), enriched together with
its predecessor so the change and crossovers are measured against the previous candle.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from jonbu_core.errors import NotFoundError
from jonbu_core.models import normalize_symbol, to_utc
from jonbu_core.narrative import narrate
from jonbu_core.timeframe import parse_timeframe
from jonbu_core.timeutil import parse_start

if TYPE_CHECKING:
    from jonbu_core.enrich.models import EnrichedCandle
    from jonbu_core.stores.base import BarStore


def find_candle(
    store: BarStore,
    symbol: str,
    timeframe: str,
    at: str | date | datetime | None = None,
    *,
    indicators: str | None = None,
) -> tuple[EnrichedCandle, EnrichedCandle | None, bool]:
    """The enriched candle at ``at`` and the one before it.

    Parameters
    ----------
    store : BarStore
        Where the bars are.
    symbol, timeframe : str
        The series.
    at : str, date or datetime, optional
        A time inside the wanted candle (a date means the start of that exchange day);
        ``None`` = the latest stored candle.
    indicators : str, optional
        Indicator spec of the enrichment.

    Returns
    -------
    tuple
        ``(candle, previous or None, exact)`` where ``exact`` tells whether the candle's
        interval contains ``at`` (else it is the last candle before ``at``).

    Raises
    ------
    NotFoundError
        When no candle is stored at or before ``at``.
    """
    from jonbu_core.enrich.service import enrich_range, load_history

    sym = normalize_symbol(symbol)
    tf = parse_timeframe(timeframe)
    if at is None:
        latest = store.latest_bar(sym, tf.name)
        if latest is None:
            raise NotFoundError(f"no {tf.name} bars stored for {sym}")
        when = to_utc(latest.ts)
    else:
        when = parse_start(at)
    label = tf.bucket(when)
    end = tf.next_open(label)
    last_two = load_history(store, sym, tf.name, end, 2)
    if last_two.num_rows == 0:
        raise NotFoundError(f"no {tf.name} candle of {sym} at or before {when.isoformat()}")
    first = last_two.column("ts")[0].as_py()
    candles = enrich_range(store, sym, tf.name, first, end, indicators=indicators)
    if not candles:
        raise NotFoundError(f"no {tf.name} candle of {sym} at or before {when.isoformat()}")
    candle = candles[-1]
    previous = candles[-2] if len(candles) > 1 else None
    exact = to_utc(candle.ohlcv.ts) == label
    return candle, previous, exact


def narrative_at(
    store: BarStore,
    symbol: str,
    timeframe: str,
    at: str | date | datetime | None = None,
    fmt: str = "text",
    *,
    indicators: str | None = None,
) -> tuple[EnrichedCandle, str | dict[str, Any], bool]:
    """Find the candle at ``at`` (see :func:`find_candle`) and narrate it in ``fmt``.

    Returns
    -------
    tuple
        ``(candle, narrative, exact)``.
    """
    candle, previous, exact = find_candle(store, symbol, timeframe, at, indicators=indicators)
    sym = normalize_symbol(symbol)
    tf = parse_timeframe(timeframe)
    return candle, narrate(candle, sym, tf.name, fmt, previous=previous), exact
