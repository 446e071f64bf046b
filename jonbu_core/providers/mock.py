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
them with :func:`jonbu_core.rollup.rollup`. Generation (:mod:`jonbu_core.providers.mock_gen`)
is vectorised per session (a session of one symbol takes a few milliseconds).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jonbu_core import calendar as cal
from jonbu_core.models import BAR_SCHEMA, TRADE_SCHEMA, normalize_symbol, to_utc
from jonbu_core.providers.mock_gen import (
    MOCK_SOURCE,
    REFERENCE_DAY,
    MockParams,
    Session,
    generate_session,
    params_for,
)
from jonbu_core.rollup import rollup
from jonbu_core.timeframe import BASE, parse_timeframe

if TYPE_CHECKING:
    from jonbu_core.settings import Settings

SESSION_CACHE = 256


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
        self._cache: OrderedDict[tuple[str, date], Session] = OrderedDict()
        self._lock = threading.Lock()

    def params(self, symbol: str) -> MockParams:
        """The parameters of ``symbol`` (a pure function of ``seed`` and symbol)."""
        return params_for(self.seed, normalize_symbol(symbol))

    # ------------------------------------------------------------ generation
    def _session(self, symbol: str, day: date) -> Session:
        key = (symbol, day)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        sess = generate_session(self.seed, symbol, day, self.exchange, self.extended_hours)
        with self._lock:
            self._cache[key] = sess
            while len(self._cache) > SESSION_CACHE:
                self._cache.popitem(last=False)
        return sess

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
    def _trade_table(symbol: str, s: Session, i: int, j: int) -> pa.Table:
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
    def _bars_1m(symbol: str, s: Session) -> pa.Table:
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
