"""Rate-limit windows through the `limits` library: a moving window per key, in memory or in Redis.

`limits` does the counting (its Redis storage runs one atomic Lua script per hit, so every API replica shares
one window); this module adapts it to `RateLimitBackend`: a `RateDecision` with the seconds until a slot frees,
and `SharedStateUnavailable` when Redis does not answer (through the process's `RedisStore` breaker).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from livevault.cache.base import RateDecision

if TYPE_CHECKING:
    from collections.abc import Callable

    from limits.storage import Storage

    from livevault.cache.redis_store import RedisStore


class LimitsRateLimiter:
    """A moving window per key; `run` wraps each storage call (the Redis breaker, or a plain call)."""

    def __init__(self, storage: Storage, run: Callable[[Callable[[], RateDecision]], RateDecision] | None = None,
                 ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._run = run or (lambda call: call())

    @classmethod
    def in_memory(cls) -> LimitsRateLimiter:
        return cls(MemoryStorage())

    @classmethod
    def on_redis(cls, store: RedisStore, prefix: str) -> LimitsRateLimiter:
        """Windows in Redis under `<prefix>...`, on the store's connection pool (its short timeouts)."""
        storage = RedisStorage("redis://", connection_pool=store.client.connection_pool, key_prefix=prefix)
        return cls(storage, lambda call: store.run(lambda _client: call()))

    def hit(self, key: str, limit: int, window: float) -> RateDecision:
        item = _item(limit, window)

        def call() -> RateDecision:
            if self._limiter.hit(item, key):
                stats = self._limiter.get_window_stats(item, key)
                return RateDecision(True, limit - stats.remaining, limit)
            return self._refused(item, key, limit)

        return self._run(call)

    def peek(self, key: str, limit: int, window: float) -> RateDecision:
        """Whether one more hit would be allowed, without counting it."""
        item = _item(limit, window)

        def call() -> RateDecision:
            if self._limiter.test(item, key):
                stats = self._limiter.get_window_stats(item, key)
                return RateDecision(True, limit - stats.remaining, limit)
            return self._refused(item, key, limit)

        return self._run(call)

    def _refused(self, item: RateLimitItemPerSecond, key: str, limit: int) -> RateDecision:
        stats = self._limiter.get_window_stats(item, key)
        return RateDecision(False, limit - stats.remaining, limit, retry_after=max(0.0, stats.reset_time - time.time()))


def _item(limit: int, window: float) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(limit, max(1, round(window)))
