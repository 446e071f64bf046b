"""Client-side rate limiting and retries for provider requests.

* :class:`TokenBucket` — a thread-safe token bucket (``rate`` tokens per second,
  ``capacity`` burst); blocking :meth:`~TokenBucket.acquire`, non-blocking
  :meth:`~TokenBucket.try_acquire` and an asyncio :meth:`~TokenBucket.acquire_async`.
* :class:`RetryPolicy` — exponential backoff with full jitter, honouring a
  server's ``Retry-After`` (capped), and :func:`retry_call` / :func:`retry_call_async`
  which run a callable under it. Callers say what is retryable by raising
  :class:`Retryable` (anything else propagates at once).

Nothing here knows about HTTP libraries, so the streaming side can reuse it.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from jonbu_core.errors import ProviderError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TokenBucket:
    """A token bucket: at most ``capacity`` requests at once, refilled at ``rate``/s.

    Parameters
    ----------
    rate : float
        Tokens added per second (``requests_per_minute / 60``).
    capacity : float
        Bucket size (largest burst); starts full.
    clock : callable, optional
        Monotonic clock in seconds (tests inject a fake one).
    sleep : callable, optional
        Blocking sleep used by :meth:`acquire`.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError("rate must be a positive number")
        if not capacity >= 1:
            raise ValueError("capacity must be at least 1")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._stamp = clock()
        self._lock = threading.Lock()
        self.waited = 0.0
        """Total seconds spent waiting for tokens (for stats)."""

    @classmethod
    def per_minute(cls, requests_per_minute: int, burst: int | None = None) -> TokenBucket:
        """A bucket for ``requests_per_minute`` with a burst of ``burst``.

        The default burst is a twentieth of the per-minute budget (at least 1), so
        no 60-second window sees much more than the budget.
        """
        if requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be positive")
        cap = burst if burst is not None else max(1, requests_per_minute // 20)
        return cls(requests_per_minute / 60.0, max(1, cap))

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)

    def _reserve(self, tokens: float) -> float:
        """Take ``tokens`` (possibly going negative); the seconds to wait before using them."""
        if tokens > self.capacity:
            raise ValueError("cannot take more tokens than the bucket holds")
        with self._lock:
            self._refill()
            self._tokens -= tokens
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if available now; ``False`` (and nothing taken) otherwise."""
        with self._lock:
            self._refill()
            if self._tokens >= tokens:
                self._tokens -= tokens
                return True
            return False

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, sleeping until they are available; returns the seconds waited."""
        wait = self._reserve(tokens)
        if wait > 0:
            self.waited += wait
            self._sleep(wait)
        return wait

    async def acquire_async(self, tokens: float = 1.0) -> float:
        """Like :meth:`acquire` without blocking the event loop."""
        wait = self._reserve(tokens)
        if wait > 0:
            self.waited += wait
            await asyncio.sleep(wait)
        return wait


class Retryable(Exception):
    """Raised by an attempt to ask for another try.

    Parameters
    ----------
    reason : str
        What went wrong (kept for the final error message).
    retry_after : float, optional
        The server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    Attempt ``k`` (0-based) waits a uniform random time in
    ``[base * 2**k / 2, base * 2**k]`` capped at ``cap``; a server's
    ``Retry-After`` is a floor (itself capped at ``max_retry_after``).

    Attributes
    ----------
    max_attempts : int
        Total tries, the first included.
    base : float
        Backoff of the first retry, in seconds.
    cap : float
        Largest backoff.
    max_retry_after : float
        Largest ``Retry-After`` honoured (a longer one is cut to this).
    """

    max_attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        r = rng or random
        ceiling = min(self.cap, self.base * (2.0 ** max(0, attempt)))
        wait = ceiling * (0.5 + 0.5 * r.random())
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str = "request",
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, Retryable, float], None] | None = None,
) -> T:
    """Run ``fn`` until it returns, retrying when it raises :class:`Retryable`.

    Parameters
    ----------
    fn : callable
        One attempt. Raise :class:`Retryable` for a transient failure; any other
        exception propagates immediately.
    policy : RetryPolicy
        Attempts and backoff.
    what : str
        Names the operation in logs and the final error.
    sleep : callable
        Blocking sleep (tests inject one).
    on_retry : callable, optional
        Called with ``(attempt, error, wait)`` before each wait.

    Raises
    ------
    ProviderError
        When every attempt failed transiently.
    """
    last: Retryable | None = None
    for attempt in range(policy.max_attempts):
        try:
            return fn()
        except Retryable as exc:
            last = exc
            if attempt == policy.max_attempts - 1:
                break
            wait = policy.delay(attempt, exc.retry_after)
            logger.warning("%s failed (%s); retry %d/%d in %.2fs", what, exc.reason, attempt + 1,
                           policy.max_attempts - 1, wait)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            sleep(wait)
    reason = last.reason if last is not None else "no attempt made"
    raise ProviderError(f"{what} failed after {policy.max_attempts} attempts: {reason}")


async def retry_call_async(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str = "request",
    on_retry: Callable[[int, Retryable, float], None] | None = None,
) -> T:
    """The asyncio twin of :func:`retry_call` (``fn`` returns an awaitable)."""
    last: Retryable | None = None
    for attempt in range(policy.max_attempts):
        try:
            return await fn()
        except Retryable as exc:
            last = exc
            if attempt == policy.max_attempts - 1:
                break
            wait = policy.delay(attempt, exc.retry_after)
            logger.warning("%s failed (%s); retry %d/%d in %.2fs", what, exc.reason, attempt + 1,
                           policy.max_attempts - 1, wait)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            await asyncio.sleep(wait)
    reason = last.reason if last is not None else "no attempt made"
    raise ProviderError(f"{what} failed after {policy.max_attempts} attempts: {reason}")


__all__ = ["RetryPolicy", "Retryable", "TokenBucket", "parse_retry_after", "retry_call", "retry_call_async"]
