"""validate_bars: every reason, first-reason-wins, sorting, duplicates, against a per-row reference."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jonbu_core.errors import InvalidInputError
from jonbu_core.models import BAR_SCHEMA, BAR_SCHEMA_NULLABLE, QUARANTINE_SCHEMA, SYMBOL_RE
from jonbu_core.timeframe import TIMEFRAMES
from jonbu_core.validation import REASONS, validate_bars

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def bar(**kw: Any) -> dict[str, Any]:
    row = {"symbol": "AAPL", "timeframe": "1m", "ts": T0, "open": 10.0, "high": 11.0, "low": 9.0,
           "close": 10.5, "volume": 100.0, "trade_count": 5, "vwap": 10.2, "source": "mock"}
    row.update(kw)
    return row


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=BAR_SCHEMA_NULLABLE)


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"close": None}, "missing_value"),
        ({"symbol": "aapl"}, "invalid_symbol"),
        ({"timeframe": "2m"}, "invalid_timeframe"),
        ({"open": math.inf}, "non_finite"),
        ({"vwap": math.nan}, "non_finite"),
        ({"high": 8.0}, "high_below_low"),
        ({"open": 12.0}, "open_outside_range"),
        ({"close": 8.0}, "close_outside_range"),
        ({"volume": -1.0}, "negative_volume"),
        ({"trade_count": -1}, "negative_trade_count"),
        ({"vwap": 20.0}, "vwap_outside_range"),
        ({"ts": T0 + timedelta(seconds=1)}, "off_grid"),
        ({"timeframe": "5m", "ts": T0 + timedelta(minutes=1)}, "off_grid"),
        ({"timeframe": "1d"}, "off_grid"),
    ],
)
def test_each_reason(change: dict[str, Any], reason: str) -> None:
    result = validate_bars(table([bar(**change), bar(ts=T0 + timedelta(minutes=1))]))
    assert result.reasons == {reason: 1}
    assert result.n_good == 1 and result.n_quarantined == 1
    assert result.quarantined.column("reason").to_pylist() == [reason]
    assert result.quarantined.schema == QUARANTINE_SCHEMA
    assert result.good.schema == BAR_SCHEMA


def test_first_reason_wins_and_duplicates_keep_the_first() -> None:
    rows = [
        bar(high=8.0, volume=-1.0),  # both: the earlier reason is reported
        bar(ts=T0 + timedelta(minutes=2), close=10.9),
        bar(ts=T0 + timedelta(minutes=1)),
        bar(ts=T0 + timedelta(minutes=2), close=10.1),  # duplicate of row 1
    ]
    result = validate_bars(table(rows))
    assert result.reasons == {"high_below_low": 1, "duplicate_key": 1}
    assert result.good.column("ts").to_pylist() == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert result.good.column("close").to_pylist() == [10.5, 10.9]
    assert result.out_of_order == 1


def test_daily_labels_are_checked_in_new_york_time() -> None:
    good = bar(timeframe="1d", ts=datetime(2024, 1, 2, 5, tzinfo=UTC))
    summer = bar(timeframe="1d", ts=datetime(2024, 7, 1, 4, tzinfo=UTC))
    weekly = bar(timeframe="1w", ts=datetime(2024, 1, 1, 5, tzinfo=UTC))
    bad_week = bar(timeframe="1w", ts=datetime(2024, 1, 2, 5, tzinfo=UTC))
    result = validate_bars(table([good, summer, weekly, bad_week]))
    assert result.n_good == 3 and result.reasons == {"off_grid": 1}


def test_missing_optional_columns_and_naive_ts() -> None:
    t = pa.table({"symbol": ["AAPL"], "timeframe": ["1m"], "ts": pa.array([datetime(2024, 1, 2, 14, 30)]),
                  "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [0.0]})
    result = validate_bars(t)
    assert result.n_good == 1
    row = result.good.to_pylist()[0]
    assert row["source"] == "unknown" and row["trade_count"] is None and row["ts"] == T0


def test_missing_required_column_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match=r"missing the column .open."):
        validate_bars(pa.table({"symbol": ["A"], "timeframe": ["1m"], "ts": [T0]}))


def test_empty_batch() -> None:
    result = validate_bars(BAR_SCHEMA.empty_table())
    assert result.n_good == 0 and result.n_quarantined == 0 and result.reasons == {}


def _reference_reason(r: dict[str, Any]) -> str | None:
    required = ["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "source"]
    if any(r[k] is None for k in required):
        return "missing_value"
    if not SYMBOL_RE.match(r["symbol"]):
        return "invalid_symbol"
    if r["timeframe"] not in TIMEFRAMES:
        return "invalid_timeframe"
    o, h, lo, c, v, vw = (r[k] for k in ("open", "high", "low", "close", "volume", "vwap"))
    if not all(math.isfinite(x) for x in (o, h, lo, c, v)) or (vw is not None and not math.isfinite(vw)):
        return "non_finite"
    slack = 1e-9 * max(abs(h), 1.0)
    checks = [
        (h < lo - slack, "high_below_low"),
        (o > h + slack or o < lo - slack, "open_outside_range"),
        (c > h + slack or c < lo - slack, "close_outside_range"),
        (v < 0, "negative_volume"),
        ((r["trade_count"] or 0) < 0, "negative_trade_count"),
        (vw is not None and (vw > h * (1 + 1e-6) + slack or vw < lo * (1 - 1e-6) - slack), "vwap_outside_range"),
        (TIMEFRAMES[r["timeframe"]].bucket(r["ts"]) != r["ts"], "off_grid"),
    ]
    return next((reason for bad, reason in checks if bad), None)


floats = st.one_of(st.floats(-5, 20), st.just(math.nan), st.just(math.inf), st.none())


@st.composite
def messy_rows(draw: Any) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(0, 25))):
        rows.append(bar(
            symbol=draw(st.sampled_from(["AAPL", "MSFT", "bad sym", None, "X.Y"])),
            timeframe=draw(st.sampled_from(["1m", "5m", "1d", "7m", None])),
            ts=draw(st.one_of(st.none(), st.sampled_from([T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=5),
                                                          T0 + timedelta(seconds=30), datetime(2024, 1, 2, 5, tzinfo=UTC)]))),
            open=draw(floats), high=draw(floats), low=draw(floats), close=draw(floats),
            volume=draw(st.one_of(st.floats(-1, 10), st.none())),
            trade_count=draw(st.one_of(st.none(), st.integers(-2, 5))),
            vwap=draw(floats),
        ))
    return rows


@settings(max_examples=150, deadline=None)
@given(rows=messy_rows())
def test_matches_a_per_row_reference(rows: list[dict[str, Any]]) -> None:
    result = validate_bars(table(rows))
    expected: list[str | None] = [_reference_reason(r) for r in rows]
    seen: set[tuple[Any, ...]] = set()
    good_idx = sorted((i for i, e in enumerate(expected) if e is None),
                      key=lambda i: (rows[i]["symbol"], rows[i]["timeframe"], rows[i]["ts"], i))
    for i in good_idx:
        key = (rows[i]["symbol"], rows[i]["timeframe"], rows[i]["ts"])
        if key in seen:
            expected[i] = "duplicate_key"
        seen.add(key)
    want_bad = [(i, e) for i, e in enumerate(expected) if e is not None]
    assert result.quarantined.column("reason").to_pylist() == [e for _, e in want_bad]
    want_good = [i for i in good_idx if expected[i] is None]
    assert result.good.to_pylist() == [rows[i] for i in want_good]
    counts: dict[str, int] = {}
    for _, e in want_bad:
        counts[e] = counts.get(e, 0) + 1
    assert result.reasons == counts
    assert set(result.reasons) <= set(REASONS)
