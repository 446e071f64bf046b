"""The ``HistoryProvider`` port: historical bars and trades as Arrow batches.

Adapters: :mod:`jonbu_core.providers.mock` (deterministic synthetic market, the
default) and :mod:`jonbu_core.providers.alpaca` (Alpaca through alpaca-py).
:func:`jonbu_core.providers.factory.open_provider` picks one from settings.

Semantics every adapter keeps
-----------------------------
* Results come as an iterator of :class:`pyarrow.RecordBatch` (a page or a
  session at a time); the whole range is never held in memory.
* Bars have the columns and types of :data:`~jonbu_core.models.BAR_SCHEMA`
  (``source`` set to the provider's :attr:`HistoryProvider.source`), labelled by
  open time in UTC; a provider that passes malformed rows through yields them as
  nulls (:data:`~jonbu_core.models.BAR_SCHEMA_NULLABLE`). Trades have
  :data:`~jonbu_core.models.TRADE_SCHEMA`.
* Ranges are ``[start, end)`` on bar labels / trade times.
* Rows are passed through as the provider sent them: validation and quarantine
  happen when they are stored (a provider may therefore yield bad rows).
* Authentication failures raise :class:`~jonbu_core.errors.ProviderAuthError`;
  other failures, after retries, :class:`~jonbu_core.errors.ProviderError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import pyarrow as pa


@runtime_checkable
class HistoryProvider(Protocol):
    """A source of historical bars and trades."""

    name: str
    """Provider name as in ``JONBU_PROVIDER`` (``mock``, ``alpaca``)."""
    source: str
    """The ``source`` tag written on every bar (``mock``, ``alpaca-iex``…)."""

    def bars(
        self, symbols: Sequence[str], timeframe: str, start: datetime, end: datetime
    ) -> Iterator[pa.RecordBatch]:
        """Bars of ``symbols`` with labels in ``[start, end)``.

        Parameters
        ----------
        symbols : sequence of str
            Normalised symbols.
        timeframe : str
            A timeframe name (``1m``, ``5m``, ``15m``, ``1h``, ``1d``…).
        start, end : datetime
            Timezone-aware bounds; ``end`` exclusive.

        Yields
        ------
        pa.RecordBatch
            Batches with the :data:`~jonbu_core.models.BAR_SCHEMA` columns; ascending
            by ts per symbol unless the provider misbehaves.
        """
        ...

    def trades(self, symbol: str, start: datetime, end: datetime) -> Iterator[pa.RecordBatch]:
        """Trades of ``symbol`` with times in ``[start, end)`` (:data:`~jonbu_core.models.TRADE_SCHEMA`)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


__all__ = ["HistoryProvider"]
