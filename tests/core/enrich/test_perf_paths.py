"""Code paths added for the performance targets of issue #6 give the same results."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import talib

from jonbu_core.enrich import enrich_table
from jonbu_core.enrich.graph import TaCall, _all_nan, _call
from jonbu_core.enrich.memory import tune_allocator
from jonbu_core.enrich.ops import OPS

from ._data import gbm


def test_parallel_keyword_forces_either_path_with_equal_tables() -> None:
    bars = gbm(2500, seed=61, vwap=True)
    assert enrich_table(bars, parallel=True).equals(enrich_table(bars, parallel=False))


def test_tuned_allocator_changes_no_result() -> None:
    bars = gbm(2000, seed=62)
    before = enrich_table(bars)
    assert tune_allocator() in (True, False)
    assert tune_allocator() == tune_allocator()  # idempotent
    assert enrich_table(bars).equals(before)


def test_all_nan_check_looks_at_the_whole_series() -> None:
    a = np.full(10, np.nan)
    assert _all_nan(a)
    a[3] = 1.0  # NaN at the end, a number inside: not all NaN
    assert not _all_nan(a)
    assert not _all_nan(np.arange(5.0))
    assert not _all_nan(np.zeros(4, dtype=np.int64))


def test_talib_call_on_a_nan_series_gives_nans_else_talib() -> None:
    node = TaCall("SMA", ("close",), (3,), 1)
    nan_out = _call(node, [np.full(8, np.nan)], 8)[0]
    assert np.isnan(nan_out).all()
    x = np.r_[np.nan, np.arange(7.0)]
    np.testing.assert_array_equal(_call(node, [x], 8)[0], talib.SMA(x, 3))


def test_in_place_mm01_and_eq_match_their_definitions() -> None:
    rng = np.random.default_rng(63)
    x = rng.normal(0, 1, 500)
    mn = np.minimum(x, rng.normal(0, 1, 500))
    mx = np.maximum(x, rng.normal(0, 1, 500))
    mx[::9] = mn[::9]
    mn[:5] = mx[:5] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = (x - mn) / (mx - mn)
    ref[(mx - mn) == 0] = 0.5
    np.testing.assert_array_equal(OPS["mm01"].vector(x, mn, mx), ref)
    code = np.array([0.0, 1.0, 2.0, np.nan, 2.0])
    np.testing.assert_array_equal(OPS["eq"].vector(code, 2.0), np.where(code == 2.0, 1.0, 0.0))


def _aggregate_reference(cdl: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The per-value loop the lookup tables replaced."""
    from jonbu_core.enrich.candles import CANDLES, candle_sign, candle_strength

    bull, bear = np.zeros(n), np.zeros(n)
    for info, arr in zip(CANDLES, cdl, strict=True):
        for i in np.flatnonzero(arr).tolist():
            v = int(arr[i])
            sign = candle_sign(info, v)
            if sign > 0:
                bull[i] = max(bull[i], candle_strength(info, v))
            elif sign < 0:
                bear[i] = max(bear[i], candle_strength(info, v))
    return bull, bear


def test_candle_aggregation_by_lookup_and_by_parts_equals_the_reference() -> None:
    from jonbu_core.enrich.candles import CANDLES
    from jonbu_core.enrich.patterns import aggregate_candles

    n = 400
    rng = np.random.default_rng(64)
    cdl = [rng.choice(np.array([0, 0, 0, -200, -100, 100, 200], dtype=np.int32), n) for _ in CANDLES]
    cdl[5][7] = 80  # a value outside the table takes the general path
    ref = _aggregate_reference(cdl, n)
    whole = aggregate_candles(cdl, n)
    np.testing.assert_array_equal(whole[0], ref[0])
    np.testing.assert_array_equal(whole[1], ref[1])
    a = aggregate_candles(cdl, n, slice(0, 30))
    b = aggregate_candles(cdl, n, slice(30, None))
    np.testing.assert_array_equal(np.maximum(a[0], b[0]), ref[0])
    np.testing.assert_array_equal(np.maximum(a[1], b[1]), ref[1])


def test_real_talib_candles_aggregate_like_the_reference() -> None:
    from jonbu_core.enrich.candles import CANDLES
    from jonbu_core.enrich.patterns import aggregate_candles

    bars = gbm(3000, seed=65)
    o, h, lo, c = (bars.column(k).to_numpy() for k in ("open", "high", "low", "close"))
    cdl = [getattr(talib, info.func)(o, h, lo, c) for info in CANDLES]
    ref = _aggregate_reference(cdl, len(c))
    got = aggregate_candles(cdl, len(c))
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def test_nullable_columns_mask_exactly_the_nans_and_the_warmup() -> None:
    from jonbu_core.enrich.batch import _nullable

    infs = np.array([1.0, np.inf, -np.inf, 2.0])  # sums to NaN without holding one
    assert _nullable(infs).null_count == 0
    assert _nullable(infs, 1).to_pylist() == [None, np.inf, -np.inf, 2.0]
    holes = np.array([np.nan, 1.0, np.nan, 3.0, 4.0])
    assert _nullable(holes).to_pylist() == [None, 1.0, None, 3.0, 4.0]
    assert _nullable(holes, 2).to_pylist() == [None, None, None, 3.0, 4.0]
    assert _nullable(np.arange(4.0), 2).to_pylist() == [None, None, 2.0, 3.0]


def test_finiteness_check_refuses_nan_and_inf_but_not_a_sum_that_overflows() -> None:
    import pytest

    from jonbu_core.enrich.engine import prepare
    from jonbu_core.errors import InvalidInputError

    bars = gbm(5, seed=66)
    big = bars.set_column(bars.column_names.index("volume"), "volume",
                          pa.array([1e308, 1e308, 1e308, 1.0, 2.0]))
    prepare(big)  # the sum overflows to inf; every value is finite
    for bad in (np.nan, np.inf, -np.inf):
        close = bars.column("close").to_numpy().copy()
        close[2] = bad
        with pytest.raises(InvalidInputError, match="close"):
            prepare(bars.set_column(bars.column_names.index("close"), "close", pa.array(close)))
