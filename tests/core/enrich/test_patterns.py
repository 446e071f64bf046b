"""Candlestick patterns equal TA-Lib; hand-built shapes are detected; random-walk rates."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from jonbu_core.enrich import enrich_candles, enrich_table
from jonbu_core.enrich.candles import CANDLE_BY_NAME, CANDLES
from jonbu_core.enrich.patterns import CHART_NAMES, RANDOM_WALK_MAX_RATE

from ._data import flat_noise, gbm, shaped

Row = tuple[float, float, float, float, float]


def path(points: list[float], steps: list[int], start: float | None = None) -> list[Row]:
    """Candles walking linearly through ``points`` (open = previous close)."""
    rows: list[Row] = []
    prev = points[0] if start is None else start
    for a, b, n in zip(points[:-1], points[1:], steps, strict=True):
        for k in range(1, n + 1):
            c = a + (b - a) * k / n
            rows.append((prev, max(prev, c) + 0.1, min(prev, c) - 0.1, c, 1000.0))
            prev = c
    return rows


def names_at(rows: list[Row], index: int = -1, kind: str | None = None) -> dict[str, str]:
    cs = enrich_candles(shaped(rows))
    return {p.name: p.direction for p in cs[index].patterns if kind is None or p.kind == kind}


def test_every_talib_candlestick_function_is_reported_as_talib_computes_it() -> None:
    assert {c.func for c in CANDLES} == set(talib.get_function_groups()["Pattern Recognition"])
    bars = gbm(3000, seed=5, tick=0.05)  # ticks make equal prices (doji, matching lows…) common
    out = enrich_table(bars)
    o, h, lo, c = (bars.column(k).to_numpy() for k in ("open", "high", "low", "close"))
    fired = 0
    for info in CANDLES:
        want = getattr(talib, info.func)(o, h, lo, c)
        got = out.column(f"cdl_{info.name}").to_numpy()
        np.testing.assert_array_equal(got, want, err_msg=info.func)
        fired += bool(np.any(want))
    assert fired >= 40  # the comparison is not vacuous


def test_candle_pattern_objects_follow_talib_sign_and_the_documented_overrides() -> None:
    bars = gbm(2000, seed=9, tick=0.05)
    cs = enrich_candles(bars)
    out = enrich_table(bars)
    seen = set()
    for i, ec in enumerate(cs):
        for p in ec.patterns:
            if p.kind != "candlestick":
                continue
            info = CANDLE_BY_NAME[p.name]
            raw = out.column(f"cdl_{p.name}")[i].as_py()
            assert raw != 0
            expected = info.fixed_direction or ("bullish" if raw > 0 else "bearish")
            assert p.direction == expected
            factor = 1.25 if abs(raw) >= 200 else abs(raw) / 100
            assert p.strength == pytest.approx(min(1.0, info.reliability * factor))
            seen.add(p.name)
        assert 0.0 <= ec.confidence <= 1.0
    assert {"doji", "engulfing", "spinning_top"} <= seen
    assert CANDLE_BY_NAME["gravestone_doji"].fixed_direction == "bearish"
    assert CANDLE_BY_NAME["doji"].fixed_direction == "neutral"


def test_doji() -> None:
    got = names_at([*flat_noise(30), (100.0, 100.6, 99.4, 100.0, 1000.0)])
    assert got["doji"] == "neutral"


def test_hammer_after_a_decline() -> None:
    rows: list[Row] = []
    p = 110.0
    for _ in range(20):
        rows.append((p, p + 0.2, p - 1.0, p - 0.8, 1000.0))
        p -= 0.8
    rows.append((p - 0.3, p - 0.05, p - 2.5, p, 1000.0))
    assert names_at(rows)["hammer"] == "bullish"


def test_bullish_and_bearish_engulfing() -> None:
    base = flat_noise(30)
    assert names_at([*base, (100.3, 100.4, 99.7, 99.8, 1000.0), (99.7, 100.6, 99.6, 100.5, 1000.0)])[
        "engulfing"] == "bullish"
    assert names_at([*base, (99.8, 100.4, 99.7, 100.3, 1000.0), (100.4, 100.5, 99.5, 99.6, 1000.0)])[
        "engulfing"] == "bearish"


def test_range_breakout_needs_volume_confirmation() -> None:
    base = flat_noise(40)
    assert names_at([*base, (100.0, 102.3, 99.9, 102.2, 3000.0)], kind="chart")["range_breakout"] == "bullish"
    assert "range_breakout" not in names_at([*base, (100.0, 102.3, 99.9, 102.2, 1000.0)], kind="chart")
    assert names_at([*base, (100.0, 100.1, 97.7, 97.8, 3000.0)], kind="chart")["range_breakdown"] == "bearish"
    # reported once, on the bar that crosses, not on every later bar above the range
    rows = [*base, (100.0, 102.3, 99.9, 102.2, 3000.0), (102.2, 103.0, 102.1, 102.9, 3000.0)]
    assert "range_breakout" not in names_at(rows, kind="chart")


def test_gaps() -> None:
    base = flat_noise(30)
    assert names_at([*base, (103.0, 103.5, 102.8, 103.3, 1000.0)], kind="chart")["gap_up"] == "bullish"
    assert names_at([*base, (97.0, 97.3, 96.5, 96.8, 1000.0)], kind="chart")["gap_down"] == "bearish"


def test_double_top_completes_on_the_neckline_break() -> None:
    rows = flat_noise(30) + path([100.0, 105.0, 101.0, 105.05, 99.5], [10, 8, 8, 9], start=flat_noise(30)[-1][3])
    cs = enrich_candles(shaped(rows))
    hits = [i for i, c in enumerate(cs) if any(p.name == "double_top" for p in c.patterns)]
    assert len(hits) == 1
    i = hits[0]
    close = [r[3] for r in rows]
    assert close[i] < 101.0 <= close[i - 1]  # the first close below the trough between the peaks
    top = next(p for p in cs[i].patterns if p.name == "double_top")
    assert top.direction == "bearish" and 0.5 <= top.strength <= 1.0


def test_double_bottom_mirrors_it() -> None:
    rows = flat_noise(30) + path([100.0, 95.0, 99.0, 94.95, 100.5], [10, 8, 8, 9], start=flat_noise(30)[-1][3])
    cs = enrich_candles(shaped(rows))
    hits = [i for i, c in enumerate(cs) if any(p.name == "double_bottom" for p in c.patterns)]
    assert hits and rows[hits[-1]][3] > 99.0


def test_higher_highs_and_lower_lows() -> None:
    up = flat_noise(30) + path([100, 103, 101.5, 104.5, 103, 106, 104.5, 107.5], [6, 4, 6, 4, 6, 4, 6])
    cs = enrich_candles(shaped(up))
    assert sum(any(p.name == "higher_highs" for p in c.patterns) for c in cs[35:]) >= 2
    down = flat_noise(30) + path([100, 97, 98.5, 95.5, 97, 94, 95.5, 92.5], [6, 4, 6, 4, 6, 4, 6])
    cs = enrich_candles(shaped(down))
    assert sum(any(p.name == "lower_lows" for p in c.patterns) for c in cs[35:]) >= 2


@pytest.mark.parametrize("seed", [11, 12])
def test_random_walks_stay_below_the_documented_false_positive_rates(seed: int) -> None:
    out = enrich_table(gbm(30000, seed=seed))
    for name in CHART_NAMES:
        rate = float(np.mean(out.column(f"chart_{name}").to_numpy() > 0))
        assert rate <= RANDOM_WALK_MAX_RATE[name], (name, rate)
    for info in CANDLES:
        rate = float(np.mean(out.column(f"cdl_{info.name}").to_numpy() != 0))
        assert rate <= RANDOM_WALK_MAX_RATE.get(info.name, RANDOM_WALK_MAX_RATE["*candlestick"]), (info.name, rate)
