"""RATE_LIMIT_PER_MIN per API key: one sliding window per key, shared by every replica when Redis is configured.

When the shared store does not answer the API keeps serving: each replica falls back to its own in-memory
window (the store logs the outage once), so the limit is enforced per replica until Redis is back.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

from livevault.cache.base import SharedStateUnavailable
from livevault.errors import RateLimited

if TYPE_CHECKING:
    from livevault.cache.base import RateDecision, RateLimitBackend

WINDOW_SECONDS = 60.0


def limiter_key(api_key: str) -> str:
    """What a window is stored under: 16 hex digits of the key's SHA-256, never the key itself."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def retry_after_seconds(decision: RateDecision) -> int:
    """The `Retry-After` value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(decision.retry_after))


class ApiRateLimit:
    def __init__(
        self,
        per_minute: int,
        backend: RateLimitBackend,
        fallback: RateLimitBackend | None = None,
        *,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.per_minute = per_minute
        self._backend = backend
        self._fallback = fallback
        self._window = window

    def check(self, api_key: str) -> RateDecision | None:
        """Count one request of `api_key`; None when limits are off or no store answered (fail open).

        Raises:
            RateLimited: the key used its requests for the window; `details.retry_after` feeds `Retry-After`.
        """
        if self.per_minute <= 0:
            return None
        key = limiter_key(api_key)
        try:
            decision = self._backend.hit(key, self.per_minute, self._window)
        except SharedStateUnavailable:
            if self._fallback is None:
                return None
            decision = self._fallback.hit(key, self.per_minute, self._window)
        if not decision.allowed:
            raise RateLimited(
                f"rate limit of {self.per_minute} requests per minute exceeded",
                details={"retry_after": retry_after_seconds(decision), "limit": self.per_minute},
            )
        return decision
