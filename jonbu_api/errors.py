"""Domain errors → the contract's error JSON, in one place.

Every error answer of the API is ``{"error": {"code": "…", "message": "…"}}``
with a 4xx status (a 5xx is a bug, or a backend that is down). Route modules
raise :mod:`jonbu_core.errors` exceptions; the handlers here turn them into
responses, and :func:`error_responses` documents them in the OpenAPI document.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from jonbu_core.errors import (
    AuthError,
    ConfigError,
    ForbiddenError,
    InvalidInputError,
    JonbuError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    StoreError,
)

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The inside of an error answer."""

    code: str = Field(description="Stable machine-readable code (`not_found`, `invalid_input`…).")
    message: str = Field(description="What went wrong, for humans.")
    details: list[dict[str, Any]] | None = Field(
        default=None, description="Per-field problems of a rejected request, when there are several."
    )


class ErrorOut(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}}``."""

    error: ErrorBody


class UnavailableError(JonbuError):
    """A component the request needs is not installed or not running."""

    code = "unavailable"


class ConflictError(JonbuError):
    """The request clashes with the current state (a name already taken…)."""

    code = "conflict"


#: Status of every domain error class (the most specific class wins).
_STATUS: list[tuple[type[JonbuError], int]] = [
    (RateLimitedError, 429),
    (AuthError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (InvalidInputError, 422),
    (ConflictError, 409),
    (UnavailableError, 503),
    (StoreError, 503),
    (ProviderError, 502),
    (ConfigError, 500),
]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}

_DESCRIPTIONS = {
    401: "Missing or invalid API key.",
    403: "The API key lacks the scope this operation needs (admin).",
    404: "Not found.",
    409: "Conflict with the current state (e.g. the name is taken).",
    422: "Invalid input (symbol, timeframe, dates, limit…).",
    429: "Rate limited; retry after `Retry-After` seconds.",
    502: "The market-data provider failed.",
    503: "A backend (store, bus, search index) is unavailable.",
}


def status_of(exc: JonbuError) -> int:
    """HTTP status of a domain error."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_json(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The contract's error object."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Response:
    """A JSON error response."""
    return Response(
        orjson.dumps(error_json(code, message, details)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def headers_for(exc: JonbuError) -> dict[str, str]:
    """Extra headers of a domain error (``Retry-After``, ``WWW-Authenticate``)."""
    if isinstance(exc, RateLimitedError):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": 'Bearer realm="jonbu-ohlcv"'}
    return {}


async def _jonbu_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JonbuError)
    status = status_of(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return error_response(status, exc.code, exc.message, headers=headers_for(exc))


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = []
    for err in exc.errors():
        details.append({"field": _loc(err.get("loc", ())), "message": str(err.get("msg", "invalid"))})
    first = details[0] if details else {"field": "request", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}"
    return error_response(422, "invalid_input", message, details=details)


def _allowed_methods(request: Request) -> str | None:
    """Every method the routes of this path accept (Starlette lists only the first route's)."""
    methods: set[str] = set()
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return ", ".join(sorted(methods)) if methods else None


async def _http_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers or {})
    if status == 400:  # FastAPI's "error parsing the body": invalid input like any other
        status, message = 422, f"invalid request body: {message}"
    if status == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = allowed
    code = _HTTP_CODES.get(status, f"http_{status}")
    return error_response(status, code, message, headers=headers)


async def _unhandled(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal error (a bug: see the server log)")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that produce the contract's error JSON."""
    app.add_exception_handler(JonbuError, _jonbu_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unhandled)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting error answers."""
    return {
        s: {"model": ErrorOut, "description": _DESCRIPTIONS.get(s, "Error.")} for s in statuses
    }
