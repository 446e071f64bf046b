"""Every indicator equals TA-Lib's own output or a plain-loop reference; warm-up is null."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import talib

from jonbu_core.enrich import enrich_table, indicator_column, parse_indicator_spec
from jonbu_core.timeframe import EXCHANGE_TZ

from ._data import gbm, session_ts

SPEC = ("sma:20,sma:7,ema:20,ema:9,wma:20,wma:5,macd,macd:5:13:4,rsi:14,rsi:6,stoch,stoch:9:2:4,"
        "stochrsi,stochrsi:10:7:2,willr,willr:8,cci,cci:9,roc,roc:3,mfi,mfi:9,adx,adx:8,bbands,bbands:9:1.5,"
        "atr,atr:5,natr,natr:6,keltner,keltner:12:1.5:7,obv,obv:7,vol_sma,vol_sma:5,vwap,vwap:12,chop,chop:9")


@pytest.fixture(scope="module")
def bars() -> pa.Table:
    # a little over 3 sessions of 1m bars with provider VWAP on most bars
    return gbm(1500, seed=7, vwap=True)


@pytest.fixture(scope="module")
def out(bars: pa.Table) -> pa.Table:
    return enrich_table(bars, SPEC, timeframe="1m")


def col(table: pa.Table, key: str) -> np.ndarray[Any, Any]:
    return table.column(indicator_column(key)).to_numpy(zero_copy_only=False).astype(float)


def arrays(bars: pa.Table) -> tuple[np.ndarray[Any, Any], ...]:
    return tuple(bars.column(k).to_numpy().astype(float) for k in ("open", "high", "low", "close", "volume"))


def expected_talib(bars: pa.Table) -> dict[str, np.ndarray[Any, Any]]:
    _, h, lo, c, v = arrays(bars)
    e: dict[str, np.ndarray[Any, Any]] = {}
    for n in (20, 7):
        e[f"sma_{n}"] = talib.SMA(c, n)
    for n in (20, 9):
        e[f"ema_{n}"] = talib.EMA(c, n)
    for n in (20, 5):
        e[f"wma_{n}"] = talib.WMA(c, n)
    for f, s, sig in ((12, 26, 9), (5, 13, 4)):
        m, ms, mh = talib.MACD(c, f, s, sig)
        e[f"macd_{f}_{s}_{sig}"], e[f"macd_signal_{f}_{s}_{sig}"], e[f"macd_hist_{f}_{s}_{sig}"] = m, ms, mh
    for n in (14, 6):
        e[f"rsi_{n}"] = talib.RSI(c, n)
    for fk, sk, sd in ((14, 3, 3), (9, 2, 4)):
        e[f"stoch_k_{fk}_{sk}_{sd}"], e[f"stoch_d_{fk}_{sk}_{sd}"] = talib.STOCH(h, lo, c, fk, sk, 0, sd, 0)
    for n, fk, fd in ((14, 14, 3), (10, 7, 2)):
        e[f"stochrsi_k_{n}_{fk}_{fd}"], e[f"stochrsi_d_{n}_{fk}_{fd}"] = talib.STOCHRSI(c, n, fk, fd, 0)
    for n in (14, 8):
        e[f"willr_{n}"] = talib.WILLR(h, lo, c, n)
    for n in (20, 9):
        e[f"cci_{n}"] = talib.CCI(h, lo, c, n)
    for n in (10, 3):
        e[f"roc_{n}"] = talib.ROC(c, n)
    for n in (14, 9):
        e[f"mfi_{n}"] = talib.MFI(h, lo, c, v, n)
    for n in (14, 8):
        e[f"adx_{n}"] = talib.ADX(h, lo, c, n)
        e[f"adx_plus_di_{n}"] = talib.PLUS_DI(h, lo, c, n)
        e[f"adx_minus_di_{n}"] = talib.MINUS_DI(h, lo, c, n)
    for n, k in ((20, 2.0), (9, 1.5)):
        up, mid, low = talib.BBANDS(c, n, k, k, 0)
        tag = f"{n}_{k:g}"
        e[f"bb_upper_{tag}"], e[f"bb_middle_{tag}"], e[f"bb_lower_{tag}"] = up, mid, low
    for n in (14, 5):
        e[f"atr_{n}"] = talib.ATR(h, lo, c, n)
    for n in (14, 6):
        e[f"natr_{n}"] = talib.NATR(h, lo, c, n)
    for n, m, an in ((20, 2.0, 10), (12, 1.5, 7)):
        up, mid, low = talib.KC(h, lo, c, n, an, m)
        tag = f"{n}_{m:g}_{an}"
        e[f"kc_upper_{tag}"], e[f"kc_middle_{tag}"], e[f"kc_lower_{tag}"] = up, mid, low
    for n in (20, 5):
        e[f"vol_sma_{n}"] = talib.SMA(v, n)
    return e


def test_talib_backed_indicators_equal_talib(bars: pa.Table, out: pa.Table) -> None:
    expected = expected_talib(bars)
    for key, want in expected.items():
        got = col(out, key)
        np.testing.assert_array_equal(got, want, err_msg=key)


def test_keltner_is_ema_of_typical_price_plus_minus_atr(bars: pa.Table, out: pa.Table) -> None:
    # TA-Lib seeds KC's ATR where the EMA starts, so it converges to a standalone
    # ATR(10) within the unstable period (which required_warmup loads).
    _, h, lo, c, _ = arrays(bars)
    mid = talib.EMA((h + lo + c) / 3.0, 20)
    atr = talib.ATR(h, lo, c, 10)
    np.testing.assert_allclose(col(out, "kc_middle_20_2_10"), mid, rtol=1e-12, equal_nan=True)
    spec = parse_indicator_spec("keltner")[0]
    tail = slice(spec.lookback + spec.unstable, None)
    np.testing.assert_allclose(col(out, "kc_upper_20_2_10")[tail], (mid + 2 * atr)[tail], rtol=1e-10)


def _price(bars: pa.Table) -> list[float]:
    _, h, lo, c, _ = arrays(bars)
    vw = bars.column("vwap").to_pylist()
    return [vw[i] if vw[i] is not None else (h[i] + lo[i] + c[i]) / 3.0 for i in range(len(c))]


def test_bollinger_percent_b_and_bandwidth(bars: pa.Table, out: pa.Table) -> None:
    c = arrays(bars)[3]
    up, mid, lo = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    for i in range(len(c)):
        pb, bw = col(out, "bb_pctb_20_2")[i], col(out, "bb_width_20_2")[i]
        if math.isnan(up[i]):
            assert math.isnan(pb) and math.isnan(bw)
        else:
            assert pb == pytest.approx((c[i] - lo[i]) / (up[i] - lo[i]), rel=1e-12)
            assert bw == pytest.approx((up[i] - lo[i]) / mid[i], rel=1e-12)


def test_anchored_vwap_and_obv_restart_each_session(bars: pa.Table, out: pa.Table) -> None:
    _, _, _, c, v = arrays(bars)
    price = _price(bars)
    ts = bars.column("ts").to_pylist()
    day = None
    cum_pv = cum_v = cum_sv = 0.0
    for i in range(len(c)):
        d = ts[i].astimezone(EXCHANGE_TZ).date()
        if d != day:
            day, cum_pv, cum_v, cum_sv = d, 0.0, 0.0, 0.0
        cum_pv += price[i] * v[i]
        cum_v += v[i]
        if i > 0:
            cum_sv += v[i] if c[i] > c[i - 1] else (-v[i] if c[i] < c[i - 1] else 0.0)
        assert col(out, "vwap")[i] == pytest.approx(cum_pv / cum_v, rel=1e-12)
        assert col(out, "obv")[i] == pytest.approx(cum_sv, rel=1e-12, abs=1e-6)
    assert "ind_vwap" in out.column_names and "vwap" in out.column_names  # the candle's own vwap stays


def test_rolling_vwap_obv_and_chop_match_plain_loops(bars: pa.Table, out: pa.Table) -> None:
    _, h, lo, c, v = arrays(bars)
    price = _price(bars)
    n = len(c)
    for i in range(n):
        w = range(i - 11, i + 1)
        want = sum(price[j] * v[j] for j in w) / sum(v[j] for j in w) if i >= 11 else math.nan
        got = col(out, "vwap_12")[i]
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-10)
        sv = [v[j] if c[j] > c[j - 1] else (-v[j] if c[j] < c[j - 1] else 0.0) for j in range(i - 6, i + 1)]
        want_obv = sum(sv) if i >= 7 else math.nan
        got_obv = col(out, "obv_7")[i]
        assert (math.isnan(got_obv) and math.isnan(want_obv)) or got_obv == pytest.approx(want_obv, rel=1e-9, abs=1e-6)
        if i >= 9:
            trs = [max(h[j] - lo[j], abs(h[j] - c[j - 1]), abs(lo[j] - c[j - 1])) for j in range(i - 8, i + 1)]
            rng = max(h[i - 8:i + 1]) - min(lo[i - 8:i + 1])
            want_chop = 100 * math.log10(sum(trs) / rng) / math.log10(9)
            assert col(out, "chop_9")[i] == pytest.approx(want_chop, rel=1e-10)
        else:
            assert math.isnan(col(out, "chop_9")[i])


def test_warmup_positions_are_null_and_nothing_after(out: pa.Table) -> None:
    for spec in parse_indicator_spec(SPEC):
        for key in spec.keys:
            arr = out.column(indicator_column(key))
            nulls = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
            assert list(nulls) == list(range(spec.lookbacks[key])), key


def test_daily_bars_anchor_vwap_by_month() -> None:
    bars = gbm(60, seed=2, ts=session_ts(60, last=datetime(2024, 3, 28).date()))
    out = enrich_table(bars, "vwap", timeframe="1d")
    ts = bars.column("ts").to_pylist()
    months = [t.astimezone(EXCHANGE_TZ).month for t in ts]
    vw = col(out, "vwap")
    h, lo, c = (bars.column(k).to_numpy() for k in ("high", "low", "close"))
    for i in range(len(ts)):
        if i == 0 or months[i] != months[i - 1]:
            assert vw[i] == pytest.approx((h[i] + lo[i] + c[i]) / 3.0, rel=1e-12)
    # inferred from the spacing when the timeframe is not given
    np.testing.assert_array_equal(col(enrich_table(bars, "vwap"), "vwap"), vw)
    assert ts[0].tzinfo is not None and ts[0] > datetime(2023, 1, 1, tzinfo=UTC)


def test_bad_input_gets_a_clear_error() -> None:
    from jonbu_core.errors import InvalidInputError

    bars = gbm(50)
    with pytest.raises(InvalidInputError, match="strictly ascending"):
        enrich_table(pa.concat_tables([bars.slice(10), bars.slice(0, 10)]))
    with pytest.raises(InvalidInputError, match="missing the column 'close'"):
        enrich_table(bars.drop(["close"]))
    bad = bars.set_column(4, "close", pa.array([math.nan] + [100.0] * 49))
    with pytest.raises(InvalidInputError, match="NaN"):
        enrich_table(bad)
    assert enrich_table(bars.slice(0, 0)).num_rows == 0
    assert enrich_table(bars.slice(0, 1)).num_rows == 1
