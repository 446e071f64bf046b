"""Fixed parameters of context, chart patterns, levels, features and confidence.

They do not depend on the ``indicators=`` request, so the context, the feature
vector and the confidence mean the same thing in every response.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Params:
    """Fixed parameters of context, chart patterns, features and confidence."""

    atr: int = 14
    adx: int = 14
    chop: int = 14
    rsi: int = 14
    trend: int = 20
    """Bars of the trend regression."""
    range_bars: int = 20
    """Bars of the range whose breakout/breakdown is reported."""
    volume: int = 20
    """Bars of the volume average (relative volume)."""
    breakout_rvol: float = 1.5
    """Relative volume a breakout needs."""
    percentile: int = 100
    """Bars over which the volatility percentile ranks NATR."""
    norm_window: int = 100
    """Bars of the rolling min-max normalisation of unbounded features."""
    adx_trend: float = 25.0
    chop_trend: float = 50.0
    volatile_pct: float = 90.0
    """PERCENTRANK of NATR (0–100) at or above which the regime is ``volatile``."""
    r2_trend: float = 0.25
    swing: int = 3
    """Bars on each side of a swing pivot (a pivot is known ``swing`` bars later)."""
    pivot_memory: int = 250
    """Pivots older than this many bars are forgotten."""
    level_pivots: int = 12
    """How many of the latest pivots are clustered into levels."""
    level_tol_atr: float = 0.5
    """Pivots closer than this many ATRs join one level."""
    levels_shown: int = 3
    dt_tol_atr: float = 0.5
    """Double top/bottom: the two peaks differ by at most this many ATRs."""
    dt_depth_atr: float = 1.0
    """Double top/bottom: the trough between the peaks is at least this many ATRs deep."""
    dt_min_sep: int = 5
    dt_max_sep: int = 100
    dt_expiry: int = 50
    """Bars after the second peak within which the neckline must break."""


P = Params()
