"""Prometheus metrics of the stream daemon (a registry per daemon).

``jonbu-ohlcv stream`` serves them on ``JONBU_STREAM_METRICS_PORT`` when set; an
in-process host (``jonbu-ohlcv up``) can expose ``daemon.metrics.registry`` or
append :meth:`StreamMetrics.render` to its own ``/metrics``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LAT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class StreamMetrics:
    """Every metric the daemon exports; counters advance from the daemon's totals."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.trades = Counter("jonbu_stream_trades", "Trades received, by result.", ["result"], registry=r)
        self.events_per_s = Gauge("jonbu_stream_events_per_second", "Trades per second (last seconds).", registry=r)
        self.lag = Gauge("jonbu_stream_lag_seconds", "Wall clock minus the latest trade's event time.", registry=r)
        self.queue = Gauge("jonbu_stream_queue_depth", "Items waiting in the daemon's queues.", ["queue"], registry=r)
        self.dropped = Counter("jonbu_stream_dropped", "Updates dropped by queue policy.", ["what"], registry=r)
        self.reconnects = Counter("jonbu_stream_reconnects", "Feed reconnects.", registry=r)
        self.bars_closed = Counter("jonbu_stream_bars_closed", "Bars closed.", registry=r)
        self.revisions = Counter("jonbu_stream_revisions", "Revisions of closed bars.", registry=r)
        self.backfilled = Counter("jonbu_stream_backfilled_bars", "1m bars recovered from REST.", registry=r)
        self.feed_errors = Counter("jonbu_stream_feed_errors", "Error frames from the feed.", ["code"], registry=r)
        self.latency = Histogram("jonbu_stream_trade_to_bus_seconds", "Trade event time to bus publication.",
                                 buckets=_LAT_BUCKETS, registry=r)
        self.connected = Gauge("jonbu_stream_feed_connected", "1 while the feed is connected.", registry=r)
        self._seen: dict[str, float] = {}
        self._latency_pending: list[np.ndarray] = []

    def observe_latency(self, seconds: np.ndarray) -> None:
        """Queue trade-to-bus latencies for the histogram (added by :meth:`flush_latency`).

        The stream records a few per frame; a Prometheus ``observe`` each (a lock and a
        Python loop over the buckets) was measurable on the per-frame path.
        """
        self._latency_pending.append(seconds)
        if len(self._latency_pending) >= 10_000:  # nobody updates the metrics (no stats task): stay bounded
            self.flush_latency()

    def flush_latency(self) -> None:
        """Add the queued latencies to the histogram: one increment per bucket, not per value."""
        if not self._latency_pending:
            return
        vals = np.maximum(np.concatenate(self._latency_pending), 0.0)
        self._latency_pending = []
        h = self.latency
        try:
            bounds, buckets, total = h._upper_bounds, h._buckets, h._sum  # what observe() updates
        except AttributeError:  # another prometheus_client: one observe per value
            for v in vals.tolist():
                h.observe(v)
            return
        # observe(v) counts v in the first bucket whose upper bound is >= v.
        counts = np.bincount(np.searchsorted(np.asarray(bounds, np.float64), vals, side="left"),
                             minlength=len(buckets))
        for i, c in enumerate(counts.tolist()):
            if c:
                buckets[i].inc(c)
        total.inc(float(vals.sum()))

    def _advance(self, counter: Any, key: str, total: float) -> None:
        prev = self._seen.get(key, 0.0)
        if total > prev:
            counter.inc(total - prev)
        self._seen[key] = max(prev, total)

    def update(self, s: dict[str, Any]) -> None:
        """Bring the metrics up to a status object of :meth:`StreamDaemon.status` (and add queued latencies)."""
        self.flush_latency()
        t = s.get("trades", {})
        for k in ("accepted", "late", "invalid"):
            self._advance(self.trades.labels(k), f"trades.{k}", float(t.get(k, 0)))
        self.events_per_s.set(float(s.get("throughput", {}).get("trades_per_s", 0.0)))
        if s.get("lag_s") is not None:
            self.lag.set(float(s["lag_s"]))
        for k, v in s.get("queues", {}).items():
            self.queue.labels(k).set(float(v))
        for k, v in s.get("dropped", {}).items():
            self._advance(self.dropped.labels(k), f"dropped.{k}", float(v))
        feed = s.get("feed", {})
        self._advance(self.reconnects, "reconnects", float(feed.get("reconnects", 0)))
        for code, v in (feed.get("errors") or {}).items():
            self._advance(self.feed_errors.labels(str(code)), f"err.{code}", float(v))
        self.connected.set(1.0 if feed.get("connected") else 0.0)
        self._advance(self.bars_closed, "bars_closed", float(s.get("bars_closed", 0)))
        self._advance(self.revisions, "revisions", float(s.get("revisions", 0)))
        self._advance(self.backfilled, "backfilled", float(s.get("backfill", {}).get("bars", 0)))

    def render(self) -> bytes:
        """The Prometheus text format."""
        self.flush_latency()
        return generate_latest(self.registry)


__all__ = ["StreamMetrics"]
