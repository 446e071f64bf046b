"""Fixtures of the API tests: seeded lake store, apps with auth on/off, keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from jonbu_core import calendar as cal
from jonbu_core.models import BAR_SCHEMA

SEED_START = date(2024, 1, 2)
SEED_END = date(2024, 1, 5)  # 4 sessions of 390 1m bars


def make_bars(symbol: str, start: date, end: date, seed: int = 7, source: str = "mock") -> pa.Table:
    """Valid 1m bars on every regular-session minute of ``[start, end]`` (NumPy random walk)."""
    minutes = cal.expected_minutes(start, end).astype("datetime64[us]").astype("int64")
    n = len(minutes)
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0, 0.05, n))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.03, n))
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.integers(100, 5000, n).astype("float64")
    trades = rng.integers(1, 60, n)
    vwap = (open_ + close + high + low) / 4
    trade_count = pa.array(trades, pa.int64(), mask=(np.arange(n) % 97 == 5))
    return pa.table(
        {
            "symbol": pa.array([symbol] * n, pa.string()),
            "timeframe": pa.array(["1m"] * n, pa.string()),
            "ts": pa.array(minutes, pa.timestamp("us", tz="UTC")),
            "open": open_, "high": high, "low": low, "close": close, "volume": volume,
            "trade_count": trade_count,
            "vwap": pa.array(vwap, pa.float64(), mask=(np.arange(n) % 89 == 3)),
            "source": pa.array([source] * n, pa.string()),
        },
        schema=BAR_SCHEMA,
    )


@pytest.fixture
def settings(data_dir: Path) -> Any:
    """Default settings for the test's data dir."""
    from jonbu_core.settings import get_settings

    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def store(settings: Any) -> Iterator[Any]:
    """A lake store with AAPL and MSFT tracked and 4 sessions of AAPL 1m bars."""
    from jonbu_core.stores.factory import open_store

    st = open_store(settings)
    st.add_symbols(["AAPL", "MSFT"])
    res = st.write_bars(make_bars("AAPL", SEED_START, SEED_END))
    assert res.quarantined == 0 and res.written == 4 * 390
    yield st
    st.close()


@pytest.fixture
def bus() -> Any:
    """A memory bus (tests publish into it)."""
    from jonbu_core.bus.memory import MemoryBus

    return MemoryBus()


def _app(settings: Any, store: Any, bus: Any, **kw: Any) -> Any:
    from jonbu_api.main import create_app

    return create_app(settings, store=store, bus=bus, frontend_dist=kw.pop("frontend_dist", Path("/nonexistent")), **kw)


@pytest.fixture
def client(settings: Any, store: Any, bus: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """Auth off (as under ``up``)."""
    app = _app(settings, store, bus, auth_default=False)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def keys(settings: Any) -> dict[str, str]:
    """A read key and an admin key in the data dir's key file."""
    from jonbu_api.auth import FileKeyStore, key_file

    ks = FileKeyStore(key_file(settings.data_dir))
    _, read = ks.create("reader", "read")
    _, admin = ks.create("boss", "admin")
    return {"read": read, "admin": admin}


@pytest.fixture
def auth_client(settings: Any, store: Any, bus: Any, keys: dict[str, str]) -> Iterator[TestClient]:
    """Auth on (the default of ``serve``)."""
    app = _app(settings, store, bus, auth_default=True)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_client(settings: Any, store: Any, bus: Any) -> Any:
    """Build a client with custom ``create_app`` options (use as a context manager)."""

    def build(**kw: Any) -> TestClient:
        return TestClient(_app(kw.pop("settings", settings), store, bus, **kw))

    return build
