"""Roll-ups: known values and hypothesis properties against a plain-Python reference."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jonbu_core.models import BAR_SCHEMA
from jonbu_core.rollup import rollup
from jonbu_core.timeframe import TIMEFRAMES

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


@st.composite
def minute_bars(draw: Any) -> list[dict[str, Any]]:
    offsets = draw(st.lists(st.integers(0, 3 * 24 * 60), min_size=1, max_size=40, unique=True))
    rows = []
    for off in offsets:
        low = draw(st.floats(1, 1000, allow_nan=False))
        high = low + draw(st.floats(0, 10, allow_nan=False))
        o, c = (draw(st.floats(low, high, allow_nan=False)) for _ in range(2))
        rows.append({
            "symbol": draw(st.sampled_from(["AAPL", "MSFT"])), "timeframe": "1m",
            "ts": T0 + timedelta(minutes=off), "open": o, "high": high, "low": low, "close": c,
            "volume": draw(st.one_of(st.just(0.0), st.floats(1e-3, 1e6))),  # no subnormal volumes
            "trade_count": draw(st.one_of(st.none(), st.integers(0, 10_000))),
            "vwap": draw(st.one_of(st.none(), st.floats(low, high, allow_nan=False))),
            "source": "mock",
        })
    return rows


def reference(rows: list[dict[str, Any]], name: str) -> dict[tuple[str, datetime], dict[str, Any]]:
    tf = TIMEFRAMES[name]
    groups: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["ts"]):
        groups[(r["symbol"], tf.bucket(r["ts"]))].append(r)
    out = {}
    for key, g in groups.items():
        tcs = [r["trade_count"] for r in g if r["trade_count"] is not None]
        pv = [(r["vwap"], r["volume"]) for r in g if r["vwap"] is not None]
        vol = sum(v for _, v in pv)
        out[key] = {
            "open": g[0]["open"], "high": max(r["high"] for r in g), "low": min(r["low"] for r in g),
            "close": g[-1]["close"], "volume": sum(r["volume"] for r in g),
            "trade_count": sum(tcs) if tcs else None,
            "vwap": sum(p * v for p, v in pv) / vol if vol > 0 else None,
        }
    return out


@settings(max_examples=80, deadline=None)
@given(rows=minute_bars(), name=st.sampled_from(["5m", "15m", "30m", "1h", "4h", "1d", "1w"]))
def test_rollup_matches_reference(rows: list[dict[str, Any]], name: str) -> None:
    got = rollup(pa.Table.from_pylist(rows, schema=BAR_SCHEMA), name)
    assert got.schema == BAR_SCHEMA
    ref = reference(rows, name)
    assert got.num_rows == len(ref)
    keys = [(r["symbol"], r["ts"]) for r in got.to_pylist()]
    assert keys == sorted(keys)
    for r in got.to_pylist():
        want = ref[(r["symbol"], r["ts"])]
        assert r["timeframe"] == name
        for col in ("open", "high", "low", "close", "trade_count"):
            assert r[col] == want[col], col
        assert r["volume"] == pytest.approx(want["volume"], rel=1e-12)
        if want["vwap"] is None:
            assert r["vwap"] is None
        else:
            assert r["vwap"] == pytest.approx(want["vwap"], rel=1e-9)
            assert r["low"] - 1e-9 <= r["vwap"] <= r["high"] + 1e-9


@settings(max_examples=50, deadline=None)
@given(rows=minute_bars())
def test_rollup_composes(rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist(rows, schema=BAR_SCHEMA)
    direct = rollup(table, "1h")
    via = rollup(rollup(table, "15m"), "1h")
    assert direct.drop(["vwap", "volume"]).equals(via.drop(["vwap", "volume"]))
    assert via.column("volume").to_pylist() == pytest.approx(direct.column("volume").to_pylist(), rel=1e-12)


def test_empty_rollup() -> None:
    assert rollup(BAR_SCHEMA.empty_table(), "5m").num_rows == 0
