"""Synthetic, valid bars for the store tests (deterministic)."""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import pyarrow as pa

from jonbu_core import calendar as cal
from jonbu_core.models import BAR_SCHEMA


def session_bars(
    symbol: str,
    day: date,
    *,
    timeframe: str = "1m",
    source: str = "mock",
    seed: int = 0,
    n: int | None = None,
    null_every: int = 0,
) -> pa.Table:
    """Valid 1m bars of the regular session of ``day`` (the first ``n`` minutes if given)."""
    minutes = cal.session_minutes(day)
    if n is not None:
        minutes = minutes[:n]
    m = len(minutes)
    rng = np.random.default_rng([zlib.crc32(symbol.encode()), day.toordinal(), seed])
    close = 100 + np.cumsum(rng.normal(0, 0.05, m))
    open_ = np.concatenate([[close[0]], close[:-1]]) if m else close
    spread = np.abs(rng.normal(0, 0.03, m))
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.integers(100, 10_000, m).astype("float64")
    vwap = (high + low + close) / 3
    trade_count = rng.integers(1, 500, m)
    tc_mask = np.zeros(m, dtype=bool)
    vw_mask = np.zeros(m, dtype=bool)
    if null_every:
        tc_mask[::null_every] = True
        vw_mask[1::null_every] = True
    return pa.table(
        {
            "symbol": pa.array([symbol] * m, pa.string()),
            "timeframe": pa.array([timeframe] * m, pa.string()),
            "ts": pa.array(minutes.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "trade_count": pa.array(trade_count, pa.int64(), mask=tc_mask),
            "vwap": pa.array(vwap, pa.float64(), mask=vw_mask),
            "source": pa.array([source] * m, pa.string()),
        },
        schema=BAR_SCHEMA,
    )


def sort_bars(table: pa.Table) -> pa.Table:
    """Sort by the key, as stores return bars."""
    return table.sort_by([("symbol", "ascending"), ("timeframe", "ascending"), ("ts", "ascending")])
