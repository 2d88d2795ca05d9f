"""Redis adapters: the process's client behind a breaker, and a TTL cache with generations (rate-limit windows go
through the `limits` library on the same client: `cache.limiter`).

One `RedisStore` per process owns the client. After a failed call it fails fast for `cooldown` seconds, so a
Redis outage costs the API one short timeout per cooldown instead of one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from livevault.cache.base import SharedStateUnavailable, describe

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)
T = TypeVar("T")


class RedisStore:
    """The process's Redis client behind a breaker: a failure opens it for `cooldown` seconds."""

    def __init__(
        self, client: redis.Redis, *, cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self._cooldown = cooldown
        self._clock = clock
        self._down_until = 0.0
        self._down_reason = ""
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.5, cooldown: float = 5.0) -> RedisStore:
        """A lazily connecting client with short timeouts and one immediate retry (a stale pooled socket)."""
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        return cls(client, cooldown=cooldown)

    def run(self, op: Callable[[redis.Redis], T]) -> T:
        """Run one Redis call; raises SharedStateUnavailable at once while the breaker is open."""
        if self._down_until and self._clock() < self._down_until:
            raise SharedStateUnavailable(self._down_reason)
        try:
            result = op(self.client)
        except redis.RedisError as exc:
            self._opened(exc)
            raise SharedStateUnavailable(describe(exc)) from exc
        self._closed()
        return result

    def ping(self) -> None:
        """Ask Redis itself, breaker or not (readiness); an answer closes the breaker."""
        try:
            self.client.ping()
        except redis.RedisError as exc:
            self._opened(exc)
            raise SharedStateUnavailable(describe(exc)) from exc
        self._closed()

    def close(self) -> None:
        self.client.close()

    def _opened(self, exc: BaseException) -> None:
        with self._lock:
            was_up = not self._down_until
            self._down_until = self._clock() + self._cooldown
            self._down_reason = describe(exc)
        if was_up:
            log.warning(
                "redis does not answer (%s): rate limits fall back to per-replica memory and caches are bypassed "
                "until it does", self._down_reason,
            )

    def _closed(self) -> None:
        if not self._down_until:
            return
        with self._lock:
            was_down, self._down_until = bool(self._down_until), 0.0
        if was_down:
            log.info("redis answers again: rate limits and caches are shared again")


class RedisCache:
    """String keys `<prefix><key>` expiring on their own; generation counters are plain INCR keys."""

    def __init__(self, store: RedisStore, prefix: str) -> None:
        self._store = store
        self._prefix = prefix

    def get(self, key: str) -> bytes | None:
        value: Any = self._store.run(lambda client: client.get(self._prefix + key))
        return bytes(value) if value is not None else None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        ttl_ms = max(1, round(ttl * 1000))
        self._store.run(lambda client: client.set(self._prefix + key, value, px=ttl_ms))

    def generation(self, name: str) -> int:
        value: Any = self._store.run(lambda client: client.get(self._prefix + name))
        return int(value) if value is not None else 0

    def bump(self, name: str) -> int:
        value: Any = self._store.run(lambda client: client.incr(self._prefix + name))
        return int(value)
