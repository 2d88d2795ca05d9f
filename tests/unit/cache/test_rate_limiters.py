"""The rate-limit windows (the `limits` library in memory and in Redis) decide alike, atomically, and fail open."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from livevault.cache.base import RateDecision, RateLimitBackend, SharedStateUnavailable
from livevault.cache.limiter import LimitsRateLimiter
from livevault.cache.redis_store import RedisStore
from livevault.errors import RateLimited, TooManyAuthFailures
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


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[LimitsRateLimiter]:
    if request.param == "memory":
        yield LimitsRateLimiter.in_memory()
        return
    url = require_redis()
    with redis_namespace(url) as ns:
        store = RedisStore.from_url(url)
        yield LimitsRateLimiter.on_redis(store, f"{ns}:ratelimit")
        store.close()


def test_a_window_counts_refuses_and_frees_a_slot_when_the_oldest_hit_leaves(backend: RateLimitBackend) -> None:
    decisions = [backend.hit("k", 3, 2.0) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.count for d in decisions[:3]] == [1, 2, 3]
    assert 0 < decisions[3].retry_after <= 2.0
    assert not backend.peek("k", 3, 2.0).allowed  # peek counts nothing, and says the same
    assert backend.hit("other", 3, 2.0).allowed  # every key has its own window
    time.sleep(2.1)
    assert backend.peek("k", 3, 2.0).allowed
    assert backend.hit("k", 3, 2.0) == RateDecision(True, 1, 3)


def test_replicas_hitting_redis_at_once_never_exceed_the_limit(redis_url: str, namespace: str) -> None:
    # Given four "replicas" (own client each) and 8 threads sending 60 requests in all against a limit of 25
    stores = [RedisStore.from_url(redis_url) for _ in range(4)]
    limiters = [LimitsRateLimiter.on_redis(s, f"{namespace}:ratelimit") for s in stores]
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
    limits = ApiRateLimit(2, LimitsRateLimiter.on_redis(store, f"{namespace}:ratelimit"))
    assert limits.check("secret-key") == RateDecision(True, 1, 2)
    assert limits.check("secret-key") == RateDecision(True, 2, 2)
    with pytest.raises(RateLimited) as refused:
        limits.check("secret-key")
    assert refused.value.details["limit"] == 2
    assert 59 <= refused.value.details["retry_after"] <= 60
    digest = hashlib.sha256(b"secret-key").hexdigest()[:16]
    assert limiter_key("secret-key") == digest
    keys = [k.decode() for k in store.client.scan_iter(match=f"{namespace}:*")]
    assert len(keys) == 1
    assert keys[0].startswith(f"{namespace}:ratelimit")
    assert digest in keys[0]
    assert "secret-key" not in keys[0]
    assert limits.check("other-key") is not None  # every key has its own window


def test_a_zero_limit_turns_rate_limiting_off() -> None:
    limits = ApiRateLimit(0, LimitsRateLimiter.in_memory())
    assert all(limits.check("k") is None for _ in range(1000))


def test_invalid_keys_from_one_address_are_slowed_down_and_other_addresses_are_not() -> None:
    limits = ApiRateLimit(0, LimitsRateLimiter.in_memory(), auth_failures_per_minute=3)
    for _ in range(3):
        limits.check_client("203.0.113.9")  # not refused yet
        limits.failed("203.0.113.9")
    with pytest.raises(TooManyAuthFailures) as refused:
        limits.check_client("203.0.113.9")
    assert refused.value.code == "TOO_MANY_AUTH_FAILURES"
    assert isinstance(refused.value, RateLimited)  # 429 with Retry-After
    assert 1 <= refused.value.details["retry_after"] <= 60
    limits.check_client("198.51.100.7")


def test_when_redis_is_down_each_replica_falls_back_to_its_own_window(caplog: pytest.LogCaptureFixture) -> None:
    down = RedisStore.from_url(closed_port_url())
    limits = ApiRateLimit(2, LimitsRateLimiter.on_redis(down, "livevault:ratelimit"), LimitsRateLimiter.in_memory())
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
    limits = ApiRateLimit(1, LimitsRateLimiter.on_redis(down, "livevault:ratelimit"))
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
