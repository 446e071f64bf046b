"""Every TA-Lib candlestick pattern: name, direction rule, reliability, description.

TA-Lib reports a pattern at a bar as ±100 (±200 for a pattern confirmed by a later
bar, e.g. Hikkake), the sign giving the direction. We report it as a
:class:`~jonbu_core.enrich.models.Pattern`:

* ``direction`` — the sign of TA-Lib's value (``+`` bullish, ``−`` bearish), except
  for the indecision patterns (doji, spinning top, high wave, long-legged doji,
  rickshaw man, short line), which are ``neutral``, and the gravestone doji, which
  TA-Lib always reports as +100 but is read as ``bearish``;
* ``strength`` — the pattern's typical reliability (0.4 low, 0.6 medium, 0.8 high;
  a rough consensus of the candlestick literature, e.g. Bulkowski's statistics),
  × 1.25 when TA-Lib marks it confirmed (±200), × |value|/100 for TA-Lib's weaker
  variants (±80: a non-strict engulfing or harami), capped at 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import talib

LOW, MEDIUM, HIGH = 0.4, 0.6, 0.8


@dataclass(frozen=True)
class CandleInfo:
    """How one TA-Lib candlestick function is reported."""

    func: str
    name: str
    reliability: float
    description: str
    fixed_direction: str | None = None
    """``neutral``/``bullish``/``bearish`` when the sign of TA-Lib's value is not used."""


_N, _BULL, _BEAR = "neutral", "bullish", "bearish"

_TABLE: tuple[CandleInfo, ...] = (
    CandleInfo("CDL2CROWS", "two_crows", MEDIUM, "Two Crows: a gap-up black candle, then a black candle closing into the first white body"),
    CandleInfo("CDL3BLACKCROWS", "three_black_crows", HIGH, "Three Black Crows: three long black candles closing progressively lower"),
    CandleInfo("CDL3INSIDE", "three_inside", MEDIUM, "Three Inside Up/Down: a harami confirmed by a third candle"),
    CandleInfo("CDL3LINESTRIKE", "three_line_strike", HIGH, "Three-Line Strike: three candles in a trend wiped out by one opposite candle"),
    CandleInfo("CDL3OUTSIDE", "three_outside", HIGH, "Three Outside Up/Down: an engulfing pattern confirmed by a third candle"),
    CandleInfo("CDL3STARSINSOUTH", "three_stars_in_south", MEDIUM, "Three Stars in the South: three shrinking black candles in a downtrend"),
    CandleInfo("CDL3WHITESOLDIERS", "three_white_soldiers", HIGH, "Three Advancing White Soldiers: three long white candles closing progressively higher"),
    CandleInfo("CDLABANDONEDBABY", "abandoned_baby", HIGH, "Abandoned Baby: a doji gapped away from the candles on both sides"),
    CandleInfo("CDLADVANCEBLOCK", "advance_block", MEDIUM, "Advance Block: three white candles with weakening bodies and growing upper shadows"),
    CandleInfo("CDLBELTHOLD", "belt_hold", MEDIUM, "Belt-hold: a long candle opening at its extreme"),
    CandleInfo("CDLBREAKAWAY", "breakaway", MEDIUM, "Breakaway: a five-candle reversal after a gap"),
    CandleInfo("CDLCLOSINGMARUBOZU", "closing_marubozu", MEDIUM, "Closing Marubozu: a long candle with no shadow on its closing side"),
    CandleInfo("CDLCONCEALBABYSWALL", "concealing_baby_swallow", MEDIUM, "Concealing Baby Swallow: four black candles, the last engulfing the third"),
    CandleInfo("CDLCOUNTERATTACK", "counterattack", MEDIUM, "Counterattack: two opposite long candles closing at the same price"),
    CandleInfo("CDLDARKCLOUDCOVER", "dark_cloud_cover", MEDIUM, "Dark Cloud Cover: a black candle opening above and closing deep into a white body"),
    CandleInfo("CDLDOJI", "doji", LOW, "Doji: open and close nearly equal (indecision)", _N),
    CandleInfo("CDLDOJISTAR", "doji_star", MEDIUM, "Doji Star: a doji gapping away from a long candle"),
    CandleInfo("CDLDRAGONFLYDOJI", "dragonfly_doji", MEDIUM, "Dragonfly Doji: a doji at the high with a long lower shadow", _BULL),
    CandleInfo("CDLENGULFING", "engulfing", HIGH, "Engulfing: a body that engulfs the previous opposite body"),
    CandleInfo("CDLEVENINGDOJISTAR", "evening_doji_star", HIGH, "Evening Doji Star: a white candle, a gapped-up doji, then a black candle"),
    CandleInfo("CDLEVENINGSTAR", "evening_star", HIGH, "Evening Star: a white candle, a gapped-up small body, then a black candle"),
    CandleInfo("CDLGAPSIDESIDEWHITE", "gap_side_by_side_white", MEDIUM, "Up/Down-gap side-by-side white lines"),
    CandleInfo("CDLGRAVESTONEDOJI", "gravestone_doji", MEDIUM, "Gravestone Doji: a doji at the low with a long upper shadow", _BEAR),
    CandleInfo("CDLHAMMER", "hammer", MEDIUM, "Hammer: a small body near the high with a long lower shadow after a decline"),
    CandleInfo("CDLHANGINGMAN", "hanging_man", MEDIUM, "Hanging Man: a hammer shape after an advance"),
    CandleInfo("CDLHARAMI", "harami", MEDIUM, "Harami: a small body inside the previous long body"),
    CandleInfo("CDLHARAMICROSS", "harami_cross", MEDIUM, "Harami Cross: a doji inside the previous long body"),
    CandleInfo("CDLHIGHWAVE", "high_wave", LOW, "High-Wave candle: a small body with very long shadows (indecision)", _N),
    CandleInfo("CDLHIKKAKE", "hikkake", MEDIUM, "Hikkake: a false inside-bar breakout (±200 when confirmed)"),
    CandleInfo("CDLHIKKAKEMOD", "hikkake_modified", MEDIUM, "Modified Hikkake: a Hikkake after a close near the range end"),
    CandleInfo("CDLHOMINGPIGEON", "homing_pigeon", MEDIUM, "Homing Pigeon: a black body inside the previous black body"),
    CandleInfo("CDLIDENTICAL3CROWS", "identical_three_crows", MEDIUM, "Identical Three Crows: three black candles each opening at the previous close"),
    CandleInfo("CDLINNECK", "in_neck", MEDIUM, "In-Neck: a white candle closing just into the previous black body"),
    CandleInfo("CDLINVERTEDHAMMER", "inverted_hammer", MEDIUM, "Inverted Hammer: a small body near the low with a long upper shadow after a decline"),
    CandleInfo("CDLKICKING", "kicking", HIGH, "Kicking: two opposite marubozu separated by a gap"),
    CandleInfo("CDLKICKINGBYLENGTH", "kicking_by_length", MEDIUM, "Kicking, direction of the longer marubozu"),
    CandleInfo("CDLLADDERBOTTOM", "ladder_bottom", MEDIUM, "Ladder Bottom: four falling black candles, then a white one"),
    CandleInfo("CDLLONGLEGGEDDOJI", "long_legged_doji", LOW, "Long-Legged Doji: a doji with long shadows (indecision)", _N),
    CandleInfo("CDLLONGLINE", "long_line", LOW, "Long Line: a long body with short shadows"),
    CandleInfo("CDLMARUBOZU", "marubozu", MEDIUM, "Marubozu: a long body with no shadows"),
    CandleInfo("CDLMATCHINGLOW", "matching_low", MEDIUM, "Matching Low: two black candles closing at the same price"),
    CandleInfo("CDLMATHOLD", "mat_hold", HIGH, "Mat Hold: a continuation after a short pause above the first candle"),
    CandleInfo("CDLMORNINGDOJISTAR", "morning_doji_star", HIGH, "Morning Doji Star: a black candle, a gapped-down doji, then a white candle"),
    CandleInfo("CDLMORNINGSTAR", "morning_star", HIGH, "Morning Star: a black candle, a gapped-down small body, then a white candle"),
    CandleInfo("CDLONNECK", "on_neck", MEDIUM, "On-Neck: a white candle closing at the previous black candle's low"),
    CandleInfo("CDLPIERCING", "piercing", MEDIUM, "Piercing: a white candle opening below and closing above the middle of a black body"),
    CandleInfo("CDLRICKSHAWMAN", "rickshaw_man", LOW, "Rickshaw Man: a long-legged doji with the body in the middle (indecision)", _N),
    CandleInfo("CDLRISEFALL3METHODS", "rising_falling_three_methods", HIGH, "Rising/Falling Three Methods: a pause of small candles inside a trend"),
    CandleInfo("CDLSEPARATINGLINES", "separating_lines", MEDIUM, "Separating Lines: an opposite candle opening at the previous open"),
    CandleInfo("CDLSHOOTINGSTAR", "shooting_star", MEDIUM, "Shooting Star: a small body near the low with a long upper shadow after a rise"),
    CandleInfo("CDLSHORTLINE", "short_line", LOW, "Short Line: a short body with short shadows (indecision)", _N),
    CandleInfo("CDLSPINNINGTOP", "spinning_top", LOW, "Spinning Top: a small body with shadows longer than the body (indecision)", _N),
    CandleInfo("CDLSTALLEDPATTERN", "stalled_pattern", MEDIUM, "Stalled Pattern: three white candles, the last small and near the top"),
    CandleInfo("CDLSTICKSANDWICH", "stick_sandwich", MEDIUM, "Stick Sandwich: two black candles with the same close around a white one"),
    CandleInfo("CDLTAKURI", "takuri", MEDIUM, "Takuri: a dragonfly doji with a very long lower shadow", _BULL),
    CandleInfo("CDLTASUKIGAP", "tasuki_gap", MEDIUM, "Tasuki Gap: a gap partially filled by the next candle"),
    CandleInfo("CDLTHRUSTING", "thrusting", MEDIUM, "Thrusting: a white candle closing into but below the middle of a black body"),
    CandleInfo("CDLTRISTAR", "tristar", MEDIUM, "Tristar: three doji, the middle one gapped"),
    CandleInfo("CDLUNIQUE3RIVER", "unique_three_river", MEDIUM, "Unique 3 River: a three-candle bottom reversal"),
    CandleInfo("CDLUPSIDEGAP2CROWS", "upside_gap_two_crows", MEDIUM, "Upside Gap Two Crows: two black candles after a gap up"),
    CandleInfo("CDLXSIDEGAP3METHODS", "xside_gap_three_methods", MEDIUM, "Up/Downside Gap Three Methods: a gap closed by an opposite candle"),
)

#: Every candlestick pattern, in TA-Lib's alphabetical order.
CANDLES: tuple[CandleInfo, ...] = _TABLE
CANDLE_BY_FUNC: dict[str, CandleInfo] = {c.func: c for c in CANDLES}
CANDLE_BY_NAME: dict[str, CandleInfo] = {c.name: c for c in CANDLES}

_missing = set(talib.get_function_groups()["Pattern Recognition"]) - set(CANDLE_BY_FUNC)  # type: ignore[no-untyped-call]
if _missing:  # pragma: no cover - a newer TA-Lib with more patterns
    CANDLES = CANDLES + tuple(
        CandleInfo(f, f[3:].lower(), MEDIUM, f"{f[3:].title()} (TA-Lib {f})") for f in sorted(_missing)
    )
    CANDLE_BY_FUNC = {c.func: c for c in CANDLES}
    CANDLE_BY_NAME = {c.name: c for c in CANDLES}


def candle_direction(info: CandleInfo, value: int) -> str:
    """Direction of a TA-Lib value (non-zero) for pattern ``info``."""
    if info.fixed_direction is not None:
        return info.fixed_direction
    return _BULL if value > 0 else _BEAR


def candle_strength(info: CandleInfo, value: int) -> float:
    """Strength 0–1 of a TA-Lib value (non-zero) for pattern ``info``."""
    size = abs(value)
    return min(1.0, info.reliability * (1.25 if size >= 200 else size / 100.0))


def candle_sign(info: CandleInfo, value: int) -> int:
    """+1 bullish, −1 bearish, 0 neutral (or no pattern)."""
    if value == 0:
        return 0
    d = candle_direction(info, value)
    return 1 if d == _BULL else (-1 if d == _BEAR else 0)
