"""A deterministic synthetic market: trades and bars that need no keys and no network.

Prices follow a geometric Brownian motion per symbol. Its drift, volatility, start
price, volume and trade rate come from a hash of ``(seed, symbol)``
(:meth:`MockMarket.params`). Day to day, the log price at each session's open is
a random walk of daily shocks anchored at :data:`REFERENCE_DAY` (where the
price is ``s0``); within a session the path is a Brownian bridge from the open
towards most of the next day's move, sampled at each trade and rounded to cents.

Trades happen only inside exchange sessions (:mod:`jonbu_core.calendar`; 09:30–16:00
ET, half days included, or 04:00–20:00 ET with ``extended_hours``), every regular
minute has at least one trade, and trade counts (hence volume) are U-shaped over
the day. Everything about a session is generated from an RNG seeded by
``(seed, symbol, session date)``, so the same session always gives the same trades,
whatever range is asked for, on any machine with the same NumPy.

1-minute bars are aggregated from those trades (first/max/min/last price, summed
size, trade count, volume-weighted price); higher timeframes are rolled up from
them with :func:`jonbu_core.rollup.rollup`. Generation is vectorised per session
(a session of one symbol takes about a millisecond).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core import calendar as cal
from jonbu_core.models import BAR_SCHEMA, TRADE_SCHEMA, normalize_symbol, to_utc
from jonbu_core.rollup import rollup
from jonbu_core.timeframe import BASE, parse_timeframe

if TYPE_CHECKING:
    from jonbu_core.settings import Settings

MOCK_SOURCE = "mock"
#: The day on which every symbol's open price is its ``s0``.
REFERENCE_DAY = date(2024, 1, 2)
_EPOCH = date(1990, 1, 1)
_LAST = date(2100, 12, 31)
_US_PER_MIN = 60_000_000
_DAY_YEARS = 1.0 / 365.25
_INTRADAY_SHARE = 0.8
"""Share of a day's move that happens during the regular session (the rest overnight)."""
_SESSION_CACHE = 256


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
class _Session:
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
def _params(seed: int, symbol: str) -> MockParams:
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
    p = _params(seed, symbol)
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
) -> _Session:
    """Trades over ``minute_us`` with ``counts`` per minute; log price a Brownian bridge from ``a`` to ``b``."""
    n = int(counts.sum())
    if len(minute_us) == 0:
        return _Session(*(np.array([], dtype=t) for t in ("i8", "f8", "f8", "i8", "i8", "i8")))
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
    return _Session(ts, price, size, ids, minute_us, counts)


class MockMarket:
    """The synthetic market.

    Parameters
    ----------
    seed : int
        Same seed, same market.
    exchange : str
        Exchange calendar (``XNYS``).
    extended_hours : bool
        Also trade 04:00–09:30 and 16:00–20:00 ET (thinly; minutes may be empty).
    """

    def __init__(self, seed: int = 42, exchange: str = "XNYS", extended_hours: bool = False) -> None:
        self.seed = int(seed)
        self.exchange = exchange
        self.extended_hours = bool(extended_hours)
        self._cache: OrderedDict[tuple[str, date], _Session] = OrderedDict()
        self._lock = threading.Lock()

    def params(self, symbol: str) -> MockParams:
        """The parameters of ``symbol`` (a pure function of ``seed`` and symbol)."""
        return _params(self.seed, normalize_symbol(symbol))

    # ------------------------------------------------------------ generation
    def _session(self, symbol: str, day: date) -> _Session:
        key = (symbol, day)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        sess = self._generate(symbol, day)
        with self._lock:
            self._cache[key] = sess
            while len(self._cache) > _SESSION_CACHE:
                self._cache.popitem(last=False)
        return sess

    def _generate(self, symbol: str, day: date) -> _Session:
        if not (_EPOCH < day < _LAST):
            raise ValueError(f"the mock market covers {_EPOCH} to {_LAST}, not {day}")
        p = _params(self.seed, symbol)
        key = _symbol_key(self.seed, symbol)
        rng = np.random.default_rng([self.seed, key, day.toordinal()])
        r_open, r_close = cal.session_bounds(day, self.exchange)
        anchors = _anchors(self.seed, symbol)
        idx = (day - _EPOCH).days
        a = float(anchors[idx])
        b = a + _INTRADAY_SHARE * float(anchors[idx + 1] - anchors[idx])
        sigma = 0.6 * p.volatility * np.sqrt(1.0 / 252.0)
        day_factor = float(np.exp(0.3 * rng.standard_normal() - 0.045))
        n_reg = int((r_close - r_open).total_seconds() // 60)
        lam = p.trades_per_minute * day_factor * _u_shape(n_reg)
        counts = 1 + rng.poisson(np.maximum(lam - 1.0, 0.0)).astype(np.int64)
        parts = [_trades(rng, _minutes(r_open, n_reg), counts, a, b, sigma, p.mean_size, 0)]
        if self.extended_hours:
            # Thin pre-market (drifting from yesterday's close to today's open) and
            # post-market, from an RNG of their own: regular trades stay the same.
            ext = np.random.default_rng([self.seed, key, day.toordinal(), 1])
            e_open, e_close = cal.session_bounds(day, self.exchange, extended=True)
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
        return _Session(
            ts_us=np.concatenate([x.ts_us for x in parts]),
            price=np.concatenate([x.price for x in parts]),
            size=np.concatenate([x.size for x in parts]),
            ids=base_id + np.concatenate([x.ids for x in parts]),
            minute_us=np.concatenate([x.minute_us for x in parts]),
            counts=np.concatenate([x.counts for x in parts]),
        )

    # ---------------------------------------------------------------- trades
    def _days(self, start: datetime, end: datetime, pad: int = 0) -> list[date]:
        first = cal.exchange_date(start) - timedelta(days=pad)
        last = cal.exchange_date(end - timedelta(microseconds=1))
        return cal.sessions(first, last, self.exchange) if first <= last else []

    def session_trades(self, symbol: str, day: date) -> pa.Table:
        """Every trade of session ``day`` (:data:`TRADE_SCHEMA`, ascending); empty off-session."""
        symbol = normalize_symbol(symbol)
        if not cal.is_session(day, self.exchange):
            return TRADE_SCHEMA.empty_table()
        s = self._session(symbol, day)
        return self._trade_table(symbol, s, 0, len(s.ts_us))

    @staticmethod
    def _trade_table(symbol: str, s: _Session, i: int, j: int) -> pa.Table:
        n = j - i
        ids = pc.cast(pa.array(s.ids[i:j]), pa.string())
        return pa.Table.from_arrays(
            [
                pa.repeat(pa.scalar(symbol, pa.string()), n),
                pa.array(s.ts_us[i:j], pa.timestamp("us", tz="UTC")),
                pa.array(s.price[i:j]),
                pa.array(s.size[i:j]),
                ids,
            ],
            schema=TRADE_SCHEMA,
        )

    def trades(self, symbol: str, start: datetime, end: datetime) -> Iterator[pa.RecordBatch]:
        """Trades of ``symbol`` in ``[start, end)``, one batch per session, ascending.

        Parameters
        ----------
        symbol : str
        start, end : datetime
            Timezone-aware (naive is taken as UTC); ``end`` exclusive.

        Yields
        ------
        pa.RecordBatch
            :data:`~jonbu_core.models.TRADE_SCHEMA` rows.
        """
        symbol = normalize_symbol(symbol)
        s_us, e_us = _us(start), _us(end)
        for day in self._days(to_utc(start), to_utc(end)):
            sess = self._session(symbol, day)
            i, j = np.searchsorted(sess.ts_us, [s_us, e_us], side="left")
            if j > i:
                yield from self._trade_table(symbol, sess, int(i), int(j)).to_batches()

    # ------------------------------------------------------------------ bars
    def session_bars(self, symbol: str, day: date) -> pa.Table:
        """The 1-minute bars of session ``day`` aggregated from its trades (:data:`BAR_SCHEMA`)."""
        symbol = normalize_symbol(symbol)
        if not cal.is_session(day, self.exchange):
            return BAR_SCHEMA.empty_table()
        return self._bars_1m(symbol, self._session(symbol, day))

    @staticmethod
    def _bars_1m(symbol: str, s: _Session) -> pa.Table:
        keep = s.counts > 0
        counts = s.counts[keep]
        if len(counts) == 0:
            return BAR_SCHEMA.empty_table()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        ends = starts + counts - 1
        price, size = s.price, s.size
        volume = np.add.reduceat(size, starts)
        pv = np.add.reduceat(price * size, starts)
        vwap = np.clip(pv / volume, np.minimum.reduceat(price, starts), np.maximum.reduceat(price, starts))
        n = len(counts)
        return pa.Table.from_arrays(
            [
                pa.repeat(pa.scalar(symbol, pa.string()), n),
                pa.repeat(pa.scalar(BASE.name, pa.string()), n),
                pa.array(s.minute_us[keep], pa.timestamp("us", tz="UTC")),
                pa.array(price[starts]),
                pa.array(np.maximum.reduceat(price, starts)),
                pa.array(np.minimum.reduceat(price, starts)),
                pa.array(price[ends]),
                pa.array(volume),
                pa.array(counts),
                pa.array(vwap),
                pa.repeat(pa.scalar(MOCK_SOURCE, pa.string()), n),
            ],
            schema=BAR_SCHEMA,
        )

    def bars(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> Iterator[pa.RecordBatch]:
        """Bars of ``symbol`` labelled in ``[start, end)``, ascending.

        1-minute bars aggregate the trades of :meth:`trades`; other timeframes are
        rolled up from them (whole sessions, whole weeks for ``1w``), so a bar's
        values never depend on the range asked for.

        Yields
        ------
        pa.RecordBatch
            :data:`~jonbu_core.models.BAR_SCHEMA` rows, ``source`` = ``mock``; one
            batch per session for intraday timeframes, up to 256 rows otherwise.
        """
        symbol = normalize_symbol(symbol)
        tf = parse_timeframe(timeframe)
        start, end = to_utc(start), to_utc(end)
        lo, hi = pa.scalar(start, pa.timestamp("us", tz="UTC")), pa.scalar(end, pa.timestamp("us", tz="UTC"))
        if tf.is_intraday:
            for day in self._days(start, end):
                table = self._bars_1m(symbol, self._session(symbol, day))
                if tf.name != BASE.name:
                    table = rollup(table, tf)
                table = _between(table, lo, hi)
                if table.num_rows:
                    yield from table.to_batches()
            return
        pending: list[pa.Table] = []
        rows = 0
        for group in self._groups(start, end, weekly=tf.name == "1w"):
            minutes = pa.concat_tables([self._bars_1m(symbol, self._session(symbol, d)) for d in group])
            table = _between(rollup(minutes, tf), lo, hi)
            if table.num_rows:
                pending.append(table)
                rows += table.num_rows
            if rows >= 256:
                yield from pa.concat_tables(pending).combine_chunks().to_batches()
                pending, rows = [], 0
        if pending:
            yield from pa.concat_tables(pending).combine_chunks().to_batches()

    def _groups(self, start: datetime, end: datetime, weekly: bool) -> Iterator[list[date]]:
        days = self._days(start - timedelta(days=1), end + timedelta(days=1), pad=7 if weekly else 0)
        if not weekly:
            for d in days:
                yield [d]
            return
        week: list[date] = []
        for d in days:
            if week and d.isocalendar()[:2] != week[0].isocalendar()[:2]:
                yield week
                week = []
            week.append(d)
        if week:
            yield week


def _us(ts: datetime) -> int:
    ts = to_utc(ts)
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _between(table: pa.Table, lo: pa.Scalar, hi: pa.Scalar) -> pa.Table:
    ts = table.column("ts")
    mask = pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi))
    return table.filter(mask)


class MockProvider:
    """:class:`~jonbu_core.providers.base.HistoryProvider` over :class:`MockMarket`.

    Bars and trades later than the current time are never returned (a bar is
    returned once its period is over), so the mock history never runs ahead of the
    live mock feed.

    Parameters
    ----------
    settings : Settings
        ``mock_seed`` and ``exchange`` are used.
    extended_hours : bool
        Include pre- and post-market trading.
    """

    name = "mock"
    source = MOCK_SOURCE

    def __init__(self, settings: Settings, *, extended_hours: bool = False) -> None:
        self.market = MockMarket(settings.mock_seed, settings.exchange, extended_hours)

    def bars(
        self, symbols: Sequence[str], timeframe: str, start: datetime, end: datetime
    ) -> Iterator[pa.RecordBatch]:
        """Bars of each symbol in turn (see :meth:`MockMarket.bars`)."""
        tf = parse_timeframe(timeframe)
        end = min(to_utc(end), tf.bucket(datetime.now(UTC)))
        for symbol in symbols:
            if to_utc(start) < end:
                yield from self.market.bars(symbol, tf.name, start, end)

    def trades(self, symbol: str, start: datetime, end: datetime) -> Iterator[pa.RecordBatch]:
        """Trades up to now (see :meth:`MockMarket.trades`)."""
        end = min(to_utc(end), datetime.now(UTC))
        if to_utc(start) < end:
            yield from self.market.trades(symbol, start, end)

    def close(self) -> None:
        """Nothing to release."""


__all__ = ["MOCK_SOURCE", "REFERENCE_DAY", "MockMarket", "MockParams", "MockProvider"]
