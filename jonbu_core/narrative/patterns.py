"""Display names and one-line meanings of candlestick and chart patterns.

Keys are pattern names with everything but letters and digits removed, lower-cased,
so ``morning_star``, ``MorningStar`` and TA-Lib's ``CDLMORNINGSTAR`` all find the same
entry. A pattern we do not know is shown with its own name and the description the
enrichment attached to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_NON_ALNUM = re.compile(r"[^a-z0-9]")

#: key -> (display name, what it usually means)
PATTERNS: dict[str, tuple[str, str]] = {
    # ---- TA-Lib candlestick patterns
    "2crows": ("Two crows", "two black candles stall an uptrend; a bearish reversal warning"),
    "3blackcrows": ("Three black crows", "three long black candles closing lower each time; strong selling, a bearish reversal"),
    "3inside": ("Three inside up/down", "a harami confirmed by the third candle; a reversal in the direction of the break"),
    "3linestrike": ("Three-line strike", "three candles in a row erased by one long opposite candle; often a continuation"),
    "3outside": ("Three outside up/down", "an engulfing pattern confirmed by the next candle; a reversal signal"),
    "3starsinsouth": ("Three stars in the south", "shrinking black candles in a downtrend; selling is drying up, a bullish reversal"),
    "3whitesoldiers": ("Three white soldiers", "three long white candles closing higher each time; strong buying, a bullish reversal"),
    "abandonedbaby": ("Abandoned baby", "a doji gapped away from both neighbours; a sharp reversal"),
    "advanceblock": ("Advance block", "three white candles with shrinking bodies and long upper shadows; the rally is tiring"),
    "belthold": ("Belt hold", "a long candle opening at its extreme; momentum in its direction"),
    "breakaway": ("Breakaway", "a five-candle gap-and-reversal formation; the prior move is exhausted"),
    "closingmarubozu": ("Closing marubozu", "a long body closing at its extreme; the close was dominated by one side"),
    "concealbabyswall": ("Concealing baby swallow", "black candles swallowing a gap down; a bullish reversal"),
    "counterattack": ("Counterattack", "an opposite candle closing at the previous close; the move may reverse"),
    "darkcloudcover": ("Dark cloud cover", "a black candle opening above and closing deep into the previous white one; a bearish reversal"),
    "doji": ("Doji", "open and close are nearly equal; indecision between buyers and sellers"),
    "dojistar": ("Doji star", "a doji gapping away from a long candle; the trend may be stalling"),
    "dragonflydoji": ("Dragonfly doji", "a doji with a long lower shadow; buyers rejected the lows, often bullish"),
    "engulfing": ("Engulfing", "the body engulfs the previous candle's body; a reversal signal"),
    "eveningdojistar": ("Evening doji star", "a doji star topping an uptrend, then a black candle; a bearish reversal"),
    "eveningstar": ("Evening star", "a small candle topping an uptrend, then a black candle; a bearish reversal"),
    "gapsidesidewhite": ("Side-by-side white lines", "two similar white candles after a gap; the trend continues"),
    "gravestonedoji": ("Gravestone doji", "a doji with a long upper shadow; sellers rejected the highs, often bearish"),
    "hammer": ("Hammer", "a small body atop a long lower shadow: sellers were rejected, often a bullish reversal after a decline"),
    "hangingman": ("Hanging man", "a hammer shape after a rally; selling pressure is appearing, a bearish warning"),
    "harami": ("Harami", "a small body inside the previous long body; momentum is fading, a possible reversal"),
    "haramicross": ("Harami cross", "a doji inside the previous long body; strong indecision, a possible reversal"),
    "highwave": ("High-wave candle", "long shadows both ways around a small body; a volatile, undecided market"),
    "hikkake": ("Hikkake", "a failed inside-bar breakout; traders trapped on the wrong side, a move the other way"),
    "hikkakemod": ("Modified hikkake", "a failed inside-bar breakout with a confirming setup; a move the other way"),
    "homingpigeon": ("Homing pigeon", "a small black body inside a larger black one in a downtrend; a bullish reversal"),
    "identical3crows": ("Identical three crows", "three black candles each opening at the previous close; strong selling"),
    "inneck": ("In-neck", "a white candle closing just into the previous black one; the downtrend likely continues"),
    "invertedhammer": ("Inverted hammer", "a small body below a long upper shadow after a decline; buyers are testing higher, a possible bullish reversal"),
    "kicking": ("Kicking", "two opposite marubozu candles with a gap; a strong move in the direction of the second"),
    "kickingbylength": ("Kicking (by length)", "a kicking pattern led by the longer marubozu; a strong move in its direction"),
    "ladderbottom": ("Ladder bottom", "a run of black candles ended by a gap-up white one; a bullish reversal"),
    "longleggeddoji": ("Long-legged doji", "a doji with long shadows both ways; great indecision"),
    "longline": ("Long line candle", "a long body with short shadows; strong pressure in its direction"),
    "marubozu": ("Marubozu", "a body with no shadows; one side controlled the whole bar"),
    "matchinglow": ("Matching low", "two black candles closing at the same low; support, a possible bullish reversal"),
    "mathold": ("Mat hold", "a pause of small candles inside an uptrend; the uptrend continues"),
    "morningdojistar": ("Morning doji star", "a doji star at the bottom of a decline, then a white candle; a bullish reversal"),
    "morningstar": ("Morning star", "a small candle at the bottom of a decline, then a white candle; a bullish reversal"),
    "onneck": ("On-neck", "a white candle closing at the previous low; the downtrend likely continues"),
    "piercing": ("Piercing line", "a white candle opening lower and closing above the previous body's midpoint; a bullish reversal"),
    "rickshawman": ("Rickshaw man", "a long-legged doji with its body in the middle; indecision"),
    "risefall3methods": ("Rising/falling three methods", "a brief counter-move inside the trend; the trend continues"),
    "separatinglines": ("Separating lines", "opposite candles opening at the same price; the trend continues"),
    "shootingstar": ("Shooting star", "a small body below a long upper shadow after a rally: buyers were rejected, often a bearish reversal"),
    "shortline": ("Short line candle", "a short body with short shadows; a quiet bar"),
    "spinningtop": ("Spinning top", "a small body with shadows both ways; indecision"),
    "stalledpattern": ("Stalled pattern", "white candles with a shrinking last body; the rally is stalling"),
    "sticksandwich": ("Stick sandwich", "two black candles around a white one closing at the same level; support, bullish"),
    "takuri": ("Takuri", "a dragonfly doji with a very long lower shadow; buyers rejected the lows, bullish"),
    "tasukigap": ("Tasuki gap", "a gap partly filled by the next candle; the trend continues"),
    "thrusting": ("Thrusting", "a white candle closing into, but below the middle of, the previous black one; a weak bounce"),
    "tristar": ("Tristar", "three doji in a row; a major reversal warning"),
    "unique3river": ("Unique three river", "a rare three-candle bottom; a bullish reversal"),
    "upsidegap2crows": ("Upside gap two crows", "two black candles after a gap up; a bearish reversal warning"),
    "xsidegap3methods": ("Gap three methods", "a gap closed by the third candle; the trend continues"),
    # ---- chart patterns
    "rangebreakout": ("Range breakout", "the close broke above the recent trading range; buyers took control"),
    "rangebreakdown": ("Range breakdown", "the close broke below the recent trading range; sellers took control"),
    "breakout": ("Breakout", "the close broke above the recent range; buyers took control"),
    "breakdown": ("Breakdown", "the close broke below the recent range; sellers took control"),
    "doubletop": ("Double top", "two peaks at about the same price; resistance held twice, a bearish reversal"),
    "doublebottom": ("Double bottom", "two troughs at about the same price; support held twice, a bullish reversal"),
    "higherhighs": ("Higher highs", "swing highs and lows keep rising; an uptrend structure"),
    "higherhighslows": ("Higher highs and lows", "swing highs and lows keep rising; an uptrend structure"),
    "higherhighshigherlows": ("Higher highs and higher lows", "swing highs and lows keep rising; an uptrend structure"),
    "lowerlows": ("Lower lows", "swing highs and lows keep falling; a downtrend structure"),
    "lowerhighslows": ("Lower highs and lows", "swing highs and lows keep falling; a downtrend structure"),
    "lowerhighslowerlows": ("Lower highs and lower lows", "swing highs and lows keep falling; a downtrend structure"),
    "gapup": ("Gap up", "the bar opened above the previous high; strong buying interest"),
    "gapdown": ("Gap down", "the bar opened below the previous low; strong selling pressure"),
}

#: Spelled-out names (the enrichment's snake-case names) -> TA-Lib-style keys above.
ALIASES: dict[str, str] = {
    "twocrows": "2crows", "threeblackcrows": "3blackcrows", "threeinside": "3inside",
    "threelinestrike": "3linestrike", "threeoutside": "3outside",
    "threestarsinsouth": "3starsinsouth", "threewhitesoldiers": "3whitesoldiers",
    "concealingbabyswallow": "concealbabyswall", "gapsidebysidewhite": "gapsidesidewhite",
    "hikkakemodified": "hikkakemod", "identicalthreecrows": "identical3crows",
    "risingfallingthreemethods": "risefall3methods", "uniquethreeriver": "unique3river",
    "upsidegaptwocrows": "upsidegap2crows", "xsidegapthreemethods": "xsidegap3methods",
}

#: Plain-language keywords for a pattern (added to ``search_keywords``).
THEMES: dict[str, tuple[str, ...]] = {
    "hammer": ("reversal", "rejection of lows"),
    "invertedhammer": ("reversal",),
    "shootingstar": ("reversal", "rejection of highs"),
    "hangingman": ("reversal",),
    "engulfing": ("reversal",),
    "morningstar": ("reversal", "bottom"),
    "eveningstar": ("reversal", "top"),
    "doji": ("indecision",),
    "spinningtop": ("indecision",),
    "doubletop": ("reversal", "top", "resistance"),
    "doublebottom": ("reversal", "bottom", "support"),
    "rangebreakout": ("breakout",),
    "breakout": ("breakout",),
    "rangebreakdown": ("breakdown",),
    "breakdown": ("breakdown",),
    "gapup": ("gap",),
    "gapdown": ("gap",),
}


@lru_cache(maxsize=512)
def pattern_key(name: str) -> str:
    """Normalised lookup key of a pattern name (``CDLMORNINGSTAR`` -> ``morningstar``)."""
    key = _NON_ALNUM.sub("", name.lower())
    if key.startswith("cdl"):
        key = key[3:]
    return ALIASES.get(key, key)


@lru_cache(maxsize=512)
def display_name(name: str) -> str:
    """A readable name (``double_top`` -> ``Double top``)."""
    info = PATTERNS.get(pattern_key(name))
    if info is not None:
        return info[0]
    words = re.sub(r"[_\-]+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else "Pattern"


def meaning(name: str, fallback: str | None = None) -> str:
    """What the pattern usually means, in one line (``fallback`` when unknown)."""
    info = PATTERNS.get(pattern_key(name))
    if info is not None:
        return info[1]
    text = (fallback or "").strip().rstrip(".")
    return text or "a recognised price pattern"


def themes(name: str) -> tuple[str, ...]:
    """Extra search keywords for the pattern (``reversal``, ``breakout``…)."""
    return THEMES.get(pattern_key(name), ())


@dataclass(frozen=True, slots=True)
class PatternFact:
    """A pattern as narratives state it, with its phrases computed once."""

    name: str
    kind: str
    direction: str
    strength: float
    description: str
    display: str
    """Readable name (``Hammer``)."""
    meaning: str
    """One line on what it usually means (no ``;`` inside, so lists of patterns read well)."""
    keywords: tuple[str, ...]
    explanation: str
    """``Hammer (bullish candlestick pattern, strength 0.80): … .``"""

    @property
    def label(self) -> str:
        """``Hammer (bullish)`` (no direction shown for neutral patterns)."""
        if self.direction in ("bullish", "bearish"):
            return f"{self.display} ({self.direction})"
        return self.display


@lru_cache(maxsize=8192)
def pattern_fact(name: str, kind: str, direction: str, strength: float, description: str) -> PatternFact:
    """The (cached) :class:`PatternFact` of a detected pattern."""
    disp = display_name(name)
    mean = meaning(name, description).replace("; ", ", ")
    kw = [disp.lower()]
    if direction in ("bullish", "bearish"):
        kw.append(direction)
    kw.extend(themes(name))
    dir_word = f"{direction} " if direction in ("bullish", "bearish") else ""
    explanation = f"{disp} ({dir_word}{kind} pattern, strength {strength:.2f}): {mean}."
    return PatternFact(name, kind, direction, strength, description, disp, mean, tuple(kw), explanation)
