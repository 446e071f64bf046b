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

Modules: :mod:`.registry` (indicator catalogue, spec parsing, warm-up),
:mod:`.anchors` (session/month-anchored VWAP and OBV), :mod:`.candles` and
:mod:`.patterns` (candlestick and chart patterns), :mod:`.swings` /
:mod:`.swing_state` (pivots, double tops/bottoms, levels), :mod:`.context`,
:mod:`.features`, :mod:`.confidence`, :mod:`.params` (their fixed parameters),
:mod:`.graph` / :mod:`.ops` / :mod:`.plan` (one dataflow graph shared by both
paths), :mod:`.engine` and :mod:`.batch` (vectorised path), :mod:`.stepper` and
:mod:`.incremental` (one bar at a time), :mod:`.service` (store-backed ranges),
:mod:`.models` (the pydantic output), :mod:`.memory` (opt-in allocator tuning for
large batch runs).
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
