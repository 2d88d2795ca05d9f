"""A job stopped from outside: interrupted, past its time limit, or its recording's lease lost."""

from __future__ import annotations

from livevault.errors.base import LivevaultError


class Interrupted(LivevaultError):
    code = "INTERRUPTED"


class TimeLimitExceeded(LivevaultError):
    """A worker cancelled a job at its hard time limit."""

    code = "TIME_LIMIT_EXCEEDED"


class JobTimeLimitExceeded(TimeLimitExceeded):
    """A job ran past its hard time limit and was cancelled."""


class LeaseLost(LivevaultError):
    """This process no longer owns the recording: another worker has taken it over."""

    code = "LEASE_LOST"
