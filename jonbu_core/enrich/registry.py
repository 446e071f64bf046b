"""The indicator catalogue: names, parameters, output keys, warm-up, spec parsing.

A spec string lists indicators with optional colon-separated parameters::

    "rsi:14,ema:50,bbands:20:2"

Missing parameters take their defaults; ``None`` (or ``""``/``"default"``) means
:data:`DEFAULT_SPEC`. Output keys follow CONTRACT.md: ``<prefix>_<params>`` and,
for multi-output indicators, ``<prefix>_<output>_<params>`` (``macd_signal_12_26_9``,
``bb_upper_20_2``). ``vwap`` and ``obv`` without a period are anchored (they restart
at each anchor period, see :mod:`jonbu_core.enrich.anchors`); with a period
(``vwap:20``, ``obv:20``) they are rolling over that many bars.

Warm-up: :attr:`IndicatorSpec.lookback` is TA-Lib's lookback (values before it are
null); :attr:`IndicatorSpec.unstable` is how many more bars an EMA-family
(recursive) indicator needs before the influence of its seed falls below 1e-12
relative, which :func:`jonbu_core.enrich.service.required_warmup` loads in front
of a requested range so that results do not depend on where the request starts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from jonbu_core.enrich.graph import Graph, Num
from jonbu_core.errors import InvalidInputError

#: Relative size below which a recursive indicator's seed no longer matters.
SEED_TOLERANCE = 1e-12
MAX_PERIOD = 500

ANCHORED_VWAP = "anchored:vwap"
ANCHORED_OBV = "anchored:obv"


def unstable_bars(alpha: float) -> int:
    """Bars after which an exponential smoother with weight ``alpha`` forgets its seed.

    The smallest ``k`` with ``(1 - alpha) ** k <= SEED_TOLERANCE``.
    """
    if alpha >= 1.0:
        return 0
    return math.ceil(math.log(SEED_TOLERANCE) / math.log(1.0 - alpha))


def _ema_alpha(n: Num) -> float:
    return 2.0 / (float(n) + 1.0)


def _wilder_alpha(n: Num) -> float:
    return 1.0 / float(n)


@dataclass(frozen=True)
class ParamDef:
    """One parameter of an indicator."""

    name: str
    kind: type
    default: Num | None
    lo: Num
    hi: Num


Builder = Callable[[Graph, tuple[Num, ...]], dict[str, str]]
"""Declares an indicator's nodes; returns output name -> series name."""


@dataclass(frozen=True)
class IndicatorDef:
    """A catalogue entry."""

    name: str
    prefix: str
    outputs: tuple[str, ...]
    params: tuple[ParamDef, ...]
    description: str
    build: Builder
    unstable: Callable[[tuple[Num, ...]], int] = lambda p: 0


@dataclass(frozen=True)
class IndicatorSpec:
    """A catalogue indicator with concrete parameters."""

    name: str
    params: tuple[Num, ...]

    @property
    def definition(self) -> IndicatorDef:
        """The catalogue entry."""
        return CATALOG[self.name]

    @property
    def label(self) -> str:
        """The spec string (``bbands:20:2``)."""
        return ":".join([self.name, *(_fmt(p) for p in self.params)])

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """Output keys, CONTRACT naming."""
        d = self.definition
        tail = "".join(f"_{_fmt(p)}" for p in self.params)
        return tuple(f"{d.prefix}{'_' + out if out else ''}{tail}" for out in d.outputs)

    def declare(self, graph: Graph) -> dict[str, str]:
        """Declare the nodes in ``graph``; returns key -> series name."""
        series = self.definition.build(graph, self.params)
        return {key: series[out] for key, out in zip(self.keys, self.definition.outputs, strict=True)}

    @cached_property
    def lookbacks(self) -> dict[str, int]:
        """Leading bars whose values are null, per output key."""
        g = Graph()
        mapping = self.declare(g)
        return {key: g.lookback.get(s, 0) for key, s in mapping.items()}

    @property
    def lookback(self) -> int:
        """Leading bars whose values are null (the longest of its outputs)."""
        return max(self.lookbacks.values())

    @property
    def unstable(self) -> int:
        """Extra bars a recursive indicator needs to forget its seed (0 for windowed ones)."""
        return self.definition.unstable(self.params)


def _fmt(p: Num) -> str:
    return f"{p:g}" if isinstance(p, float) else str(p)


# --- builders ---------------------------------------------------------------------------


def _single(func: str, inputs: tuple[str, ...]) -> Builder:
    def build(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
        return {"": g.ta1(func, inputs, p)}

    return build


def _b_macd(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    m, s, h = g.ta("MACD", ("close",), p)
    return {"": m, "signal": s, "hist": h}


def _b_stoch(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    k, d = g.ta("STOCH", ("high", "low", "close"), (p[0], p[1], 0, p[2], 0))
    return {"k": k, "d": d}


def _b_stochrsi(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    k, d = g.ta("STOCHRSI", ("close",), (p[0], p[1], p[2], 0))
    return {"k": k, "d": d}


def _b_adx(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    hlc = ("high", "low", "close")
    return {"": g.ta1("ADX", hlc, p), "plus_di": g.ta1("PLUS_DI", hlc, p),
            "minus_di": g.ta1("MINUS_DI", hlc, p)}


def _b_bbands(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    up, mid, lo = g.ta("BBANDS", ("close",), (p[0], float(p[1]), float(p[1]), 0))
    return {"upper": up, "middle": mid, "lower": lo,
            "pctb": g.op("pctb", ("close", lo, up)), "width": g.op("bbwidth", (lo, mid, up))}


def _b_keltner(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    up, mid, lo = g.ta("KC", ("high", "low", "close"), (p[0], p[2], float(p[1])))
    return {"upper": up, "middle": mid, "lower": lo}


def _b_obv(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    if not p:
        return {"": ANCHORED_OBV}
    return {"": g.ta1("SUM", ("sv",), p)}


def _b_vwap(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    if not p:
        return {"": ANCHORED_VWAP}
    return {"": g.op("ratio", (g.ta1("SUM", ("pv",), p), g.ta1("SUM", ("volume",), p)))}


def _b_chop(g: Graph, p: tuple[Num, ...]) -> dict[str, str]:
    tr = g.ta1("TRANGE", ("high", "low", "close"))
    s = g.ta1("SUM", (tr,), p)
    hh = g.ta1("MAX", ("high",), p)
    ll = g.ta1("MIN", ("low",), p)
    return {"": g.op("chop", (s, hh, ll), (float(p[0]),))}


def _period(default: int, lo: int = 2) -> ParamDef:
    return ParamDef("period", int, default, lo, MAX_PERIOD)


def _u_ema(i: int) -> Callable[[tuple[Num, ...]], int]:
    return lambda p: unstable_bars(_ema_alpha(p[i]))


def _u_wilder(factor: int = 1) -> Callable[[tuple[Num, ...]], int]:
    return lambda p: factor * unstable_bars(_wilder_alpha(p[0]))


HLC = ("high", "low", "close")

CATALOG: dict[str, IndicatorDef] = {
    d.name: d
    for d in (
        IndicatorDef("sma", "sma", ("",), (_period(20),), "simple moving average of the close",
                     _single("SMA", ("close",))),
        IndicatorDef("ema", "ema", ("",), (_period(20),), "exponential moving average of the close",
                     _single("EMA", ("close",)), _u_ema(0)),
        IndicatorDef("wma", "wma", ("",), (_period(20),), "linearly weighted moving average",
                     _single("WMA", ("close",))),
        IndicatorDef("macd", "macd", ("", "signal", "hist"),
                     (ParamDef("fast", int, 12, 2, MAX_PERIOD), ParamDef("slow", int, 26, 2, MAX_PERIOD),
                      ParamDef("signal", int, 9, 1, MAX_PERIOD)),
                     "MACD line, signal line and histogram", _b_macd,
                     lambda p: unstable_bars(_ema_alpha(max(p[0], p[1]))) + unstable_bars(_ema_alpha(p[2]))),
        IndicatorDef("rsi", "rsi", ("",), (_period(14),), "Wilder's relative strength index",
                     _single("RSI", ("close",)), _u_wilder()),
        IndicatorDef("stoch", "stoch", ("k", "d"),
                     (ParamDef("fastk", int, 14, 1, MAX_PERIOD), ParamDef("slowk", int, 3, 1, MAX_PERIOD),
                      ParamDef("slowd", int, 3, 1, MAX_PERIOD)),
                     "slow stochastic %K/%D (SMA smoothing)", _b_stoch),
        IndicatorDef("stochrsi", "stochrsi", ("k", "d"),
                     (_period(14), ParamDef("fastk", int, 14, 1, MAX_PERIOD),
                      ParamDef("fastd", int, 3, 1, MAX_PERIOD)),
                     "stochastic of the RSI: %K and its SMA %D", _b_stochrsi, _u_wilder()),
        IndicatorDef("willr", "willr", ("",), (_period(14),), "Williams %R", _single("WILLR", HLC)),
        IndicatorDef("cci", "cci", ("",), (_period(20),), "commodity channel index", _single("CCI", HLC)),
        IndicatorDef("roc", "roc", ("",), (_period(10, 1),), "rate of change of the close, in %",
                     _single("ROC", ("close",))),
        IndicatorDef("mfi", "mfi", ("",), (_period(14),), "money flow index",
                     _single("MFI", ("high", "low", "close", "volume"))),
        IndicatorDef("adx", "adx", ("", "plus_di", "minus_di"), (_period(14),),
                     "average directional index with +DI and -DI", _b_adx, _u_wilder(2)),
        IndicatorDef("bbands", "bb", ("upper", "middle", "lower", "pctb", "width"),
                     (_period(20), ParamDef("nbdev", float, 2.0, 0.1, 10.0)),
                     "Bollinger bands (SMA ± nbdev·σ), %B and bandwidth", _b_bbands),
        IndicatorDef("atr", "atr", ("",), (_period(14, 1),), "average true range (Wilder)",
                     _single("ATR", HLC), _u_wilder()),
        IndicatorDef("natr", "natr", ("",), (_period(14, 1),), "ATR in % of the close",
                     _single("NATR", HLC), _u_wilder()),
        IndicatorDef("keltner", "kc", ("upper", "middle", "lower"),
                     (_period(20), ParamDef("mult", float, 2.0, 0.1, 10.0),
                      ParamDef("atr_period", int, 10, 1, MAX_PERIOD)),
                     "Keltner channels: EMA of the typical price ± mult·ATR", _b_keltner,
                     lambda p: max(unstable_bars(_ema_alpha(p[0])), unstable_bars(_wilder_alpha(p[2])))),
        IndicatorDef("obv", "obv", ("",), (ParamDef("period", int, None, 1, MAX_PERIOD),),
                     "on-balance volume: anchored (no period) or rolling over a period", _b_obv),
        IndicatorDef("vol_sma", "vol_sma", ("",), (_period(20, 1),), "simple moving average of volume",
                     _single("SMA", ("volume",))),
        IndicatorDef("vwap", "vwap", ("",), (ParamDef("period", int, None, 1, MAX_PERIOD),),
                     "volume-weighted average price: anchored (no period) or rolling", _b_vwap),
        IndicatorDef("chop", "chop", ("",), (_period(14),), "choppiness index (0 trending … 100 choppy)",
                     _b_chop),
    )
}

ALIASES: dict[str, str] = {
    "bb": "bbands", "bollinger": "bbands", "kc": "keltner", "stochastic": "stoch",
    "volume_sma": "vol_sma", "vsma": "vol_sma", "williams": "willr", "wr": "willr",
    "choppiness": "chop",
}

#: The default set: every catalogue indicator at its default parameters, plus the
#: common SMA/EMA 50 and the rolling VWAP.
DEFAULT_SPEC = (
    "sma:20,sma:50,ema:20,ema:50,wma:20,macd:12:26:9,rsi:14,stoch:14:3:3,stochrsi:14:14:3,"
    "willr:14,cci:20,roc:10,mfi:14,adx:14,bbands:20:2,atr:14,natr:14,keltner:20:2:10,"
    "obv,vol_sma:20,vwap,vwap:20,chop:14"
)

_EXAMPLE = "e.g. rsi:14,ema:50,bbands:20:2"


def valid_names() -> list[str]:
    """Catalogue names, sorted."""
    return sorted(CATALOG)


def _bad(msg: str) -> InvalidInputError:
    return InvalidInputError(f"{msg}; valid indicators: {', '.join(valid_names())} ({_EXAMPLE})")


def _parse_param(text: str, pdef: ParamDef, item: str) -> Num:
    try:
        value: Num = float(text) if pdef.kind is float else int(text)
    except ValueError:
        raise _bad(f"indicator {item!r}: parameter {pdef.name} must be "
                   f"{'a number' if pdef.kind is float else 'an integer'}, got {text!r}") from None
    if not (pdef.lo <= value <= pdef.hi) or (isinstance(value, float) and not math.isfinite(value)):
        raise _bad(f"indicator {item!r}: parameter {pdef.name}={text} is outside [{pdef.lo}, {pdef.hi}]")
    return value


def _parse_item(item: str) -> IndicatorSpec:
    parts = [p.strip() for p in item.split(":")]
    name = ALIASES.get(parts[0].lower(), parts[0].lower())
    d = CATALOG.get(name)
    if d is None:
        raise _bad(f"unknown indicator {parts[0]!r}")
    given = parts[1:]
    if len(given) > len(d.params):
        raise _bad(f"indicator {item!r} takes at most {len(d.params)} parameter(s) "
                   f"({', '.join(p.name for p in d.params) or 'none'})")
    values: list[Num] = []
    for i, pdef in enumerate(d.params):
        if i < len(given) and given[i] != "":
            values.append(_parse_param(given[i], pdef, item))
        elif pdef.default is not None:
            values.append(pdef.default)
        elif i < len(d.params) - 1:
            raise _bad(f"indicator {item!r}: parameter {pdef.name} is required")
    if name == "macd" and values[0] >= values[1]:
        raise _bad(f"indicator {item!r}: the fast period must be shorter than the slow one")
    return IndicatorSpec(name, tuple(values))


def parse_indicator_spec(spec: str | None) -> list[IndicatorSpec]:
    """Parse ``"rsi:14,ema:50,bbands:20:2"`` into specs (``None`` → the default set).

    Parameters
    ----------
    spec : str or None
        Comma-separated ``name[:param...]`` items; case-insensitive; duplicates are
        dropped. ``None``, ``""`` or ``"default"`` select :data:`DEFAULT_SPEC`.

    Returns
    -------
    list of IndicatorSpec
        In the order given.

    Raises
    ------
    InvalidInputError
        For an unknown name or a bad parameter; the message lists the valid names.
    """
    if spec is None or not spec.strip() or spec.strip().lower() == "default":
        spec = DEFAULT_SPEC
    out: list[IndicatorSpec] = []
    seen: set[tuple[str, ...]] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        s = _parse_item(item)
        if s.keys not in seen:
            seen.add(s.keys)
            out.append(s)
    if not out:
        raise _bad("no indicator given")
    return out


def resolve_specs(specs: str | list[IndicatorSpec] | None) -> list[IndicatorSpec]:
    """Accept a spec string, a parsed list or ``None`` (default set)."""
    if specs is None or isinstance(specs, str):
        return parse_indicator_spec(specs)
    return list(specs)
