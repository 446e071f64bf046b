"""The incremental path gives the batch path's results (to 1e-9) on every candle."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from jonbu_core.enrich import enrich_candles, native
from jonbu_core.enrich.incremental import IncrementalEnricher, as_candle
from jonbu_core.errors import InvalidInputError

from ._data import assert_same, gbm, session_ts


@pytest.fixture(autouse=True, params=["native", "talib.stream"])
def stepping(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with the C program (when built) and with talib.stream handles."""
    if request.param == "native" and not native.available():
        pytest.skip("the C helper _tastep is not built")
    if request.param == "talib.stream":
        monkeypatch.setattr(native, "_NATIVE", None)
    return str(request.param)


def _dump(ec: object) -> dict:
    return ec.model_dump(exclude={"processed_at"})  # type: ignore[attr-defined]


def _compare(bars: pa.Table, specs: str | None, k: int, timeframe: str | None = None) -> int:
    batch = enrich_candles(bars, specs, timeframe=timeframe)
    enr = IncrementalEnricher(specs, timeframe=timeframe)
    if k:
        enr.seed(bars.slice(0, k))
    rows = bars.to_pylist()
    for i in range(k, len(rows)):
        got = enr.update(as_candle(rows[i]))
        assert_same(_dump(batch[i]), _dump(got), f"bar{i}")
    return len(rows) - k


@pytest.mark.parametrize(("seed", "specs", "kw", "k"), [
    (1, None, {}, 1200),
    (2, "ema:5,vwap,obv:7,chop:5,bbands:10:1.5,macd:3:8:2,stochrsi:6:5:2", {"vwap": True}, 300),
    (3, "rsi", {"tick": 0.05, "sigma": 0.003}, 700),
])
def test_batch_and_incremental_agree_on_every_field(seed: int, specs: str | None, kw: dict, k: int) -> None:
    bars = gbm(2200, seed=seed, **kw)
    assert _compare(bars, specs, k, "1m") > 900


def test_cold_start_through_the_warmup_agrees_too() -> None:
    bars = gbm(500, seed=4)
    assert _compare(bars, "sma:5,ema:10,vwap,adx:5,cci:6", 0, "1m") == 500
    assert _compare(bars, None, 37, "1m") == 463


def test_daily_bars_with_month_anchors() -> None:
    bars = gbm(700, seed=5, sigma=0.015, ts=session_ts(700))
    assert _compare(bars, "vwap,obv,rsi", 400, None) == 300


def test_peek_answers_like_update_and_commits_nothing() -> None:
    bars = gbm(1400, seed=6)
    rows = bars.to_pylist()
    batch = enrich_candles(bars, "rsi,vwap")
    enr = IncrementalEnricher("rsi,vwap", timeframe="1m")
    enr.seed(bars.slice(0, 1000))
    for i in range(1000, 1400):
        nxt = as_candle(rows[i])
        forming = nxt.model_copy(update={"close": nxt.open, "high": nxt.high, "low": nxt.low})
        first = enr.peek(forming)
        assert_same(_dump(first), _dump(enr.peek(forming)))  # no state moved
        assert_same(_dump(enr.peek(nxt)), _dump(batch[i]))
        assert_same(_dump(enr.update(nxt)), _dump(batch[i]))


def test_bad_updates_are_refused_without_changing_state() -> None:
    bars = gbm(300, seed=7)
    rows = bars.to_pylist()
    enr = IncrementalEnricher("rsi")
    enr.seed(bars.slice(0, 200))
    with pytest.raises(InvalidInputError, match="not after"):
        enr.update(as_candle(rows[150]))
    late = as_candle(rows[200]).model_copy(update={"ts": as_candle(rows[199]).ts})
    with pytest.raises(InvalidInputError):
        enr.update(late)
    batch = enrich_candles(bars, "rsi")
    assert_same(_dump(enr.update(as_candle(rows[200]))), _dump(batch[200]))
    with pytest.raises(InvalidInputError, match="before the first update"):
        enr.seed(bars)
    nan = as_candle(rows[201]).model_copy(update={"close": float("nan")})
    with pytest.raises(InvalidInputError, match="non-finite"):
        enr.update(nan)
    assert as_candle(rows[201]).ts - as_candle(rows[200]).ts == timedelta(minutes=1)


@pytest.mark.parametrize("kind", ["constant", "zero_volume", "steps"])
def test_degenerate_bars_stay_finite_and_paths_agree(kind: str) -> None:
    import numpy as np

    from ._data import minute_ts, table

    n = 700
    if kind == "constant":
        px = np.full(n, 50.0)
        o = h = lo = c = px
        v = np.full(n, 100.0)
    elif kind == "zero_volume":
        b = gbm(n, seed=8)
        o, h, lo, c = (b.column(k).to_numpy() for k in ("open", "high", "low", "close"))
        v = np.zeros(n)
    else:  # a staircase: long flat stretches then jumps
        c = 100.0 + np.repeat(np.arange(n // 50), 50)[:n].astype(float)
        o, h, lo = c.copy(), c + 0.0, c - 0.0
        v = np.where(np.arange(n) % 50 == 0, 1000.0, 0.0)
    bars = table(minute_ts(n), o, h, lo, c, v)
    batch = enrich_candles(bars, None, timeframe="1m")
    assert all(0.0 <= x <= 1.0 for ec in batch for x in ec.features.values())
    assert sum(bool(ec.features) for ec in batch) > n // 2
    assert _compare(bars, None, 150, "1m") == n - 150
