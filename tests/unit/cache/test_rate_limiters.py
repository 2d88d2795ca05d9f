"""The rate-limit math: the in-memory and the Redis sliding window decide alike, atomically, and fail open."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from livevault.cache.base import RateDecision, RateLimitBackend, SharedStateUnavailable
from livevault.cache.memory import MemoryRateLimiter
from livevault.cache.redis_store import RedisRateLimiter, RedisStore
from livevault.errors import RateLimited
from livevault.services.ratelimit import ApiRateLimit, limiter_key, retry_after_seconds
from tests.conftest import make_settings
from tests.redisfixtures import closed_port_url, redis_namespace, require_redis


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with redis_namespace(redis_url) as ns:
        yield ns


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore.from_url(redis_url)
    yield store
    store.close()


# (seconds after start, allowed, retry_after) for limit 3 per 60 s
SCRIPT = [
    (0, True, 0.0),
    (10, True, 0.0),
    (20, True, 0.0),
    (30, False, 30.0),    # the hit at 0 leaves the window at 60
    (59.5, False, 0.5),
    (60, True, 0.0),      # 0 has left; 10, 20, 60 remain
    (61, False, 9.0),     # refused hits are not counted: the oldest is still 10
    (70, True, 0.0),      # 10 has left
]


def run_script(backend: RateLimitBackend, clock: Clock) -> list[tuple[bool, float]]:
    start = clock.now
    decisions = []
    for offset, _, _ in SCRIPT:
        clock.now = start + offset
        decision = backend.hit("k", 3, 60.0)
        decisions.append((decision.allowed, round(decision.retry_after, 3)))
    return decisions


def test_the_memory_window_slides_and_says_when_the_next_slot_frees() -> None:
    clock = Clock()
    assert run_script(MemoryRateLimiter(clock), clock) == [(a, r) for _, a, r in SCRIPT]


def test_the_redis_window_decides_exactly_like_the_memory_one(store: RedisStore, namespace: str) -> None:
    clock = Clock()
    limiter = RedisRateLimiter(store, f"{namespace}:ratelimit:", clock=clock)
    assert run_script(limiter, clock) == [(a, r) for _, a, r in SCRIPT]
    assert store.client.zcard(f"{namespace}:ratelimit:k") == 3
    assert 0 < store.client.pttl(f"{namespace}:ratelimit:k") <= 60_000


def test_the_redis_window_uses_the_server_clock_and_expires_with_the_window(
    store: RedisStore, namespace: str
) -> None:
    limiter = RedisRateLimiter(store, f"{namespace}:ratelimit:")
    assert [limiter.hit("k", 2, 0.3).allowed for _ in range(3)] == [True, True, False]
    refused = limiter.hit("k", 2, 0.3)
    assert 0 < refused.retry_after <= 0.3
    threading.Event().wait(0.35)
    assert limiter.hit("k", 2, 0.3) == RateDecision(True, 1, 2)


def test_replicas_hitting_redis_at_once_never_exceed_the_limit(redis_url: str, namespace: str) -> None:
    # Given four "replicas" (own client each) and 8 threads sending 60 requests in all against a limit of 25
    stores = [RedisStore.from_url(redis_url) for _ in range(4)]
    limiters = [RedisRateLimiter(s, f"{namespace}:ratelimit:") for s in stores]
    allowed: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def client(n: int) -> None:
        barrier.wait()
        for _ in range(60 // 8 + (1 if n < 60 % 8 else 0)):
            decision = limiters[n % 4].hit("shared", 25, 60.0)
            with lock:
                allowed.append(decision.allowed)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    # Then exactly 25 got through
    assert len(allowed) == 60
    assert allowed.count(True) == 25


def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    assert retry_after_seconds(RateDecision(False, 3, 3, retry_after=0.001)) == 1
    assert retry_after_seconds(RateDecision(False, 3, 3, retry_after=0.0)) == 1
    assert retry_after_seconds(RateDecision(False, 3, 3, retry_after=29.2)) == 30
    assert retry_after_seconds(RateDecision(False, 3, 3, retry_after=60.0)) == 60


def test_an_api_key_is_counted_under_a_hash_and_refused_with_retry_after(store: RedisStore, namespace: str) -> None:
    clock = Clock()
    limits = ApiRateLimit(2, RedisRateLimiter(store, f"{namespace}:ratelimit:", clock=clock))
    assert limits.check("secret-key") == RateDecision(True, 1, 2)
    clock.now += 15
    assert limits.check("secret-key") == RateDecision(True, 2, 2)
    clock.now += 0.5
    with pytest.raises(RateLimited) as refused:
        limits.check("secret-key")
    assert refused.value.details == {"retry_after": 45, "limit": 2}
    digest = hashlib.sha256(b"secret-key").hexdigest()[:16]
    assert limiter_key("secret-key") == digest
    keys = [k.decode() for k in store.client.scan_iter(match=f"{namespace}:*")]
    assert keys == [f"{namespace}:ratelimit:{digest}"]
    assert limits.check("other-key") is not None  # every key has its own window


def test_a_zero_limit_turns_rate_limiting_off() -> None:
    limits = ApiRateLimit(0, MemoryRateLimiter())
    assert all(limits.check("k") is None for _ in range(1000))


def test_when_redis_is_down_each_replica_falls_back_to_its_own_window(caplog: pytest.LogCaptureFixture) -> None:
    down = RedisStore.from_url(closed_port_url())
    limits = ApiRateLimit(2, RedisRateLimiter(down, "livevault:ratelimit:"), MemoryRateLimiter())
    with caplog.at_level(logging.WARNING, logger="livevault.cache.redis_store"):
        assert limits.check("k") is not None
        assert limits.check("k") is not None
        with pytest.raises(RateLimited):
            limits.check("k")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one line per outage, not one per request
    assert "redis does not answer" in warnings[0].getMessage()
    down.close()


def test_without_a_fallback_a_redis_outage_lets_every_request_through() -> None:
    down = RedisStore.from_url(closed_port_url())
    limits = ApiRateLimit(1, RedisRateLimiter(down, "livevault:ratelimit:"))
    assert [limits.check("k") for _ in range(5)] == [None] * 5
    down.close()


def test_the_breaker_fails_fast_during_the_cooldown_then_tries_again(redis_url: str) -> None:
    clock = Clock()
    store = RedisStore(redis.Redis.from_url(redis_url), cooldown=5.0, clock=clock)
    calls: list[str] = []

    def failing(client: redis.Redis) -> None:
        calls.append("failing")
        raise redis.ConnectionError("connection reset")

    def working(client: redis.Redis) -> bool:
        calls.append("working")
        return bool(client.ping())

    with pytest.raises(SharedStateUnavailable, match="connection reset"):
        store.run(failing)
    clock.now += 4.9
    with pytest.raises(SharedStateUnavailable, match="connection reset"):
        store.run(working)  # not even tried
    assert calls == ["failing"]
    clock.now += 0.2
    assert store.run(working) is True
    assert store.run(working) is True
    assert calls == ["failing", "working", "working"]
    store.close()


def test_shared_state_uses_redis_url_else_a_redis_broker_of_the_celery_runner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert make_settings(data).shared_redis_url is None
    assert make_settings(data, redis_url="redis://cache:6379/2").shared_redis_url == "redis://cache:6379/2"
    celery = make_settings(data, runner="celery", celery_broker_url="redis://broker:6379/0")
    assert celery.shared_redis_url == "redis://broker:6379/0"
    amqp = make_settings(data, runner="celery", celery_broker_url="amqp://guest@rabbit//")
    assert amqp.shared_redis_url is None
    both = make_settings(data, runner="celery", redis_url="rediss://cache:6380/0")
    assert both.shared_redis_url == "rediss://cache:6380/0"
    assert make_settings(data, redis_url="").shared_redis_url is None
    assert ":pw@" not in repr(make_settings(data, redis_url="redis://:pw@cache:6379/0"))
