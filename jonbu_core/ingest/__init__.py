"""Historical ingestion: fetch bars from a provider into a store, resumably; find gaps.

``fetch(store, provider, symbols, timeframe, start, end, progress=...)`` is the
entry point (the CLI's ``fetch``, ``up``'s first backfill and the Dagster assets
call it); :func:`find_gaps` lists what is missing.
"""

from jonbu_core.ingest.gaps import Gap, expected_day, find_gaps, merge_gaps
from jonbu_core.ingest.runner import (
    IngestSummary,
    ProgressCallback,
    ProgressEvent,
    SymbolSummary,
    fetch,
    ingest_day,
)

__all__ = [
    "Gap",
    "IngestSummary",
    "ProgressCallback",
    "ProgressEvent",
    "SymbolSummary",
    "expected_day",
    "fetch",
    "find_gaps",
    "ingest_day",
    "merge_gaps",
]
