"""Market context: trend regression, volatility percentile, relative volume, regime, levels."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import talib

from jonbu_core.enrich import enrich_candles, enrich_table
from jonbu_core.enrich.params import P
from jonbu_core.enrich.swings import find_pivots

from ._data import flat_noise, gbm, shaped


@pytest.fixture(scope="module")
def bars() -> pa.Table:
    return gbm(1200, seed=21, sigma=0.003)


@pytest.fixture(scope="module")
def out(bars: pa.Table) -> pa.Table:
    return enrich_table(bars, "rsi")


def test_trend_slope_and_r2_match_a_least_squares_fit(bars: pa.Table, out: pa.Table) -> None:
    c = bars.column("close").to_numpy()
    slope_pct = out.column("trend_slope_pct").to_numpy(zero_copy_only=False).astype(float)
    r2 = out.column("trend_r2").to_numpy(zero_copy_only=False).astype(float)
    n = P.trend
    assert np.isnan(slope_pct[: n - 1]).all()
    x = np.arange(n, dtype=float)
    for i in range(n - 1, len(c), 37):
        y = c[i - n + 1: i + 1]
        b, a = np.polyfit(x, y, 1)
        fit = a + b * x
        want_r2 = 1 - ((y - fit) ** 2).sum() / ((y - y.mean()) ** 2).sum()
        assert slope_pct[i] == pytest.approx(b / c[i] * 100, rel=1e-6)
        assert r2[i] == pytest.approx(want_r2, abs=1e-6)


def test_volatility_percentile_and_relative_volume_match_their_definitions(bars: pa.Table, out: pa.Table) -> None:
    h, lo, c, v = (bars.column(k).to_numpy() for k in ("high", "low", "close", "volume"))
    natr = talib.NATR(h, lo, c, P.atr)
    pct = out.column("volatility_percentile").to_numpy(zero_copy_only=False).astype(float)
    rv = out.column("relative_volume").to_numpy(zero_copy_only=False).astype(float)
    for i in range(len(c)):
        prev = natr[i - P.percentile: i]
        if i - P.percentile < P.atr:
            assert math.isnan(pct[i])
        else:
            assert pct[i] == pytest.approx(float(np.mean(prev < natr[i])), abs=1e-12)
        if i < P.volume:
            assert math.isnan(rv[i])
        else:
            assert rv[i] == pytest.approx(v[i] / v[i - P.volume: i].mean(), rel=1e-12)


def test_regime_follows_its_documented_rules(bars: pa.Table, out: pa.Table) -> None:
    h, lo, c = (bars.column(k).to_numpy() for k in ("high", "low", "close"))
    adx, pdi, mdi = talib.ADX(h, lo, c, 14), talib.PLUS_DI(h, lo, c, 14), talib.MINUS_DI(h, lo, c, 14)
    tr = talib.TRANGE(h, lo, c)
    chop = 100 * np.log10(talib.SUM(tr, 14) / (talib.MAX(h, 14) - talib.MIN(lo, 14))) / np.log10(14)
    pct = out.column("volatility_percentile").to_numpy(zero_copy_only=False).astype(float)
    regime = out.column("regime").to_pylist()
    seen = set()
    for i in range(len(c)):
        if any(math.isnan(x) for x in (adx[i], chop[i], pct[i])):
            want = "unknown"
        elif pct[i] >= 0.9:
            want = "volatile"
        elif adx[i] >= 25 and chop[i] < 50:
            want = "trending_up" if pdi[i] >= mdi[i] else "trending_down"
        else:
            want = "ranging"
        assert regime[i] == want, i
        seen.add(want)
    assert {"ranging", "volatile", "unknown"} <= seen


def test_pivots_match_a_plain_loop(bars: pa.Table) -> None:
    h, lo = bars.column("high").to_numpy(), bars.column("low").to_numpy()
    ph, pl = find_pivots(h, lo)
    k = P.swing
    want_h = [j for j in range(k, len(h) - k) if h[j] > max(h[j - k:j]) and h[j] >= max(h[j + 1:j + k + 1])]
    want_l = [j for j in range(k, len(h) - k) if lo[j] < min(lo[j - k:j]) and lo[j] <= min(lo[j + 1:j + k + 1])]
    assert ph.tolist() == want_h and pl.tolist() == want_l


def test_repeated_peaks_form_a_resistance_with_touches() -> None:
    rows = flat_noise(20)
    prev = rows[-1][3]
    for _ in range(4):  # four swings between ~98 and ~104
        for c in [*np.linspace(prev, 104.0, 6)[1:], *np.linspace(104.0, 98.0, 6)[1:]]:
            rows.append((prev, max(prev, c) + 0.05, min(prev, c) - 0.05, float(c), 1000.0))
            prev = float(c)
    for c in np.linspace(prev, 101.0, 4)[1:]:
        rows.append((prev, max(prev, c) + 0.05, min(prev, c) - 0.05, float(c), 1000.0))
        prev = float(c)
    ctx = enrich_candles(shaped(rows))[-1].context
    top = max(ctx.resistance, key=lambda lv: lv.touches)
    bottom = max(ctx.support, key=lambda lv: lv.touches)
    assert top.price == pytest.approx(104.05, abs=0.2) and top.touches >= 3
    assert bottom.price == pytest.approx(97.95, abs=0.2) and bottom.touches >= 3
    assert all(lv.distance_atr >= 0 for lv in ctx.support + ctx.resistance)
    assert [lv.price for lv in ctx.support] == sorted((lv.price for lv in ctx.support), reverse=True)
    assert [lv.price for lv in ctx.resistance] == sorted(lv.price for lv in ctx.resistance)
    assert len(ctx.support) <= P.levels_shown and len(ctx.resistance) <= P.levels_shown


def test_table_nearest_levels_agree_with_candle_objects(bars: pa.Table, out: pa.Table) -> None:
    cs = enrich_candles(bars, "rsi")
    sup = out.column("support").to_pylist()
    res_t = out.column("resistance_touches").to_pylist()
    dist = out.column("resistance_dist_atr").to_pylist()
    for i, ec in enumerate(cs):
        s, r = ec.context.support, ec.context.resistance
        assert (sup[i] is None) == (not s)
        if s:
            assert s[0].price == sup[i]
        if r:
            assert r[0].touches == res_t[i] and r[0].distance_atr == pytest.approx(dist[i], rel=1e-12)
