"""The two seams of shared state: a rate-limit window and a TTL cache with a generation counter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SharedStateUnavailable(Exception):
    """The shared store did not answer; the caller decides how to degrade (never an API error)."""


def describe(exc: BaseException) -> str:
    """A short reason for logs and `/ready`; client errors name host and port, never a URL with a password."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One counted (or refused) request: `retry_after` is seconds until the oldest hit leaves the window."""

    allowed: bool
    count: int
    limit: int
    retry_after: float = 0.0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


class RateLimitBackend(Protocol):
    def hit(self, key: str, limit: int, window: float) -> RateDecision:
        """Count one request for `key` unless `limit` requests already fall in the last `window` seconds (a
        moving window).

        Args:
            key: an opaque, already hashed identity (never a raw API key).
            limit: requests allowed per window (> 0).
            window: the sliding window in seconds.

        Returns:
            the decision; a refused request is not counted.

        Raises:
            SharedStateUnavailable: the store did not answer.
        """
        ...

    def peek(self, key: str, limit: int, window: float) -> RateDecision:
        """Would one more hit for `key` be allowed? Counts nothing. Raises SharedStateUnavailable."""
        ...


class TtlCache(Protocol):
    def get(self, key: str) -> bytes | None:
        """The value stored under `key`, or None when absent or expired. Raises SharedStateUnavailable."""
        ...

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store `value` for `ttl` seconds. Raises SharedStateUnavailable."""
        ...

    def generation(self, name: str) -> int:
        """The current value of counter `name` (0 before the first bump). Raises SharedStateUnavailable."""
        ...

    def bump(self, name: str) -> int:
        """Advance counter `name`, making keys built from older generations unreachable; returns the new value.

        Raises:
            SharedStateUnavailable: the store did not answer.
        """
        ...
