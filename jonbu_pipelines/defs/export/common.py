"""Shared pieces of the export assets: config, partition scopes, file locations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from jonbu_core.calendar import session_label, sessions
from jonbu_pipelines.partitions import contiguous_runs, days_by_symbol

#: Partitions one run may cover (a symbol's consecutive sessions are exported together).
MAX_PARTITIONS_PER_RUN = 20


class NarrativeConfig(dg.Config):
    """Which candles of a (session, symbol) partition get narratives and embeddings."""

    timeframes: list[str] = Field(default_factory=lambda: ["15m", "1d"])
    """Timeframes narrated for each session (rolled up from the raw 1m bars on read)."""
    indicators: str | None = None
    """Indicator spec of the enrichment (``None``: the default set)."""


class TrainingConfig(dg.Config):
    """The training set's timeframe and target horizons."""

    timeframe: str = "15m"
    horizons: list[int] = Field(default_factory=lambda: [1, 4, 16])
    """Target horizons in bars (future return from each close)."""
    indicators: str | None = None


def narratives_dir(data_dir: str | Path) -> Path:
    """Root of the narrative files: ``timeframe=TF/symbol=SYM/YYYY-MM-DD.parquet``."""
    return Path(data_dir) / "narratives"


def training_dir(data_dir: str | Path) -> Path:
    """Root of the training set (see :mod:`jonbu_core.rag.training`)."""
    return Path(data_dir) / "training"


def runs(keys: Sequence[str], exchange: str) -> Iterator[tuple[str, list[date], datetime, datetime]]:
    """``(symbol, days, start, end)`` per run of consecutive sessions in the partition keys."""
    for symbol, days in days_by_symbol(keys).items():
        all_days = sessions(days[0], days[-1], exchange)
        for run in contiguous_runs(days, all_days):
            yield symbol, run, session_label(run[0]), session_label(run[-1] + timedelta(days=1))


def partition_keys(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[str]:
    """The partition keys of the run (one key, or every key of a range)."""
    return [str(k) for k in context.partition_keys]
