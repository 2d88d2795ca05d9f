"""RATE_LIMIT_PER_MIN per API key, and a brake on guessing keys: one moving window per key (counted by the `limits`
library), shared by every replica when Redis is configured.

Invalid keys are counted per client address: after LIVEVAULT_AUTH_FAILURES_PER_MIN failures in a minute, that
address gets 429 TOO_MANY_AUTH_FAILURES with `Retry-After` (before its key is even looked at) until the oldest
failure leaves the window.

When the shared store does not answer the API keeps serving: each replica falls back to its own in-memory
window (the store logs the outage once), so the limit is enforced per replica until Redis is back.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

from livevault.cache.base import SharedStateUnavailable
from livevault.errors import RateLimited, TooManyAuthFailures

if TYPE_CHECKING:
    from collections.abc import Callable

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
        auth_failures_per_minute: int = 0,
    ) -> None:
        self.per_minute = per_minute
        self.auth_failures_per_minute = auth_failures_per_minute
        self._backend = backend
        self._fallback = fallback
        self._window = window

    def _decide(self, op: Callable[[RateLimitBackend], RateDecision]) -> RateDecision | None:
        try:
            return op(self._backend)
        except SharedStateUnavailable:
            if self._fallback is None:
                return None
            return op(self._fallback)

    def check(self, api_key: str) -> RateDecision | None:
        """Count one request of `api_key`; None when limits are off or no store answered (fail open).

        Raises:
            RateLimited: the key used its requests for the window; `details.retry_after` feeds `Retry-After`.
        """
        if self.per_minute <= 0:
            return None
        key = limiter_key(api_key)
        decision = self._decide(lambda b: b.hit(key, self.per_minute, self._window))
        if decision is not None and not decision.allowed:
            raise RateLimited(
                f"rate limit of {self.per_minute} requests per minute exceeded",
                details={"retry_after": retry_after_seconds(decision), "limit": self.per_minute},
            )
        return decision

    def check_client(self, address: str) -> None:
        """Before a key is looked at: refuse an address that sent too many invalid keys in the last minute.

        Raises:
            TooManyAuthFailures: with `details.retry_after`.
        """
        if self.auth_failures_per_minute <= 0:
            return
        key = "auth-failures:" + limiter_key(address)
        decision = self._decide(lambda b: b.peek(key, self.auth_failures_per_minute, self._window))
        if decision is not None and not decision.allowed:
            raise TooManyAuthFailures(
                "too many invalid API keys from this address; wait before trying again",
                details={"retry_after": retry_after_seconds(decision), "limit": self.auth_failures_per_minute},
            )

    def failed(self, address: str) -> None:
        """Count one invalid (or missing) key from `address`."""
        if self.auth_failures_per_minute <= 0:
            return
        key = "auth-failures:" + limiter_key(address)
        self._decide(lambda b: b.hit(key, self.auth_failures_per_minute, self._window))
