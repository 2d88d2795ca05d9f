"""A per-process budget of TikTok API requests, so livevault reports RATE_LIMITED instead of hammering TikTok.

One token bucket per egress (direct, or each proxy: TikTok limits per IP) holding up to
`LIVEVAULT_TIKTOK_REQUESTS_PER_MIN` tokens and refilling at that rate. A 429 from TikTok empties the
bucket and pauses it for the `Retry-After` it named. Not thread-safe; one event loop uses it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_PENALTY = 60.0
_MAX_BUCKETS = 1024


class TokenBucket:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(1, per_minute))
        self.rate = self.capacity / 60.0
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = 0.0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self) -> float:
        """Take one token; returns 0.0, or the seconds until one will be there (nothing taken)."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def pause(self, seconds: float) -> None:
        """TikTok said 429: no requests for `seconds`, then start from an empty bucket."""
        now = self._clock()
        self._paused_until = max(self._paused_until, now + max(0.0, seconds))
        self._tokens = 0.0
        self._updated = self._paused_until


class RequestBudget:
    """Token buckets keyed by egress (None = direct)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str | None, TokenBucket] = {}

    def bucket(self, proxy: str | None) -> TokenBucket:
        bucket = self._buckets.get(proxy)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[proxy] = TokenBucket(self.per_minute, self._clock)
        return bucket

    def take(self, proxy: str | None) -> float:
        return self.bucket(proxy).take()

    def pause(self, proxy: str | None, seconds: float) -> None:
        self.bucket(proxy).pause(seconds)


def retry_after_seconds(value: str | None, default: float = DEFAULT_PENALTY) -> float:
    """`Retry-After` as seconds (only the delta-seconds form; dates fall back to `default`), at most 1 h."""
    if value and value.strip().isdigit():
        return min(3600.0, float(value.strip()))
    return default
