"""Exchange calendar: sessions, their open/close times and expected minutes.

Backed by ``exchange-calendars`` (XNYS by default). Calendars are cached per
process; loading one takes a few hundred milliseconds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from jonbu_core.errors import InvalidInputError
from jonbu_core.timeframe import EXCHANGE_TZ

_CAL_START = "1990-01-01"


@lru_cache(maxsize=4)
def get_calendar(name: str = "XNYS") -> Any:
    """The ``exchange_calendars`` calendar ``name`` (cached)."""
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(name, start=_CAL_START)
    except Exception as exc:  # unknown calendar name
        raise InvalidInputError(f"unknown exchange calendar {name!r}: {exc}") from exc


def _clip(cal: Any, start: date, end: date) -> tuple[date, date]:
    first = cal.first_session.date()
    last = cal.last_session.date()
    return max(start, first), min(end, last)


def sessions(start: date, end: date, exchange: str = "XNYS") -> list[date]:
    """Session dates in ``[start, end]`` (inclusive), ascending."""
    cal = get_calendar(exchange)
    s, e = _clip(cal, start, end)
    if s > e:
        return []
    return [d.date() for d in cal.sessions_in_range(pd.Timestamp(s), pd.Timestamp(e))]


def is_session(day: date, exchange: str = "XNYS") -> bool:
    """Whether ``day`` is a trading session."""
    return bool(sessions(day, day, exchange))


@lru_cache(maxsize=16384)
def session_bounds(day: date, exchange: str = "XNYS", extended: bool = False) -> tuple[datetime, datetime]:
    """UTC ``(open, close)`` of session ``day`` (04:00–20:00 ET when ``extended``).

    Raises
    ------
    InvalidInputError
        If ``day`` is not a session.
    """
    cal = get_calendar(exchange)
    ts = pd.Timestamp(day)
    if not cal.is_session(ts):
        raise InvalidInputError(f"{day} is not a {exchange} session")
    if extended:
        o = datetime(day.year, day.month, day.day, 4, tzinfo=EXCHANGE_TZ).astimezone(UTC)
        c = datetime(day.year, day.month, day.day, 20, tzinfo=EXCHANGE_TZ).astimezone(UTC)
        return o, c
    return (
        cal.session_open(ts).to_pydatetime().astimezone(UTC),
        cal.session_close(ts).to_pydatetime().astimezone(UTC),
    )


def session_minutes(day: date, exchange: str = "XNYS", extended: bool = False) -> np.ndarray:
    """Open times of every 1-minute bar of session ``day`` as ``datetime64[us]`` (UTC)."""
    o, c = session_bounds(day, exchange, extended)
    start = np.datetime64(o.replace(tzinfo=None), "us")
    n = int((c - o).total_seconds() // 60)
    return start + np.arange(n, dtype="int64") * np.timedelta64(60, "s")


def expected_minutes(start: date, end: date, exchange: str = "XNYS", extended: bool = False) -> np.ndarray:
    """All expected 1-minute bar open times of the sessions in ``[start, end]``."""
    days = sessions(start, end, exchange)
    if not days:
        return np.array([], dtype="datetime64[us]")
    return np.concatenate([session_minutes(d, exchange, extended) for d in days])


def session_label(day: date) -> datetime:
    """The ``1d`` bar label of session ``day``: midnight America/New_York, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=EXCHANGE_TZ).astimezone(UTC)


def exchange_date(ts: datetime) -> date:
    """The exchange-local date of ``ts`` (the session it belongs to)."""
    return ts.astimezone(EXCHANGE_TZ).date()


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` of exchange-local calendar day ``day``."""
    return session_label(day), session_label(day + timedelta(days=1))
