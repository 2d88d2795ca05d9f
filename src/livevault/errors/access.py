"""Who may do what: the Unauthorized, Forbidden, RateLimited, NotFound and Conflict families."""

from __future__ import annotations

from livevault.errors.base import ErrorKind, LivevaultError


class Unauthorized(LivevaultError):
    code = "UNAUTHORIZED"
    kind = ErrorKind.UNAUTHORIZED


class InvalidSignature(Unauthorized):
    code = "INVALID_SIGNATURE"


class WebhookReplayed(Unauthorized):
    """A signed webhook event outside the timestamp tolerance window, or an event id seen before."""

    code = "WEBHOOK_REPLAYED"


class Forbidden(LivevaultError):
    code = "FORBIDDEN"
    kind = ErrorKind.FORBIDDEN


class CrossSiteRequest(Forbidden):
    code = "CROSS_SITE_REQUEST"


class QuotaExceeded(Forbidden):
    """An API key already holds as many active recordings (or watchers) as its quota allows."""

    code = "QUOTA_EXCEEDED"


class RateLimited(LivevaultError):
    code = "RATE_LIMITED"
    kind = ErrorKind.RATE_LIMITED
    retryable = True


class TooManyAuthFailures(RateLimited):
    """Too many invalid API keys from one client address in the last minute."""

    code = "TOO_MANY_AUTH_FAILURES"


class NotFound(LivevaultError):
    code = "NOT_FOUND"
    kind = ErrorKind.NOT_FOUND


class Conflict(LivevaultError):
    code = "CONFLICT"
    kind = ErrorKind.CONFLICT


class AlreadyRecording(Conflict):
    """The source already has a capturing recording; `details` names it (`recording_id`, `task_id`)."""

    code = "ALREADY_RECORDING"
