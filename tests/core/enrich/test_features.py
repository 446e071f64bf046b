"""Features: in [0, 1], complete after warm-up, no look-ahead."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from jonbu_core.enrich import enrich_candles, enrich_table
from jonbu_core.enrich.engine import cached_plan
from jonbu_core.enrich.features import FEATURE_NAMES, FEATURES
from jonbu_core.enrich.registry import parse_indicator_spec

from ._data import gbm


def _features(table: pa.Table) -> np.ndarray:
    return np.column_stack([table.column(f"f_{n}").to_numpy(zero_copy_only=False).astype(float)
                            for n in FEATURE_NAMES])


def test_features_are_in_unit_interval_and_complete_after_warmup() -> None:
    bars = gbm(3000, seed=31, sigma=0.004, vwap=True)
    out = enrich_table(bars)
    f = _features(out)
    start = cached_plan(tuple(parse_indicator_spec(None))).feature_lookback
    assert np.isnan(f[:start]).all()
    assert not np.isnan(f[start:]).any()
    assert (f[start:] >= 0).all() and (f[start:] <= 1).all()
    # every feature moves (none is stuck at a constant)
    assert all(np.ptp(f[start:, k]) > 0 for k in range(len(FEATURE_NAMES)))
    assert {rule for _, rule in FEATURES} == {"fixed", "minmax"}
    assert out.column("confidence").to_numpy().min() >= 0 and out.column("confidence").to_numpy().max() <= 1


def test_candles_carry_the_feature_vector_only_after_warmup() -> None:
    bars = gbm(400, seed=32)
    cs = enrich_candles(bars, "rsi")
    start = cached_plan(tuple(parse_indicator_spec("rsi"))).feature_lookback
    assert all(c.features == {} for c in cs[:start])
    assert all(list(c.features) == list(FEATURE_NAMES) for c in cs[start:])
    assert all(0 <= v <= 1 for c in cs[start:] for v in c.features.values())


def test_no_look_ahead_appending_future_candles_changes_nothing() -> None:
    bars = gbm(2500, seed=33, tick=0.01)
    full = enrich_table(bars)
    for cut in (900, 2100):
        part = enrich_table(bars.slice(0, cut))
        assert part.equals(full.slice(0, cut)), cut


def test_parallel_and_serial_graph_evaluation_are_identical() -> None:
    from jonbu_core.enrich.graph import base_series, evaluate

    bars = gbm(3000, seed=34)
    cols = {k: bars.column(k).to_numpy() for k in ("open", "high", "low", "close", "volume")}
    base = base_series(cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"],
                       np.full(3000, np.nan))
    graph = cached_plan(tuple(parse_indicator_spec(None))).graph
    a = evaluate(graph, base, parallel=False)
    b = evaluate(graph, base, parallel=True)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_parallel_batch_path_equals_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    import jonbu_core.enrich.engine as engine

    bars = gbm(4000, seed=35, vwap=True)
    serial = enrich_table(bars)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BARS", 1000)
    assert enrich_table(bars).equals(serial)
