"""Parsing of user-supplied times (CLI options, query parameters)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from jonbu_core.errors import InvalidInputError
from jonbu_core.timeframe import EXCHANGE_TZ


def _parse(value: str | date | datetime) -> datetime | date:
    if isinstance(value, datetime | date):
        return value
    text = str(value).strip()
    if not text:
        raise InvalidInputError("empty date")
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise InvalidInputError(
            f"invalid date/time {value!r}: expected ISO 8601, e.g. 2024-01-02 or 2024-01-02T14:30:00Z"
        ) from None


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=EXCHANGE_TZ).astimezone(UTC)


def parse_start(value: str | date | datetime) -> datetime:
    """A range start: a date means the start of that exchange day; naive datetimes are UTC."""
    v = _parse(value)
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    return _day_start(v)


def parse_end(value: str | date | datetime) -> datetime:
    """A range end (exclusive): a date includes that whole exchange day."""
    v = _parse(value)
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    return _day_start(v + timedelta(days=1))


def parse_range(
    start: str | date | datetime | None, end: str | date | datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Parse ``start``/``end`` and check ``start < end``."""
    s = parse_start(start) if start is not None else None
    e = parse_end(end) if end is not None else None
    if s is not None and e is not None and s >= e:
        raise InvalidInputError(f"start ({s.isoformat()}) must be before end ({e.isoformat()})")
    return s, e


def parse_date(value: str | date) -> date:
    """Parse an ISO date (``2024-01-02``)."""
    v = _parse(value)
    if isinstance(v, datetime):
        return v.astimezone(EXCHANGE_TZ).date() if v.tzinfo else v.date()
    return v
