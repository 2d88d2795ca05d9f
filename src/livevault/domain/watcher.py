"""Watchers: standing orders to record a source whenever it goes live, and when to check them next."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime


class WatcherStatus(StrEnum):
    """Seed 001 §6.1: active | paused | deleted (a deleted watcher keeps its row for history)."""

    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"


# Codes after which checking again soon cannot help: wait much longer before the next try.
SLOW_RETRY_CODES = frozenset({"LOGIN_REQUIRED", "NOT_FOUND", "SOURCE_BLOCKED", "RATE_LIMITED"})


@dataclass(frozen=True, slots=True)
class Watcher:
    id: str
    key: str
    source_kind: str
    target: str
    poll_interval: float
    status: WatcherStatus
    created_at: datetime
    next_check_at: datetime
    room_id: str | None = None
    url: str | None = None
    user: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    recording_id: str | None = None
    live_state: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    failures: int = 0
    checks: int = 0
    recordings_count: int = 0
    updated_at: datetime | None = None
    last_run_at: datetime | None = None
    last_live_at: datetime | None = None
    # Retention of the recordings this watcher started (None: no limit; see services.retention).
    max_recordings: int | None = None
    max_bytes: int | None = None
    retention_days: float | None = None


def jittered(seconds: float, jitter: float, rng: random.Random | None = None) -> float:
    """`seconds` spread by ±`jitter` (a fraction), so watchers created together do not poll in lockstep."""
    if jitter <= 0:
        return seconds
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, seconds * (1.0 + spread))


def backoff_delay(poll_interval: float, failures: int, error_code: str | None, max_backoff: float) -> float:
    """Seconds until the next check after `failures` consecutive failed checks (0 = none).

    Doubles per failure from the poll interval; blocks, rate limits, login walls and unknown users start
    four times higher, because checking them again soon only makes a ban likelier. Never below the poll
    interval, never above `max_backoff` (unless the poll interval itself is longer).
    """
    if failures <= 0:
        return poll_interval
    base = poll_interval * (4.0 if error_code in SLOW_RETRY_CODES else 1.0)
    delay = base * (2.0 ** min(failures - 1, 20))
    return max(poll_interval, min(delay, max(max_backoff, poll_interval)))


def next_check(
    now: datetime, poll_interval: float, failures: int, error_code: str | None, *, jitter: float, max_backoff: float
) -> datetime:
    delay = backoff_delay(poll_interval, failures, error_code, max_backoff)
    return now + timedelta(seconds=jittered(delay, jitter))
