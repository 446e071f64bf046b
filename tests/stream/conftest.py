"""Fixtures of the stream tests: fake Alpaca REST + WebSocket servers over the same mock market."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jonbu_core.providers.mock import MockMarket
from jonbu_core.settings import Settings, load_settings
from tests.fakes.alpaca_rest import FakeAlpacaServer
from tests.fakes.alpaca_stream import DEFAULT_KEY, DEFAULT_SECRET

DAY = date(2024, 1, 3)
START = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
SYMBOLS = ["AAPL", "MSFT"]


@pytest.fixture
def rest() -> Iterator[FakeAlpacaServer]:
    """The fake REST server (mock market, seed 42)."""
    with FakeAlpacaServer(page_size=500) as server:
        yield server


def alpaca_settings(data_dir: Path, rest_url: str, stream_url: str, **extra: Any) -> Settings:
    """Settings pointing the alpaca feed and provider at the fakes."""
    return load_settings(
        data_dir=data_dir, provider="alpaca", alpaca_api_key_id=DEFAULT_KEY, alpaca_secret_key=DEFAULT_SECRET,
        alpaca_data_url=rest_url, alpaca_stream_url=stream_url, alpaca_backoff_base=0.05,
        symbols=",".join(SYMBOLS), **extra,
    )


def reference_1m(symbol: str, start: datetime, end: datetime) -> pl.DataFrame:
    """The mock market's 1m bars in ``[start, end)`` (what the fakes replay)."""
    df = pl.from_arrow(MockMarket(42).session_bars(symbol, DAY))
    assert isinstance(df, pl.DataFrame)
    return df.filter((pl.col("ts") >= start) & (pl.col("ts") < end)).sort("ts")


def assert_stored_equals_reference(store: Any, start: datetime, end: datetime) -> dict[str, int]:
    """Stored 1m bars equal the reference: same minutes, no gap, no duplicate, same values."""
    sources: dict[str, int] = {}
    for sym in SYMBOLS:
        got = pl.from_arrow(store.read_bars(sym, "1m", start, end).table)
        assert isinstance(got, pl.DataFrame)
        ref = reference_1m(sym, start, end)
        assert got["ts"].n_unique() == got.height, f"{sym}: duplicate bars"
        assert got["ts"].to_list() == ref["ts"].to_list(), f"{sym}: missing or extra minutes"
        for c in ("open", "high", "low", "close", "volume", "vwap"):
            diff = (got[c] - ref[c]).abs().max()
            assert diff is not None and float(diff) < 1e-6, (sym, c, diff)
        assert got["trade_count"].to_list() == ref["trade_count"].to_list()
        for s, n in got["source"].value_counts().iter_rows():
            sources[s] = sources.get(s, 0) + n
    return sources
