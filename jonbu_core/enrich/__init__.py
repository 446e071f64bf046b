"""On-demand enrichment: indicators, patterns, market context, features, confidence.

Public entry points::

    from jonbu_core.enrich import parse_indicator_spec, enrich_table, enrich_candles
    from jonbu_core.enrich.service import enrich_range, required_warmup
    from jonbu_core.enrich.incremental import IncrementalEnricher
    from jonbu_core.enrich.models import EnrichedCandle

TA-Lib (its Function API for ranges, its streaming API for one new bar at a time)
is the engine for indicators and candlestick patterns; chart patterns, levels,
regime, features and confidence are ours. Nothing here imports a web or
orchestration framework.
"""

from __future__ import annotations

from jonbu_core.enrich.batch import enrich_candles, enrich_table, indicator_column
from jonbu_core.enrich.models import EnrichedCandle, Level, MarketContext, Pattern
from jonbu_core.enrich.registry import (
    CATALOG,
    DEFAULT_SPEC,
    IndicatorSpec,
    parse_indicator_spec,
    valid_names,
)

__all__ = [
    "CATALOG",
    "DEFAULT_SPEC",
    "EnrichedCandle",
    "IndicatorSpec",
    "Level",
    "MarketContext",
    "Pattern",
    "enrich_candles",
    "enrich_table",
    "indicator_column",
    "parse_indicator_spec",
    "valid_names",
]
