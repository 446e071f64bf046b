"""Timeframes and bucketing.

One rule everywhere (DESIGN.md): bars are labelled by their open time in UTC and
cover ``[ts, ts + timeframe)``. Intraday buckets (and ``4h``) are aligned to the
UTC epoch, as Alpaca and DuckDB's ``time_bucket`` do. A ``1d`` bar is one
exchange session labelled by the session date at midnight America/New_York
(Alpaca's convention); a ``1w`` bar starts on the Monday of its week at
midnight America/New_York.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from jonbu_core.errors import InvalidInputError

EXCHANGE_TZ = ZoneInfo("America/New_York")

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar duration such as ``1m`` or ``1d``.

    Attributes
    ----------
    name : str
        The canonical name (``1m 5m 15m 30m 1h 4h 1d 1w``).
    seconds : int
        Nominal length in seconds (a ``1d`` bar is nominally 86,400 s).
    """

    name: str
    seconds: int

    @property
    def is_intraday(self) -> bool:
        """True for timeframes aligned to the UTC epoch (below one day)."""
        return self.seconds < 86400

    @property
    def delta(self) -> timedelta:
        """Nominal length as a ``timedelta``."""
        return timedelta(seconds=self.seconds)

    @property
    def polars_every(self) -> str:
        """The duration string Polars uses for this timeframe (``5m`` -> ``5m``)."""
        return {"m": f"{self.seconds // 60}m", "h": f"{self.seconds // 3600}h"}.get(
            self.name[-1], self.name
        )

    def bucket(self, ts: datetime) -> datetime:
        """The open time (UTC) of the bar that contains ``ts``.

        Parameters
        ----------
        ts : datetime
            A timezone-aware timestamp.

        Returns
        -------
        datetime
            The bar's label, timezone-aware UTC.
        """
        if ts.tzinfo is None:
            raise InvalidInputError("timestamps must be timezone-aware (UTC)")
        if self.is_intraday:
            epoch = int(ts.timestamp() // self.seconds) * self.seconds
            return datetime.fromtimestamp(epoch, tz=UTC)
        local = ts.astimezone(EXCHANGE_TZ)
        day = local.date()
        if self.name == "1w":
            day = day - timedelta(days=day.weekday())
        midnight = datetime(day.year, day.month, day.day, tzinfo=EXCHANGE_TZ)
        return midnight.astimezone(UTC)

    def bucket_ns(self, ts_ns: int) -> int:
        """Bucket an integer epoch-nanosecond timestamp (intraday timeframes only)."""
        step = self.seconds * 1_000_000_000
        return ts_ns - ts_ns % step

    def next_open(self, label: datetime) -> datetime:
        """The label of the following bar (handles DST for ``1d``/``1w``)."""
        if self.is_intraday:
            return label + self.delta
        local = label.astimezone(EXCHANGE_TZ).date() + timedelta(days=7 if self.name == "1w" else 1)
        return datetime(local.year, local.month, local.day, tzinfo=EXCHANGE_TZ).astimezone(UTC)

    def __str__(self) -> str:
        return self.name


TIMEFRAMES: dict[str, Timeframe] = {
    name: Timeframe(name, int(name[:-1]) * _UNITS[name[-1]])
    for name in ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
}
STREAM_TIMEFRAMES: tuple[str, ...] = ("1m", "5m", "15m", "1h", "1d")
BASE = TIMEFRAMES["1m"]

_ALIASES = {"1min": "1m", "60m": "1h", "1hour": "1h", "1day": "1d", "d": "1d", "1week": "1w",
            "240m": "4h", "5min": "5m", "15min": "15m", "30min": "30m"}


def parse_timeframe(value: str | Timeframe) -> Timeframe:
    """Parse a timeframe name (``1m 5m 15m 30m 1h 4h 1d 1w``; a few aliases too).

    Raises
    ------
    InvalidInputError
        For anything else, listing the valid names.
    """
    if isinstance(value, Timeframe):
        return value
    key = str(value).strip().lower()
    key = _ALIASES.get(key, key)
    tf = TIMEFRAMES.get(key)
    if tf is None:
        raise InvalidInputError(
            f"unknown timeframe {value!r}; expected one of {', '.join(TIMEFRAMES)}"
        )
    return tf
