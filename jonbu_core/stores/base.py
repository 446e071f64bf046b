"""The ``BarStore`` port: one protocol, one adapter module per backend.

Adapters: :mod:`jonbu_core.stores.lake` (Delta Lake, default) and
:mod:`jonbu_core.stores.postgres`. :func:`jonbu_core.stores.factory.open_store`
picks one from settings. A single conformance suite (``tests/core/stores``)
runs against both.

Semantics every adapter keeps
-----------------------------
* Key ``(symbol, timeframe, ts)``; writes are idempotent upserts.
* Incoming rows are validated (:func:`jonbu_core.validation.validate_bars`); bad
  rows go to the quarantine with their reason and are never returned as bars.
* A provider bar is never replaced by a ``stream`` bar with the same key (the
  historical bar wins); a stream bar is replaced by a provider bar.
* Reads are ascending by ts; ``start`` inclusive, ``end`` exclusive; a timeframe
  that is not stored natively for the symbol in the range is rolled up from ``1m``
  on read (:func:`jonbu_core.rollup.rollup`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import pyarrow as pa

from jonbu_core.models import Bar, SymbolInfo


@dataclass(frozen=True)
class WriteResult:
    """What a write did."""

    written: int
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    kept_existing: int = 0
    """Rows not written because a provider bar with the same key wins over a stream bar."""


@dataclass(frozen=True)
class BarPage:
    """One page of a range read."""

    table: pa.Table
    """Bars with :data:`jonbu_core.models.BAR_SCHEMA`, ascending by ts."""
    next_cursor: str | None
    """Opaque cursor for the next page, ``None`` after the last one."""


@dataclass(frozen=True)
class Coverage:
    """How complete a symbol's stored bars are over a range of sessions."""

    symbol: str
    timeframe: str
    first_ts: datetime | None
    last_ts: datetime | None
    count: int
    expected: int
    """Bars expected from the exchange calendar (regular sessions)."""
    missing: int
    missing_sample: list[datetime] = field(default_factory=list)
    """The first few missing bar labels (at most 100)."""
    days: dict[date, int] = field(default_factory=dict)
    """Stored bars per session day."""

    @property
    def completeness(self) -> float:
        """Share of expected bars present, in [0, 1] (1.0 when nothing is expected)."""
        if self.expected <= 0:
            return 1.0
        return max(0.0, min(1.0, (self.expected - self.missing) / self.expected))


@runtime_checkable
class BarStore(Protocol):
    """Storage of raw bars, the quarantine and the symbol registry."""

    name: str

    def write_bars(self, bars: pa.Table) -> WriteResult:
        """Validate and upsert a batch of bars (any symbols/timeframes)."""
        ...

    def replace_day(self, symbol: str, timeframe: str, day: date, bars: pa.Table) -> WriteResult:
        """Replace every bar of (symbol, timeframe) on exchange day ``day`` with ``bars``.

        Rows of ``bars`` outside that day are rejected (quarantined as ``off_grid``).
        """
        ...

    def read_bars(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> BarPage:
        """Bars of ``symbol`` in ``[start, end)`` ascending, rolled up from 1m if needed."""
        ...

    def latest_bar(self, symbol: str, timeframe: str) -> Bar | None:
        """The most recent bar (rolled up from 1m if needed), or ``None``."""
        ...

    def coverage(
        self, symbol: str, timeframe: str = "1m", start: date | None = None, end: date | None = None
    ) -> Coverage:
        """Stored vs expected bars over the sessions in ``[start, end]`` (inclusive dates)."""
        ...

    def stored_days(self, symbol: str, timeframe: str, start: date, end: date) -> dict[date, int]:
        """Number of stored (native) bars per exchange day in ``[start, end]``."""
        ...

    def delete_bars(
        self,
        symbol: str,
        timeframe: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """Delete bars; returns how many rows were removed."""
        ...

    def quarantine(self, rows: pa.Table) -> int:
        """Store rejected rows (:data:`~jonbu_core.models.QUARANTINE_SCHEMA`)."""
        ...

    def read_quarantine(self, symbol: str | None = None, limit: int = 1000) -> pa.Table:
        """Quarantined rows, newest first."""
        ...

    def add_symbols(self, symbols: list[str]) -> list[SymbolInfo]:
        """Track symbols (re-activates inactive ones); returns their entries."""
        ...

    def list_symbols(self, active_only: bool = False) -> list[SymbolInfo]:
        """The registry, sorted by symbol."""
        ...

    def deactivate_symbol(self, symbol: str) -> bool:
        """Mark a symbol inactive; ``False`` if it was not tracked."""
        ...

    def close(self) -> None:
        """Release connections/handles."""
        ...
