"""One pure-ASGI middleware: request id, access log, metrics and security headers.

Pure ASGI (not ``BaseHTTPMiddleware``) so streamed answers stay streamed and the
request id context variable is visible to the route and everything it logs.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jonbu_api.metrics import ApiMetrics
from jonbu_core.logging import request_id_var

access_log = logging.getLogger("jonbu_api.access")

_RID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    b"frame-ancestors 'none'"
)
_SPA_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' http: https: ws: wss:; "
    b"frame-ancestors 'none'; base-uri 'self'"
)
_COMMON: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def _csp_for(path: str) -> bytes:
    if path.startswith(("/api/", "/metrics")):
        return _API_CSP
    if path.startswith(("/docs", "/redoc")):
        return _DOCS_CSP
    return _SPA_CSP


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/ohlcv/{symbol}``), or a bucket for the rest."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "<unmatched>"


class ObservabilityMiddleware:
    """Request id, structured access log, Prometheus metrics and security headers.

    Parameters
    ----------
    app : ASGIApp
        The wrapped app.
    metrics : ApiMetrics
        Where request counts and latencies go.
    hsts : bool
        Also send ``Strict-Transport-Security`` (behind TLS).
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, hsts: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                text = value.decode("latin-1")
                rid = text if _RID_RE.match(text) else None
                break
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return

        t0 = time.perf_counter()
        status = 500
        path: str = scope.get("path", "")
        rid_b = rid.encode()
        self.metrics.in_flight.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers: list[Any] = list(message.get("headers", []))
                present = {h[0].lower() for h in headers}
                headers.append((b"x-request-id", rid_b))
                for k, v in _COMMON:
                    if k not in present:
                        headers.append((k, v))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", _csp_for(path)))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - t0
            route = route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "%s %s %d %.1fms", method, path, status, elapsed * 1000,
                    extra={
                        "method": method, "path": path, "route": route, "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": client[0] if client else None,
                    },
                )
            request_id_var.reset(token)


_SECRET_QS = re.compile(r"(?i)((?:api_key|apikey|token|access_token|key)=)[^&\s\"']+")


class RedactSecretsFilter(logging.Filter):
    """Blank API keys in query strings of log messages (uvicorn logs WebSocket URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = _SECRET_QS.sub(r"\1***", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                _SECRET_QS.sub(r"\1***", a) if isinstance(a, str) and "=" in a else a for a in args
            )
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactSecretsFilter` to uvicorn's loggers and ours (idempotent)."""
    for name in ("uvicorn.error", "uvicorn.access", "uvicorn", "jonbu_api"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in lg.filters):
            lg.addFilter(RedactSecretsFilter())
