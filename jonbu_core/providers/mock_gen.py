"""Generation of the synthetic market's sessions (see :mod:`jonbu_core.providers.mock`).

Pure functions of ``(seed, symbol, session)``: :func:`params_for` gives a symbol's
parameters, :func:`generate_session` every trade of one session.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import numpy as np

from jonbu_core import calendar as cal

MOCK_SOURCE = "mock"
#: The day on which every symbol's open price is its ``s0``.
REFERENCE_DAY = date(2024, 1, 2)
_EPOCH = date(1990, 1, 1)
_LAST = date(2100, 12, 31)
_US_PER_MIN = 60_000_000
_DAY_YEARS = 1.0 / 365.25
_INTRADAY_SHARE = 0.8
"""Share of a day's move that happens during the regular session (the rest overnight)."""


@dataclass(frozen=True)
class MockParams:
    """The parameters of one symbol's synthetic market.

    Attributes
    ----------
    symbol : str
    s0 : float
        Open price on :data:`REFERENCE_DAY`.
    drift : float
        Annual drift of the log price.
    volatility : float
        Annual volatility.
    base_volume : float
        Average shares traded per regular session.
    trades_per_minute : float
        Average trades per regular-session minute.
    """

    symbol: str
    s0: float
    drift: float
    volatility: float
    base_volume: float
    trades_per_minute: float

    @property
    def mean_size(self) -> float:
        """Average trade size implied by volume and trade rate."""
        return self.base_volume / (self.trades_per_minute * 390.0)


@dataclass(frozen=True)
class Session:
    """Generated trades of one session (sorted by time) and their 1-minute grouping."""

    ts_us: np.ndarray
    price: np.ndarray
    size: np.ndarray
    ids: np.ndarray
    minute_us: np.ndarray
    counts: np.ndarray


def _unit_floats(seed: int, symbol: str) -> np.ndarray:
    digest = hashlib.blake2b(f"jonbu-mock:{seed}:{symbol}".encode(), digest_size=48).digest()
    ints = np.frombuffer(digest, dtype=">u8").astype(np.float64)
    return np.asarray(ints / 2.0**64)


def _symbol_key(seed: int, symbol: str) -> int:
    digest = hashlib.blake2b(f"jonbu-mock-rng:{seed}:{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@lru_cache(maxsize=512)
def params_for(seed: int, symbol: str) -> MockParams:
    u = _unit_floats(seed, symbol)
    return MockParams(
        symbol=symbol,
        s0=round(float(np.exp(np.log(15.0) + u[0] * (np.log(600.0) - np.log(15.0)))), 2),
        drift=round(float(-0.05 + 0.25 * u[1]), 4),
        volatility=round(float(0.15 + 0.40 * u[2]), 4),
        base_volume=float(round(np.exp(np.log(2e6) + u[3] * (np.log(6e7) - np.log(2e6))), -3)),
        trades_per_minute=round(float(12.0 + 40.0 * u[4]), 2),
    )


@lru_cache(maxsize=64)
def _anchors(seed: int, symbol: str) -> np.ndarray:
    """Log open price per calendar day from :data:`_EPOCH` to :data:`_LAST`."""
    p = params_for(seed, symbol)
    n = (_LAST - _EPOCH).days + 2
    rng = np.random.default_rng([seed, _symbol_key(seed, symbol), 0])
    walk = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n - 1))])
    days = np.arange(n, dtype=np.float64) - float((REFERENCE_DAY - _EPOCH).days)
    ref = (REFERENCE_DAY - _EPOCH).days
    mu = (p.drift - 0.5 * p.volatility**2) * _DAY_YEARS
    return np.asarray(np.log(p.s0) + mu * days + p.volatility * np.sqrt(_DAY_YEARS) * (walk - walk[ref]))


def _u_shape(n_regular: int) -> np.ndarray:
    x = (np.arange(n_regular, dtype=np.float64) + 0.5) / max(n_regular, 1)
    w = 1.0 + 3.0 * (2.0 * x - 1.0) ** 2
    return np.asarray(w / w.mean())


def _minutes(first: datetime, n: int) -> np.ndarray:
    return int(first.timestamp()) * 1_000_000 + np.arange(n, dtype=np.int64) * _US_PER_MIN


def _trades(
    rng: np.random.Generator,
    minute_us: np.ndarray,
    counts: np.ndarray,
    a: float,
    b: float,
    sigma: float,
    mean_size: float,
    id_base: int,
) -> Session:
    """Trades over ``minute_us`` with ``counts`` per minute; log price a Brownian bridge from ``a`` to ``b``."""
    n = int(counts.sum())
    if len(minute_us) == 0:
        return Session(*(np.array([], dtype=t) for t in ("i8", "f8", "f8", "i8", "i8", "i8")))
    first = int(minute_us[0])
    ts = np.sort(np.repeat(minute_us, counts) + rng.integers(0, _US_PER_MIN, size=n, dtype=np.int64))
    u = (ts - first) / float(len(minute_us) * _US_PER_MIN)
    du = np.diff(np.concatenate([[0.0], u, [1.0]]))
    w = np.cumsum(rng.standard_normal(n + 1) * np.sqrt(np.maximum(du, 0.0)))
    price = np.maximum(np.round(np.exp(a + u * (b - a) + sigma * (w[:n] - u * w[n])), 2), 0.01)
    size = np.maximum(1.0, np.round(rng.lognormal(0.0, 0.8, size=n) * mean_size / np.exp(0.32)))
    lots = rng.random(n) < 0.25
    size[lots] = np.maximum(100.0, np.round(size[lots] / 100.0) * 100.0)
    ids = id_base + np.arange(n, dtype=np.int64)
    return Session(ts, price, size, ids, minute_us, counts)


def generate_session(seed: int, symbol: str, day: date, exchange: str = "XNYS", extended: bool = False) -> Session:
    """Every trade of session ``day`` of ``symbol`` (sorted), from an RNG seeded by (seed, symbol, day).

    Raises
    ------
    InvalidInputError
        If ``day`` is not a session of ``exchange``.
    ValueError
        Outside the market's span (1990–2100).
    """
    if not (_EPOCH < day < _LAST):
        raise ValueError(f"the mock market covers {_EPOCH} to {_LAST}, not {day}")
    p = params_for(seed, symbol)
    key = _symbol_key(seed, symbol)
    rng = np.random.default_rng([seed, key, day.toordinal()])
    r_open, r_close = cal.session_bounds(day, exchange)
    anchors = _anchors(seed, symbol)
    idx = (day - _EPOCH).days
    a = float(anchors[idx])
    b = a + _INTRADAY_SHARE * float(anchors[idx + 1] - anchors[idx])
    sigma = 0.6 * p.volatility * np.sqrt(1.0 / 252.0)
    day_factor = float(np.exp(0.3 * rng.standard_normal() - 0.045))
    n_reg = int((r_close - r_open).total_seconds() // 60)
    lam = p.trades_per_minute * day_factor * _u_shape(n_reg)
    counts = 1 + rng.poisson(np.maximum(lam - 1.0, 0.0)).astype(np.int64)
    parts = [_trades(rng, _minutes(r_open, n_reg), counts, a, b, sigma, p.mean_size, 0)]
    if extended:
        # Thin pre-market (drifting from yesterday's close to today's open) and
        # post-market, from an RNG of their own: regular trades stay the same.
        ext = np.random.default_rng([seed, key, day.toordinal(), 1])
        e_open, e_close = cal.session_bounds(day, exchange, extended=True)
        prev = a - (1.0 - _INTRADAY_SHARE) * float(anchors[idx] - anchors[idx - 1])
        thin = 0.04 * p.trades_per_minute * day_factor
        n_pre = int((r_open - e_open).total_seconds() // 60)
        n_post = int((e_close - r_close).total_seconds() // 60)
        pre = _trades(ext, _minutes(e_open, n_pre), ext.poisson(thin, n_pre).astype(np.int64),
                      prev, a, sigma * 0.5, p.mean_size * 0.5, 8_000_000)
        post = _trades(ext, _minutes(r_close, n_post), ext.poisson(thin, n_post).astype(np.int64),
                       b, b, sigma * 0.5, p.mean_size * 0.5, 9_000_000)
        parts = [pre, parts[0], post]
    base_id = day.year * 10**11 + day.month * 10**9 + day.day * 10**7
    return Session(
        ts_us=np.concatenate([x.ts_us for x in parts]),
        price=np.concatenate([x.price for x in parts]),
        size=np.concatenate([x.size for x in parts]),
        ids=base_id + np.concatenate([x.ids for x in parts]),
        minute_us=np.concatenate([x.minute_us for x in parts]),
        counts=np.concatenate([x.counts for x in parts]),
    )


__all__ = ["MOCK_SOURCE", "REFERENCE_DAY", "MockParams", "Session", "generate_session", "params_for"]
