"""Prometheus metrics of one app instance (its own registry, served at ``/metrics``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import (
    ProcessCollector as _ProcessCollector,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    """Every metric the API exports.

    A registry per instance, so several apps in one process (tests) do not clash.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        _ProcessCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "jonbu_http_requests", "HTTP requests by route template and status.",
            ["method", "route", "status"], registry=r,
        )
        self.latency = Histogram(
            "jonbu_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge("jonbu_http_requests_in_flight", "HTTP requests being served.", registry=r)
        self.rate_limited = Counter("jonbu_rate_limited", "Requests refused with 429.", registry=r)
        self.auth_failures = Counter(
            "jonbu_auth_failures", "Requests refused for a missing/invalid key or scope.", ["reason"], registry=r
        )
        self.ws_clients = Gauge("jonbu_ws_clients", "Connected WebSocket clients.", registry=r)
        self.ws_sent = Counter("jonbu_ws_messages_sent", "WebSocket messages sent to clients.", registry=r)
        self.ws_dropped = Counter(
            "jonbu_ws_messages_dropped", "Updates not sent: conflated partials or dropped for a slow client.",
            ["reason"], registry=r,
        )
        self.ws_disconnects = Counter(
            "jonbu_ws_disconnects", "WebSocket disconnects by reason.", ["reason"], registry=r
        )
        self.ws_received = Counter("jonbu_ws_messages_received", "Messages received from clients.", registry=r)
        self.bus_events = Counter("jonbu_bus_events", "Events received from the bus.", ["kind"], registry=r)
        self.store_query = Histogram(
            "jonbu_store_query_duration_seconds", "Time spent in store calls.", ["op"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.history_rows = Counter("jonbu_history_rows", "Bars served by history requests.", ["format"], registry=r)
        self._before_render: list[Callable[[], None]] = []
        self._extra: list[CollectorRegistry] = []

    def include(self, registry: CollectorRegistry) -> None:
        """Serve ``registry`` too (the in-process stream daemon's metrics under ``up``)."""
        self._extra.append(registry)

    def before_render(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` before every :meth:`render` (to bring counters kept elsewhere up to date)."""
        self._before_render.append(hook)

    @contextmanager
    def store_timer(self, op: str) -> Iterator[None]:
        """Time a store call."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.store_query.labels(op).observe(time.perf_counter() - t0)

    def render(self) -> bytes:
        """The Prometheus text format."""
        for hook in self._before_render:
            hook()
        return b"".join([generate_latest(self.registry), *(generate_latest(r) for r in self._extra)])
