"""Streaming aggregation: trades to multi-timeframe candles with late data.

:mod:`~jonbu_core.aggregation.builder` reduces trades to bars (pure, vectorised);
:mod:`~jonbu_core.aggregation.aggregator` keeps the live bars of every symbol and
timeframe and decides when they close, get revised and are sealed.
"""

from jonbu_core.aggregation.aggregator import CandleAggregator
from jonbu_core.aggregation.types import BarSnapshot, SymbolTable, TradeBatch

__all__ = ["BarSnapshot", "CandleAggregator", "SymbolTable", "TradeBatch"]
