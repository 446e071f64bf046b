"""Synthetic bars for the enrichment tests (NumPy GBM, hand-built shapes)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from jonbu_core.calendar import sessions
from jonbu_core.timeframe import EXCHANGE_TZ

TS = pa.timestamp("us", tz="UTC")


def table(ts_us: np.ndarray[Any, Any], o: Any, h: Any, lo: Any, c: Any, v: Any,
          vwap: Any | None = None) -> pa.Table:
    cols: dict[str, Any] = {
        "ts": pa.array(np.asarray(ts_us, dtype=np.int64), TS),
        "open": np.asarray(o, dtype=float), "high": np.asarray(h, dtype=float),
        "low": np.asarray(lo, dtype=float), "close": np.asarray(c, dtype=float),
        "volume": np.asarray(v, dtype=float),
    }
    if vwap is not None:
        cols["vwap"] = pa.array(vwap, pa.float64())
    return pa.table(cols)


def minute_ts(n: int, start: str = "2024-01-02T14:30:00", step_s: int = 60) -> np.ndarray[Any, Any]:
    t0 = int(np.datetime64(start, "us").astype(np.int64))
    return t0 + np.arange(n, dtype=np.int64) * step_s * 1_000_000


def session_ts(n: int, last: date = date(2024, 12, 31)) -> np.ndarray[Any, Any]:
    """The ``n`` daily bar labels (session date at midnight New York, in UTC) up to ``last``."""
    days = sessions(last - timedelta(days=int(n * 1.6) + 30), last)[-n:]
    assert len(days) == n
    return np.array([int(datetime(d.year, d.month, d.day, tzinfo=EXCHANGE_TZ).astimezone(UTC).timestamp()) * 1_000_000
                     for d in days], dtype=np.int64)


def gbm(n: int, seed: int = 0, sigma: float = 0.002, ts: np.ndarray[Any, Any] | None = None,
        tick: float | None = None, vwap: bool = False) -> pa.Table:
    """OHLCV bars of a geometric Brownian motion (optionally rounded to a tick size)."""
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
    o = np.r_[100.0, c[:-1]] * np.exp(rng.normal(0.0, sigma / 4, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0.0, sigma / 2, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0.0, sigma / 2, n)))
    if tick:
        o, h, lo, c = (np.round(x / tick) * tick for x in (o, h, lo, c))
        h = np.maximum.reduce([h, o, c])
        lo = np.minimum.reduce([lo, o, c])
    v = np.round(rng.lognormal(8.0, 0.6, n))
    vw = None
    if vwap:
        vw = ((h + lo + c) / 3.0).tolist()
        for i in range(0, n, 7):  # some bars without a provider VWAP
            vw[i] = None
    return table(minute_ts(n) if ts is None else ts, o, h, lo, c, v, vw)


def shaped(rows: list[tuple[float, float, float, float, float]], ts: np.ndarray[Any, Any] | None = None) -> pa.Table:
    """Bars from (open, high, low, close, volume) rows."""
    arr = np.array(rows, dtype=float)
    n = len(rows)
    return table(minute_ts(n) if ts is None else ts, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])


def flat_noise(n: int, seed: int = 1, level: float = 100.0, amp: float = 0.3) -> list[tuple[float, float, float, float, float]]:
    """Small random candles around ``level`` (a quiet range)."""
    rng = np.random.default_rng(seed)
    out = []
    prev = level
    for _ in range(n):
        c = level + rng.uniform(-amp, amp)
        o = prev
        h = max(o, c) + rng.uniform(0.05, 0.2)
        lo = min(o, c) - rng.uniform(0.05, 0.2)
        out.append((o, h, lo, c, 1000.0 + rng.uniform(-100, 100)))
        prev = c
    return out


def isclose(a: Any, b: Any, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    return bool(a == b)


def assert_same(a: Any, b: Any, path: str = "", rel: float = 1e-9) -> None:
    """Deep equality with a relative tolerance on floats."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{path}: keys differ: {set(a) ^ set(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}", rel)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]", rel)
    else:
        assert isclose(a, b, rel), f"{path}: {a!r} != {b!r}"
