"""Indicator specs: parsing, names, errors, warm-up."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from jonbu_core.enrich import CATALOG, parse_indicator_spec
from jonbu_core.enrich.registry import unstable_bars
from jonbu_core.errors import InvalidInputError

CONTRACT_KEYS = ["sma_20", "ema_20", "rsi_14", "atr_14", "adx_14", "macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9", "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "stoch_k_14_3_3", "stoch_d_14_3_3", "willr_14", "cci_20", "mfi_14", "roc_10", "obv", "vwap"]


def _keys(spec: str | None) -> list[str]:
    return [k for s in parse_indicator_spec(spec) for k in s.keys]


def test_default_set_has_every_contract_name_and_every_catalogue_indicator() -> None:
    keys = _keys(None)
    for k in CONTRACT_KEYS:
        assert k in keys
    assert {s.name for s in parse_indicator_spec(None)} == set(CATALOG)
    assert len(keys) == len(set(keys))


def test_parse_example_spec() -> None:
    specs = parse_indicator_spec("rsi:14,ema:50,bbands:20:2")
    assert [s.label for s in specs] == ["rsi:14", "ema:50", "bbands:20:2"]
    assert _keys("rsi:14,ema:50,bbands:20:2") == [
        "rsi_14", "ema_50", "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "bb_pctb_20_2", "bb_width_20_2"]


@pytest.mark.parametrize(("spec", "keys"), [
    ("BBANDS", ["bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "bb_pctb_20_2", "bb_width_20_2"]),
    ("bbands:10:2.5", ["bb_upper_10_2.5", "bb_middle_10_2.5", "bb_lower_10_2.5", "bb_pctb_10_2.5",
                       "bb_width_10_2.5"]),
    ("macd", ["macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9"]),
    ("macd:5:35", ["macd_5_35_9", "macd_signal_5_35_9", "macd_hist_5_35_9"]),
    ("adx:10", ["adx_10", "adx_plus_di_10", "adx_minus_di_10"]),
    ("stochrsi", ["stochrsi_k_14_14_3", "stochrsi_d_14_14_3"]),
    ("kc", ["kc_upper_20_2_10", "kc_middle_20_2_10", "kc_lower_20_2_10"]),
    ("obv, obv:30, vwap, vwap:15", ["obv", "obv_30", "vwap", "vwap_15"]),
    ("volume_sma:50,chop", ["vol_sma_50", "chop_14"]),
    (" rsi , rsi:14 ,RSI", ["rsi_14"]),
    ("", None),
    ("default", None),
])
def test_parse_variants(spec: str, keys: list[str] | None) -> None:
    assert _keys(spec) == (keys if keys is not None else _keys(None))


@pytest.mark.parametrize(("spec", "fragment"), [
    ("foo", "unknown indicator 'foo'"),
    ("rsi:abc", "must be an integer"),
    ("rsi:0", "outside"),
    ("rsi:14:3", "at most 1 parameter"),
    ("bbands:20:x", "must be a number"),
    ("macd:26:12:9", "fast period must be shorter"),
    ("ema:100000", "outside"),
    (",,", "no indicator"),
])
def test_bad_specs_list_the_valid_names(spec: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_indicator_spec(spec)
    msg = str(err.value)
    assert fragment in msg
    assert "valid indicators:" in msg
    for name in ("adx", "bbands", "rsi", "vwap", "chop", "keltner"):
        assert name in msg


@pytest.mark.parametrize(("spec", "func", "args"), [
    ("sma:20", talib.SMA, (20,)), ("ema:50", talib.EMA, (50,)), ("rsi:14", talib.RSI, (14,)),
    ("macd", talib.MACD, (12, 26, 9)), ("stochrsi", talib.STOCHRSI, (14, 14, 3)),
])
def test_lookback_matches_talib_leading_nans(spec: str, func: object, args: tuple[int, ...]) -> None:
    x = np.linspace(100.0, 120.0, 400) + np.sin(np.arange(400))
    out = func(x, *args)  # type: ignore[operator]
    first = out[0] if isinstance(out, tuple) else out
    assert parse_indicator_spec(spec)[0].lookback == int(np.isnan(first).sum())


def test_unstable_period_is_where_the_seed_is_forgotten() -> None:
    for n in (5, 14, 50):
        k = unstable_bars(2.0 / (n + 1))
        assert (1 - 2.0 / (n + 1)) ** k <= 1e-12 < (1 - 2.0 / (n + 1)) ** (k - 1)
    ema = parse_indicator_spec("ema:50")[0]
    assert ema.unstable == unstable_bars(2.0 / 51)
    assert parse_indicator_spec("sma:50")[0].unstable == 0
    assert parse_indicator_spec("adx:14")[0].unstable == 2 * unstable_bars(1 / 14)
