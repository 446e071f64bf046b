"""Human-readable narratives of enriched candles (text, markdown, JSON).

>>> narrate(enriched, "AAPL", "15m")                     # doctest: +SKIP
'AAPL 15-minute candle at 2024-01-02 09:30 EST:\\nPrice: $187.15 (+0.52%) …'

Narratives are deterministic: the same candle (and previous candle) always gives the
same text. Wording varies only through the explicit templates of
:mod:`jonbu_core.narrative.templates`. Times are shown in the exchange's zone with
its abbreviation (``EST``/``EDT``). Besides the narrative, :func:`build_bundle`
produces what a RAG export needs: ``search_keywords``, a ``technical_summary`` and a
``pattern_explanation`` (the seed plan's ``RAGReadyCandle`` fields).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jonbu_core.errors import InvalidInputError
from jonbu_core.models import Candle
from jonbu_core.narrative.facts import CandleFacts, extract_facts
from jonbu_core.narrative.render import (
    compose,
    pattern_explanation,
    render_json,
    render_markdown,
    render_text,
    search_keywords,
    technical_summary,
)
from jonbu_core.timeframe import EXCHANGE_TZ

if TYPE_CHECKING:
    from jonbu_core.enrich.models import EnrichedCandle

FORMATS = ("text", "markdown", "json")

__all__ = [
    "FORMATS",
    "CandleFacts",
    "NarrativeBundle",
    "build_bundle",
    "build_bundles",
    "narrate",
    "narrate_series",
]


@dataclass(slots=True)
class NarrativeBundle:
    """Every narrative field of one candle (what a RAG row stores)."""

    facts: CandleFacts
    text: str
    markdown: str
    technical_summary: str
    pattern_explanation: str
    search_keywords: list[str]

    def as_json(self) -> dict[str, Any]:
        """The JSON form (see :func:`narrate` with ``fmt="json"``)."""
        s = compose(self.facts)
        return render_json(
            self.facts, s, self.text, self.technical_summary, self.pattern_explanation,
            self.search_keywords,
        )


def build_bundle(
    enriched: EnrichedCandle,
    symbol: str,
    timeframe: str,
    previous: EnrichedCandle | Candle | None = None,
    tz: ZoneInfo = EXCHANGE_TZ,
) -> NarrativeBundle:
    """Text, markdown, keywords and summaries of one candle, from one set of facts.

    Parameters
    ----------
    enriched : EnrichedCandle
        The candle.
    symbol, timeframe : str
        Its key.
    previous : EnrichedCandle or Candle, optional
        The candle before (change from its close, MACD crossovers).
    tz : ZoneInfo
        The exchange's time zone.

    Returns
    -------
    NarrativeBundle
    """
    f = extract_facts(enriched, symbol, timeframe, previous, tz)
    s = compose(f)
    return NarrativeBundle(
        facts=f,
        text=render_text(s),
        markdown=render_markdown(s),
        technical_summary=technical_summary(f, s),
        pattern_explanation=pattern_explanation(f),
        search_keywords=search_keywords(f, s),
    )


def build_bundles(
    candles: Sequence[EnrichedCandle],
    symbol: str,
    timeframe: str,
    tz: ZoneInfo = EXCHANGE_TZ,
    previous: EnrichedCandle | Candle | None = None,
) -> list[NarrativeBundle]:
    """:func:`build_bundle` over consecutive candles (each uses the one before it).

    The cyclic garbage collector is paused meanwhile: the loop allocates many small,
    acyclic objects, and gen-2 collections over the enriched candles cost about a
    third of the time otherwise (measured on 20,000 1m candles).
    """
    out: list[NarrativeBundle] = []
    prev = previous
    with _gc_paused():
        for c in candles:
            out.append(build_bundle(c, symbol, timeframe, prev, tz))
            prev = c
    return out


def narrate(
    enriched: EnrichedCandle,
    symbol: str,
    timeframe: str,
    fmt: str = "text",
    *,
    previous: EnrichedCandle | Candle | None = None,
    tz: ZoneInfo = EXCHANGE_TZ,
) -> str | dict[str, Any]:
    """The narrative of one enriched candle.

    Parameters
    ----------
    enriched : EnrichedCandle
        The candle.
    symbol : str
        Its symbol (``AAPL``).
    timeframe : str
        Its timeframe (``15m``, ``1d``…).
    fmt : {"text", "markdown", "json"}
        ``text`` and ``markdown`` return a string, ``json`` a dict of every fact plus
        ``text``, ``technical_summary``, ``pattern_explanation`` and ``search_keywords``.
    previous : EnrichedCandle or Candle, optional
        The candle before it: the change is then measured from the previous close
        (otherwise from this candle's open, and the text says so) and a MACD
        crossover on this candle can be named.
    tz : ZoneInfo
        The exchange's time zone (America/New_York by default).

    Returns
    -------
    str or dict

    Raises
    ------
    InvalidInputError
        For an unknown format or timeframe.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown narrative format {fmt!r}; expected one of {', '.join(FORMATS)}")
    f = extract_facts(enriched, symbol, timeframe, previous, tz)
    s = compose(f)
    if fmt == "markdown":
        return render_markdown(s)
    text = render_text(s)
    if fmt == "text":
        return text
    return render_json(f, s, text, technical_summary(f, s), pattern_explanation(f), search_keywords(f, s))


def narrate_series(
    candles: Sequence[EnrichedCandle],
    symbol: str,
    timeframe: str,
    fmt: str = "text",
    tz: ZoneInfo = EXCHANGE_TZ,
) -> list[str | dict[str, Any]]:
    """Narratives of consecutive candles (each measured against the one before it)."""
    out: list[str | dict[str, Any]] = []
    prev: EnrichedCandle | None = None
    with _gc_paused():
        for c in candles:
            out.append(narrate(c, symbol, timeframe, fmt, previous=prev, tz=tz))
            prev = c
    return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
