"""Token bucket, backoff policy, Retry-After parsing and the retry loops."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from jonbu_core.errors import ProviderError
from jonbu_core.providers.ratelimit import (
    Retryable,
    RetryPolicy,
    TokenBucket,
    parse_retry_after,
    retry_call,
    retry_call_async,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_bucket_allows_a_burst_then_spaces_requests() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, capacity=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert bucket.acquire() == 0.0
    assert not bucket.try_acquire()
    waits = [bucket.acquire() for _ in range(4)]
    assert waits == pytest.approx([0.5, 0.5, 0.5, 0.5])
    # 7 requests took 2 s of fake time: 3 burst + 2/s.
    assert clock.now - 1000.0 == pytest.approx(2.0)
    clock.now += 10  # refills up to capacity only
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_per_minute_budget_is_never_exceeded_in_a_minute() -> None:
    clock = FakeClock()
    bucket = TokenBucket.per_minute(200)
    bucket._clock, bucket._sleep, bucket._stamp = clock, clock.sleep, clock.now
    times = []
    for _ in range(600):
        bucket.acquire()
        times.append(clock.now)
    # any 60-second window holds at most 200 + burst (10) requests
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - 60:
            j += 1
        assert i - j + 1 <= 210
    assert times[-1] - times[0] == pytest.approx((600 - 10) / (200 / 60), rel=1e-6)


def test_bucket_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        TokenBucket(1, 0.5)
    with pytest.raises(ValueError):
        TokenBucket(1, 2).acquire(3)


async def test_async_acquire_waits_without_blocking() -> None:
    bucket = TokenBucket(rate=100.0, capacity=1)
    assert await bucket.acquire_async() == 0.0
    assert await bucket.acquire_async() > 0.0


def test_policy_backoff_is_exponential_jittered_and_capped() -> None:
    p = RetryPolicy(base=0.5, cap=4.0)
    rng = random.Random(1)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (8, 4.0)]:
        waits = [p.delay(attempt, rng=rng) for _ in range(200)]
        assert min(waits) >= ceiling / 2 and max(waits) <= ceiling
        assert len(set(waits)) > 100  # jitter
    assert p.delay(0, retry_after=3.0) == pytest.approx(3.0, abs=0.5) and p.delay(0, retry_after=3.0) >= 3.0
    assert RetryPolicy(max_retry_after=10).delay(0, retry_after=3600) <= 10.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    now = datetime(2024, 1, 2, 12, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0


def test_retry_call_retries_transient_failures_then_succeeds() -> None:
    calls = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Retryable("HTTP 503", retry_after=0.7 if len(calls) == 2 else None)
        return "ok"

    seen: list[int] = []
    assert retry_call(flaky, RetryPolicy(base=0.01), sleep=slept.append,
                      on_retry=lambda a, e, w: seen.append(a)) == "ok"
    assert len(calls) == 3 and seen == [0, 1]
    assert slept[0] <= 0.01 and slept[1] >= 0.7


def test_retry_call_gives_up_with_a_provider_error() -> None:
    slept: list[float] = []

    def always() -> None:
        raise Retryable("HTTP 500: boom")

    with pytest.raises(ProviderError, match="after 4 attempts: HTTP 500: boom"):
        retry_call(always, RetryPolicy(max_attempts=4, base=0.01), what="GET /x", sleep=slept.append)
    assert len(slept) == 3


def test_retry_call_does_not_retry_other_errors() -> None:
    calls = []

    def bad() -> None:
        calls.append(1)
        raise ValueError("HTTP 422")

    with pytest.raises(ValueError):
        retry_call(bad, RetryPolicy(base=0.01), sleep=lambda s: None)
    assert len(calls) == 1


async def test_retry_call_async() -> None:
    calls = []

    async def flaky() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise Retryable("timeout")
        return 5

    assert await retry_call_async(flaky, RetryPolicy(base=0.001)) == 5

    async def never() -> int:
        raise Retryable("timeout")

    with pytest.raises(ProviderError):
        await retry_call_async(never, RetryPolicy(max_attempts=2, base=0.001))
