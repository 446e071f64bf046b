"""What a fetch reports: per-session progress events and per-symbol summaries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from jonbu_core.stores.base import WriteResult


@dataclass(frozen=True)
class ProgressEvent:
    """One session of one symbol is done.

    ``status`` is ``skipped`` (already complete), ``stored``, ``empty`` (the
    provider had nothing; the store was left as it was) or ``failed``.
    """

    symbol: str
    timeframe: str
    day: date
    status: str
    rows: int
    quarantined: int
    done: int
    total: int


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class SymbolSummary:
    """What a fetch did for one symbol."""

    symbol: str
    timeframe: str
    sessions: int = 0
    skipped_days: int = 0
    fetched_days: int = 0
    failed_days: int = 0
    requests: int = 0
    """Ranges asked of the provider (each may take several pages)."""
    received: int = 0
    stored: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    gaps_left: int = 0
    """Expected bars still missing after the fetch (regular sessions)."""
    errors: list[str] = field(default_factory=list)

    def add(self, result: WriteResult) -> None:
        """Count a store write."""
        self.stored += result.written
        self.quarantined += result.quarantined
        for reason, n in result.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n


@dataclass
class IngestSummary:
    """What a fetch did, per symbol and in total."""

    provider: str
    source: str
    store: str
    timeframe: str
    start: date
    end: date
    fill_gaps: bool
    symbols: list[SymbolSummary] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_stored(self) -> int:
        """Rows written to the store."""
        return sum(s.stored for s in self.symbols)

    @property
    def received(self) -> int:
        """Rows received from the provider."""
        return sum(s.received for s in self.symbols)

    @property
    def quarantined(self) -> int:
        """Rows quarantined."""
        return sum(s.quarantined for s in self.symbols)

    @property
    def gaps_left(self) -> int:
        """Expected bars still missing."""
        return sum(s.gaps_left for s in self.symbols)

    @property
    def reasons(self) -> dict[str, int]:
        """Quarantined rows per reason, all symbols."""
        out: dict[str, int] = {}
        for s in self.symbols:
            for r, n in s.reasons.items():
                out[r] = out.get(r, 0) + n
        return out

    @property
    def errors(self) -> list[str]:
        """Provider errors that left sessions unfetched."""
        return [f"{s.symbol}: {e}" for s in self.symbols for e in s.errors]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings)."""
        doc = asdict(self)
        doc["start"], doc["end"] = self.start.isoformat(), self.end.isoformat()
        doc["totals"] = {
            "received": self.received, "stored": self.rows_stored, "quarantined": self.quarantined,
            "reasons": self.reasons, "gaps_left": self.gaps_left, "errors": len(self.errors),
        }
        return doc


__all__ = ["IngestSummary", "ProgressCallback", "ProgressEvent", "SymbolSummary"]
