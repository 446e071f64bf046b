"""``Annotated`` dependencies: state, auth and rate limits, validated inputs.

Every dependency is ``async def``: FastAPI runs plain ``def`` dependencies in a worker
thread, a thread hop per request for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from starlette.requests import HTTPConnection

from jonbu_api.auth import Scope
from jonbu_api.schemas import DATE_PATTERN, SYMBOL_DOC, SYMBOL_PATTERN, TimeframeName
from jonbu_api.state import AppState
from jonbu_core.errors import AuthError, ForbiddenError, InvalidInputError, RateLimitedError
from jonbu_core.models import normalize_symbol
from jonbu_core.settings import Settings
from jonbu_core.stores.base import BarStore
from jonbu_core.timeframe import parse_timeframe
from jonbu_core.timeutil import parse_end, parse_start


async def get_state(conn: HTTPConnection) -> AppState:
    """The app's shared state (opened by the lifespan)."""
    state: AppState = conn.app.state.jonbu
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings_dep(state: StateDep) -> Settings:
    """The app's settings."""
    return state.settings


async def get_store(state: StateDep) -> BarStore:
    """The app's store."""
    return state.store


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[BarStore, Depends(get_store)]

# ----------------------------------------------------------------------- auth
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="ApiKey",
    description="An API key (`jonbu-ohlcv keys create NAME`).",
)
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer", description="The API key as a bearer token.")


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    name: str | None
    """Key name; ``None`` for anonymous callers (auth off)."""
    scope: Scope
    client: str


def client_address(conn: HTTPConnection) -> str:
    """The caller's address (as uvicorn resolved it, proxy headers included when trusted)."""
    return conn.client.host if conn.client else "unknown"


async def check_access(state: AppState, key: str | None, address: str) -> Principal:
    """Verify a key and take a rate-limit token.

    The bucket is the key's name when a valid key is given, else the address. With
    auth off every caller has the admin scope.

    Raises
    ------
    RateLimitedError
        Past the limit.
    AuthError
        Auth is on and the key is missing or invalid.
    """
    info = state.keys.verify(key) if key else None
    bucket = f"key:{info.name}" if info is not None else f"ip:{address}"
    retry = await state.limiter.hit(bucket)
    if retry is not None:
        state.metrics.rate_limited.inc()
        limit = state.settings.rate_limit
        raise RateLimitedError(f"rate limit of {limit} exceeded; retry in {retry:.1f}s", retry)
    if not state.auth_enabled:
        return Principal(info.name if info else None, "admin", address)
    if info is None:
        state.metrics.auth_failures.labels("invalid_key" if key else "missing_key").inc()
        if key:
            raise AuthError("invalid or revoked API key")
        raise AuthError("an API key is required: send X-API-Key: <key> or Authorization: Bearer <key>")
    return Principal(info.name, info.scope, address)


async def authenticate(
    request: Request,
    state: StateDep,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Any valid key (read scope), rate limited."""
    key = api_key or (bearer.credentials if bearer is not None else None)
    return await check_access(state, key, client_address(request))


ReadAccess = Annotated[Principal, Depends(authenticate)]


async def require_admin(principal: ReadAccess, state: StateDep) -> Principal:
    """A key with the admin scope."""
    if principal.scope != "admin":
        state.metrics.auth_failures.labels("forbidden").inc()
        raise ForbiddenError("this operation needs an API key with the admin scope")
    return principal


AdminAccess = Annotated[Principal, Depends(require_admin)]

# --------------------------------------------------------------------- inputs
SymbolPath = Annotated[
    str,
    Path(description=SYMBOL_DOC, pattern=SYMBOL_PATTERN, examples=["AAPL"]),
    AfterValidator(normalize_symbol),
]
SymbolQuery = Annotated[
    str | None,
    Query(description="Only this symbol. " + SYMBOL_DOC, pattern=SYMBOL_PATTERN),
]
TimeframeQuery = Annotated[TimeframeName, Query(description="Bar timeframe.")]
DateQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=DATE_PATTERN,
        description="ISO 8601 date (`2024-01-02`, a whole exchange day) or datetime "
        "(`2024-01-02T14:30:00Z`; naive means UTC).",
    ),
]

#: Longest range one request may cover, per timeframe (history and exports).
MAX_SPAN: dict[str, timedelta] = {
    "1m": timedelta(days=366), "5m": timedelta(days=3 * 366), "15m": timedelta(days=3 * 366),
    "30m": timedelta(days=5 * 366), "1h": timedelta(days=10 * 366), "4h": timedelta(days=10 * 366),
    "1d": timedelta(days=50 * 366), "1w": timedelta(days=50 * 366),
}
#: Longest range of an enriched request (the work is per bar, on demand).
MAX_ENRICH_SPAN: dict[str, timedelta] = {
    "1m": timedelta(days=31), "5m": timedelta(days=93), "15m": timedelta(days=183),
    "30m": timedelta(days=366), "1h": timedelta(days=2 * 366), "4h": timedelta(days=5 * 366),
    "1d": timedelta(days=30 * 366), "1w": timedelta(days=50 * 366),
}
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimeRange:
    """A validated ``[start, end)`` range."""

    start: datetime
    end: datetime
    end_given: bool

    def closed(self, timeframe: str, lateness: float = 0.0, now: datetime | None = None) -> bool:
        """Whether every bar of the range has closed (its answer can no longer change)."""
        if not self.end_given:
            return False
        now = now or datetime.now(UTC)
        tf = parse_timeframe(timeframe)
        return self.end + timedelta(seconds=lateness) <= tf.bucket(now)


def resolve_range(
    timeframe: str, start: str | None, end: str | None, spans: dict[str, timedelta] = MAX_SPAN,
) -> TimeRange:
    """Parse ``start``/``end`` and enforce the maximum span of ``timeframe``.

    ``end`` defaults to now; ``start`` to ``end`` minus the maximum span.

    Raises
    ------
    InvalidInputError
        For an unreadable date, ``start >= end`` or a span over the maximum.
    """
    span = spans[timeframe]
    e = parse_end(end) if end is not None else datetime.now(UTC)
    s = parse_start(start) if start is not None else e - span
    if not (_EARLIEST <= s <= _LATEST and _EARLIEST <= e <= _LATEST):
        raise InvalidInputError("dates must lie between 1970-01-02 and 2200-01-01")
    if s >= e:
        raise InvalidInputError(f"start ({s.isoformat()}) must be before end ({e.isoformat()})")
    if e - s > span:
        raise InvalidInputError(
            f"the range spans {(e - s).days} days; at most {span.days} days for timeframe {timeframe}"
        )
    return TimeRange(s, e, end is not None)
