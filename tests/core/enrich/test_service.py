"""Enrichment over the lake store: warm-up loading makes results independent of the start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from jonbu_core.calendar import session_minutes, sessions
from jonbu_core.enrich.incremental import as_candle
from jonbu_core.enrich.registry import parse_indicator_spec
from jonbu_core.enrich.service import enrich_range, incremental_from_store, required_warmup
from jonbu_core.errors import InvalidInputError
from jonbu_core.settings import load_settings
from jonbu_core.stores.base import BarStore
from jonbu_core.stores.factory import open_store

from ._data import assert_same, gbm, session_ts


@pytest.fixture
def store() -> Iterator[BarStore]:
    s = open_store(load_settings())
    yield s
    s.close()


def _write(store: BarStore, bars: pa.Table, symbol: str, tf: str) -> None:
    n = bars.num_rows
    table = bars.append_column("symbol", pa.array([symbol] * n)).append_column(
        "timeframe", pa.array([tf] * n)).append_column("source", pa.array(["mock"] * n))
    res = store.write_bars(table)
    assert res.written == n and res.quarantined == 0


def _dump(cs: list) -> list[dict]:
    return [c.model_dump(exclude={"processed_at", "metadata"}) for c in cs]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_daily_results_do_not_depend_on_the_requested_start(store: BarStore) -> None:
    bars = gbm(1900, seed=41, sigma=0.015, ts=session_ts(1900))
    _write(store, bars, "DLY", "1d")
    target = _at(date(2024, 11, 1))
    late = enrich_range(store, "DLY", "1d", target - timedelta(days=1), _at(date(2025, 1, 1)))
    early = enrich_range(store, "DLY", "1d", target - timedelta(days=365), _at(date(2025, 1, 1)))
    late = [c for c in late if c.ohlcv.ts >= target]
    early = [c for c in early if c.ohlcv.ts >= target]
    assert len(late) == len(early) == 41
    assert_same(_dump(early), _dump(late))
    assert all(c.features for c in late)
    assert late[0].metadata["history_bars"] == late[0].metadata["warmup_bars"]


def test_minute_results_do_not_depend_on_the_requested_start(store: BarStore) -> None:
    days = sessions(date(2024, 3, 1), date(2024, 4, 30))[:30]
    ts = np.concatenate([session_minutes(d).astype("datetime64[us]").astype(np.int64) for d in days])
    _write(store, gbm(len(ts), seed=42, ts=ts), "MIN", "1m")
    target = datetime.combine(days[-1], datetime.min.time(), UTC)
    specs = "rsi,ema:50,vwap,obv,bbands,adx"
    late = enrich_range(store, "MIN", "1m", target - timedelta(days=1), None, specs)
    early = enrich_range(store, "MIN", "1m", datetime.combine(days[4], datetime.min.time(), UTC), None, specs)
    late = [c for c in late if c.ohlcv.ts >= target]
    early = [c for c in early if c.ohlcv.ts >= target]
    assert len(late) == len(early) == 390
    assert_same(_dump(early), _dump(late))


def test_required_warmup_covers_lookback_and_unstable_periods() -> None:
    for spec in ("rsi:14", "ema:50", "ema:200", "macd", "adx:30", "sma:400"):
        s = parse_indicator_spec(spec)[0]
        assert required_warmup(spec, "1d") > s.lookback + s.unstable
    assert required_warmup("ema:200", "1d") > required_warmup("ema:20", "1d")
    assert required_warmup("vwap", "1m") >= 960  # a whole extended-hours session of 1m bars
    with pytest.raises(InvalidInputError):
        required_warmup("rsi", "7m")


def test_empty_ranges_and_bad_requests(store: BarStore) -> None:
    assert enrich_range(store, "NONE", "1d", _at(date(2024, 1, 1)), _at(date(2024, 2, 1))) == []
    with pytest.raises(InvalidInputError):
        enrich_range(store, "NONE", "1d", _at(date(2024, 2, 1)), _at(date(2024, 1, 1)))
    with pytest.raises(InvalidInputError, match="valid indicators"):
        enrich_range(store, "NONE", "1d", _at(date(2024, 1, 1)), None, "nope")
    with pytest.raises(InvalidInputError):
        enrich_range(store, "bad symbol!", "1d", _at(date(2024, 1, 1)))


def test_incremental_enricher_seeded_from_the_store_continues_the_range(store: BarStore) -> None:
    bars = gbm(1700, seed=43, sigma=0.012, ts=session_ts(1700))
    _write(store, bars, "INC", "1d")
    split = _at(date(2024, 10, 1))
    enr = incremental_from_store(store, "INC", "1d", "rsi,vwap,macd", before=split)
    want = enrich_range(store, "INC", "1d", split, None, "rsi,vwap,macd")
    rows = [r for r in bars.to_pylist() if r["ts"] >= split]
    got = [enr.update(as_candle(r)) for r in rows]
    assert len(got) == len(want) > 50
    assert_same(_dump(want), _dump(got))
    # seeded with the latest bars when no date is given
    latest = incremental_from_store(store, "INC", "1d", "rsi")
    assert latest.last_ts == rows[-1]["ts"]
