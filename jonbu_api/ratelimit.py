"""Rate limits: a token bucket per API key (or per client address).

``JONBU_RATE_LIMIT=600/minute`` gives every caller a bucket of 600 tokens that
refills at 10 per second; a request takes one token, and an empty bucket answers
429 with ``Retry-After``. Buckets live in memory (one process) or in Redis (shared
by every replica; an atomic Lua script on Redis' own clock), chosen by
``JONBU_RATE_LIMIT_BACKEND`` (``auto``: Redis when ``JONBU_BUS=redis``). When Redis
cannot be reached, the limiter falls back to memory and says so in the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from jonbu_core.settings import Settings

logger = logging.getLogger(__name__)


class RateLimiter(Protocol):
    """Takes one token from a bucket."""

    name: str

    async def hit(self, key: str) -> float | None:
        """``None`` when allowed, else the seconds until a token is available."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryRateLimiter:
    """In-process token buckets.

    Parameters
    ----------
    capacity : int
        Bucket size (the ``N`` of ``N/period``).
    period : float
        Seconds to refill a whole bucket.
    max_keys : int
        Full buckets are pruned once this many keys are tracked.
    """

    name = "memory"

    def __init__(self, capacity: int, period: float, max_keys: int = 100_000) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / period
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def hit_sync(self, key: str, now: float | None = None) -> float | None:
        """Synchronous :meth:`hit` (``now`` from :func:`time.monotonic` by default)."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._prune(now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.capacity
        ]
        for k in full:
            del self._buckets[k]

    async def hit(self, key: str) -> float | None:
        """Take a token from ``key``'s bucket."""
        return self.hit_sync(key)

    async def close(self) -> None:
        """Nothing to release."""


_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1])
local ts = tonumber(data[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local retry = 0
if tokens >= 1 then tokens = tokens - 1 else retry = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return tostring(retry)
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every API replica.

    Parameters
    ----------
    url : str
        Redis URL.
    capacity, period
        As for :class:`MemoryRateLimiter`.
    prefix : str
        Key prefix (``<prefix>:rl:<bucket>``).
    """

    name = "redis"

    def __init__(self, url: str, capacity: int, period: float, prefix: str = "jonbu") -> None:
        import redis.asyncio as aioredis

        self.capacity = capacity
        self.rate = capacity / period
        self.prefix = prefix
        self._client: Any = aioredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script: Any = self._client.register_script(_LUA)
        self._fallback = MemoryRateLimiter(capacity, period)
        self._warned = False

    async def hit(self, key: str) -> float | None:
        """Take a token from ``key``'s shared bucket (memory if Redis is down)."""
        try:
            retry = float(await self._script(keys=[f"{self.prefix}:rl:{key}"], args=[self.capacity, self.rate]))
        except Exception as exc:  # redis down: keep limiting, locally
            if not self._warned:
                logger.warning("rate limiter: Redis unavailable (%s); limiting in memory", exc)
                self._warned = True
            return self._fallback.hit_sync(key)
        self._warned = False
        return retry if retry > 0 else None

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def open_rate_limiter(settings: Settings) -> RateLimiter:
    """The limiter named by ``JONBU_RATE_LIMIT_BACKEND`` for ``JONBU_RATE_LIMIT``."""
    capacity, period = settings.rate_limit_parsed
    backend = settings.rate_limit_backend
    if backend == "auto":
        backend = "redis" if settings.bus == "redis" else "memory"
    if backend == "redis":
        return RedisRateLimiter(settings.redis_url, capacity, period, prefix=settings.redis_prefix)
    return MemoryRateLimiter(capacity, period)
