"""Every error livevault reports, with a stable code, a kind and whether retrying can help.

The tree::

    LivevaultError                       kind        code
    ├── InvalidInput                     INVALID     VALIDATION_ERROR
    │   ├── InvalidUrl                   INVALID     INVALID_URL
    │   ├── InvalidRoomId                INVALID     INVALID_ROOM_ID
    │   ├── UnsupportedSource            INVALID     UNSUPPORTED_SOURCE
    │   ├── InvalidTemplate              INVALID     INVALID_OUTPUT_TEMPLATE
    │   ├── MissingSource                INVALID     MISSING_SOURCE
    │   └── UnsupportedOutputFormat      INVALID     UNSUPPORTED_OUTPUT_FORMAT (webm from a LiveKit room)
    ├── Unauthorized                     UNAUTHORIZED UNAUTHORIZED
    │   └── InvalidSignature             UNAUTHORIZED INVALID_SIGNATURE (webhooks)
    ├── Forbidden                        FORBIDDEN   FORBIDDEN
    │   ├── CrossSiteRequest             FORBIDDEN   CROSS_SITE_REQUEST (a web form without its CSRF token)
    │   └── QuotaExceeded                FORBIDDEN   QUOTA_EXCEEDED (an API key's recordings / watchers quota)
    ├── RateLimited                      RATE_LIMITED RATE_LIMITED   (retryable)
    │   └── TooManyAuthFailures          RATE_LIMITED TOO_MANY_AUTH_FAILURES (bad keys from one address)
    ├── NotFound                         NOT_FOUND   NOT_FOUND
    ├── Conflict                         CONFLICT    CONFLICT
    │   └── AlreadyRecording             CONFLICT    ALREADY_RECORDING (one capturing recording per source)
    ├── SourceError                      UNAVAILABLE SOURCE_ERROR
    │   ├── LiveOffline                  UNAVAILABLE LIVE_OFFLINE
    │   ├── StreamEnded                  UNAVAILABLE STREAM_ENDED
    │   ├── NetworkTimeout               UNAVAILABLE NETWORK_TIMEOUT (retryable)
    │   ├── StreamStalled                UNAVAILABLE STREAM_STALLED (retryable; connected, no media came)
    │   ├── SourceUnreachable            UNAVAILABLE SOURCE_UNREACHABLE (retryable)
    │   ├── SourceBlocked                UNAVAILABLE SOURCE_BLOCKED
    │   ├── LoginRequired                UNAVAILABLE LOGIN_REQUIRED
    │   ├── PlaylistInvalid              UNAVAILABLE PLAYLIST_INVALID
    │   ├── NoMatchingQuality            UNAVAILABLE NO_MATCHING_QUALITY
    │   ├── DecryptionFailed             UNAVAILABLE DECRYPTION_FAILED
    │   ├── SourceNotFound               UNAVAILABLE NOT_FOUND       (user / room does not exist)
    │   ├── SourceRateLimited            UNAVAILABLE RATE_LIMITED    (retryable; the platform throttles us)
    │   ├── UnsupportedFormat            UNAVAILABLE UNSUPPORTED_FORMAT
    │   ├── NavigationFailed             UNAVAILABLE NAVIGATION_FAILED (retryable; download resolver)
    │   ├── NoDownloadLink               UNAVAILABLE NO_DOWNLOAD_LINK  (retryable; download resolver)
    │   ├── DownloadFailed               UNAVAILABLE DOWNLOAD_FAILED (retryable)
    │   └── DownloadTooLarge             UNAVAILABLE DOWNLOAD_TOO_LARGE
    ├── RecorderExitNonzero              INTERNAL    RECORDER_EXIT_NONZERO
    ├── FfmpegMissing                    UNAVAILABLE FFMPEG_MISSING
    ├── DiskFull                         UNAVAILABLE DISK_FULL
    ├── RemuxFailed                      INTERNAL    REMUX_FAILED
    ├── VerifyFailed                     INTERNAL    VERIFY_FAILED
    ├── NothingRecorded                  UNAVAILABLE NOTHING_RECORDED
    ├── S3UploadFailed                   UNAVAILABLE S3_UPLOAD_FAILED (retryable)
    ├── StorageUnavailable               UNAVAILABLE STORAGE_UNAVAILABLE (retryable; a store operation failed)
    ├── LiveKitNotConfigured             UNAVAILABLE LIVEKIT_NOT_CONFIGURED
    ├── LiveKitError                     UNAVAILABLE LIVEKIT_ERROR (retryable)
    ├── EgressFailed                     UNAVAILABLE LIVEKIT_EGRESS_FAILED (LiveKit's message)
    ├── EgressFileMissing                UNAVAILABLE LIVEKIT_FILE_MISSING
    ├── Interrupted                      INTERNAL    INTERRUPTED
    ├── TimeLimitExceeded                INTERNAL    TIME_LIMIT_EXCEEDED (a worker cancelled the job)
    │   └── JobTimeLimitExceeded         INTERNAL    TIME_LIMIT_EXCEEDED (past the hard limit)
    ├── InternalError                    INTERNAL    INTERNAL_ERROR
    │
    │   (below: codes that used to be declared next to the code raising them)
    ├── InvalidInput
    │   ├── InvalidProxy                 INVALID     INVALID_PROXY
    │   ├── InvalidUrl
    │   │   └── AddressNotAllowed        INVALID     ADDRESS_NOT_ALLOWED (loopback/private/metadata; SSRF guard)
    │   ├── StrategyUnavailable          INVALID     STRATEGY_UNAVAILABLE
    │   ├── UnsupportedEngine            INVALID     UNSUPPORTED_ENGINE
    │   ├── InvalidStreamKey             INVALID     INVALID_STREAM_KEY
    │   └── UnknownEventType             INVALID     INVALID_EVENT_TYPE (webhooks, 422)
    ├── Unauthorized
    │   └── WebhookReplayed              UNAUTHORIZED WEBHOOK_REPLAYED (timestamp outside the tolerance)
    ├── PayloadTooLarge                  TOO_LARGE   PAYLOAD_TOO_LARGE (413)
    ├── HeadersTooLarge                  TOO_LARGE   HEADERS_TOO_LARGE (431)
    ├── RequestTimeout                   TIMEOUT     REQUEST_TIMEOUT (408)
    ├── WebhookNotConfigured             UNAVAILABLE WEBHOOK_NOT_CONFIGURED
    ├── PushNotConfigured                UNAVAILABLE PUSH_NOT_CONFIGURED
    ├── RecorderUnavailable              UNAVAILABLE RECORDER_UNAVAILABLE
    ├── RecordingFailed                  UNAVAILABLE RECORDING_FAILED
    ├── LeaseLost                        INTERNAL    LEASE_LOST
    ├── InvalidInput
    │   └── BadRequest                   INVALID     BAD_REQUEST (the HTTP layer refused the request)
    ├── MethodNotAllowed                 INVALID     METHOD_NOT_ALLOWED (405)
    ├── RangeNotSatisfiable              INVALID     RANGE_NOT_SATISFIABLE (416)
    └── HttpError                        INVALID     HTTP_ERROR (any other status the framework answered)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorKind(StrEnum):
    INVALID = "INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    TOO_LARGE = "TOO_LARGE"
    TIMEOUT = "TIMEOUT"


class LivevaultError(Exception):
    """Base of every error the project raises on purpose; carries what the API and jobs report."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message})"


class InvalidInput(LivevaultError):
    code = "VALIDATION_ERROR"
    kind = ErrorKind.INVALID


class UnsupportedOutputFormat(InvalidInput):
    code = "UNSUPPORTED_OUTPUT_FORMAT"


class InvalidUrl(InvalidInput):
    code = "INVALID_URL"


class InvalidRoomId(InvalidInput):
    code = "INVALID_ROOM_ID"


class UnsupportedSource(InvalidInput):
    code = "UNSUPPORTED_SOURCE"


class InvalidTemplate(InvalidInput):
    code = "INVALID_OUTPUT_TEMPLATE"


class MissingSource(InvalidInput):
    code = "MISSING_SOURCE"


class Unauthorized(LivevaultError):
    code = "UNAUTHORIZED"
    kind = ErrorKind.UNAUTHORIZED


class InvalidSignature(Unauthorized):
    code = "INVALID_SIGNATURE"


class Forbidden(LivevaultError):
    code = "FORBIDDEN"
    kind = ErrorKind.FORBIDDEN


class CrossSiteRequest(Forbidden):
    code = "CROSS_SITE_REQUEST"


class RateLimited(LivevaultError):
    code = "RATE_LIMITED"
    kind = ErrorKind.RATE_LIMITED
    retryable = True


class QuotaExceeded(Forbidden):
    """An API key already holds as many active recordings (or watchers) as its quota allows."""

    code = "QUOTA_EXCEEDED"


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


class SourceError(LivevaultError):
    code = "SOURCE_ERROR"
    kind = ErrorKind.UNAVAILABLE


class LiveOffline(SourceError):
    code = "LIVE_OFFLINE"


class StreamEnded(SourceError):
    code = "STREAM_ENDED"


class NetworkTimeout(SourceError):
    code = "NETWORK_TIMEOUT"
    retryable = True


class StreamStalled(SourceError):
    """The media URL answered, then sent no media for LIVEVAULT_STALL_TIMEOUT seconds."""

    code = "STREAM_STALLED"
    retryable = True


class SourceUnreachable(SourceError):
    code = "SOURCE_UNREACHABLE"
    retryable = True


class SourceBlocked(SourceError):
    code = "SOURCE_BLOCKED"


class LoginRequired(SourceError):
    code = "LOGIN_REQUIRED"


class PlaylistInvalid(SourceError):
    code = "PLAYLIST_INVALID"


class NoMatchingQuality(SourceError):
    code = "NO_MATCHING_QUALITY"


class DecryptionFailed(SourceError):
    code = "DECRYPTION_FAILED"


class SourceNotFound(SourceError):
    code = "NOT_FOUND"


class SourceRateLimited(SourceError):
    code = "RATE_LIMITED"
    retryable = True


class UnsupportedFormat(SourceError):
    code = "UNSUPPORTED_FORMAT"


class NavigationFailed(SourceError):
    code = "NAVIGATION_FAILED"
    retryable = True


class NoDownloadLink(SourceError):
    code = "NO_DOWNLOAD_LINK"
    retryable = True


class DownloadFailed(SourceError):
    code = "DOWNLOAD_FAILED"
    retryable = True


class DownloadTooLarge(SourceError):
    code = "DOWNLOAD_TOO_LARGE"


class RecorderExitNonzero(LivevaultError):
    code = "RECORDER_EXIT_NONZERO"


class FfmpegMissing(LivevaultError):
    code = "FFMPEG_MISSING"
    kind = ErrorKind.UNAVAILABLE


class DiskFull(LivevaultError):
    code = "DISK_FULL"
    kind = ErrorKind.UNAVAILABLE


class RemuxFailed(LivevaultError):
    code = "REMUX_FAILED"


class VerifyFailed(LivevaultError):
    code = "VERIFY_FAILED"


class NothingRecorded(LivevaultError):
    code = "NOTHING_RECORDED"
    kind = ErrorKind.UNAVAILABLE


class S3UploadFailed(LivevaultError):
    code = "S3_UPLOAD_FAILED"
    kind = ErrorKind.UNAVAILABLE
    retryable = True


class LiveKitNotConfigured(LivevaultError):
    """LIVEKIT_HOST, LIVEKIT_API_KEY, LIVEKIT_API_SECRET or the S3 bucket Egress writes to is missing."""

    code = "LIVEKIT_NOT_CONFIGURED"
    kind = ErrorKind.UNAVAILABLE


class LiveKitError(LivevaultError):
    """LiveKit's server API refused or failed a call (its Twirp code is in the details)."""

    code = "LIVEKIT_ERROR"
    kind = ErrorKind.UNAVAILABLE
    retryable = True


class EgressFailed(LivevaultError):
    """LiveKit Egress ended without a file; its own message is the error message."""

    code = "LIVEKIT_EGRESS_FAILED"
    kind = ErrorKind.UNAVAILABLE


class EgressFileMissing(LivevaultError):
    """Egress reported success but the object is not in the bucket (or has another size)."""

    code = "LIVEKIT_FILE_MISSING"
    kind = ErrorKind.UNAVAILABLE


class StorageUnavailable(LivevaultError):
    """Object storage (or the local store) failed an operation: unreachable, refused, or a checksum mismatch."""

    code = "STORAGE_UNAVAILABLE"
    kind = ErrorKind.UNAVAILABLE
    retryable = True


class Interrupted(LivevaultError):
    code = "INTERRUPTED"


class TimeLimitExceeded(LivevaultError):
    """A worker cancelled a job at its hard time limit."""

    code = "TIME_LIMIT_EXCEEDED"


class JobTimeLimitExceeded(TimeLimitExceeded):
    """A job ran past its hard time limit and was cancelled."""


class InternalError(LivevaultError):
    """A bug: reported with the correlation id so it can be found in the logs."""

    code = "INTERNAL_ERROR"


# -- codes that lived next to the code raising them; every class is here now (one place per code) --


class InvalidProxy(InvalidInput):
    code = "INVALID_PROXY"


class AddressNotAllowed(InvalidUrl):
    """A URL, redirect, playlist entry or proxy points at a loopback, private, link-local or metadata address."""

    code = "ADDRESS_NOT_ALLOWED"


class StrategyUnavailable(InvalidInput):
    code = "STRATEGY_UNAVAILABLE"


class UnsupportedEngine(InvalidInput):
    code = "UNSUPPORTED_ENGINE"


class InvalidStreamKey(InvalidInput):
    code = "INVALID_STREAM_KEY"


class WebhookReplayed(Unauthorized):
    """A signed webhook event outside the timestamp tolerance window, or an event id seen before."""

    code = "WEBHOOK_REPLAYED"


class UnknownEventType(InvalidInput):
    """A webhook `event` that is neither `stream.started` nor `stream.ended` (answered 422, seed 002)."""

    code = "INVALID_EVENT_TYPE"


class PayloadTooLarge(LivevaultError):
    """A request body (or its announced length) over the route's limit (413), refused before it is read."""

    code = "PAYLOAD_TOO_LARGE"
    kind = ErrorKind.TOO_LARGE


class HeadersTooLarge(LivevaultError):
    code = "HEADERS_TOO_LARGE"
    kind = ErrorKind.TOO_LARGE


class RequestTimeout(LivevaultError):
    """The request body did not arrive within LIVEVAULT_REQUEST_BODY_TIMEOUT (408)."""

    code = "REQUEST_TIMEOUT"
    kind = ErrorKind.TIMEOUT


class WebhookNotConfigured(LivevaultError):
    """LIVEVAULT_WEBHOOK_SECRET is empty: unsigned events are never accepted."""

    code = "WEBHOOK_NOT_CONFIGURED"
    kind = ErrorKind.UNAVAILABLE


class PushNotConfigured(LivevaultError):
    """LIVEVAULT_PUSH_HLS_URL_TEMPLATE is empty or has no `{stream_key}`."""

    code = "PUSH_NOT_CONFIGURED"
    kind = ErrorKind.UNAVAILABLE


class RecorderUnavailable(LivevaultError):
    """No recorder is configured for this stream, or its program is not installed."""

    code = "RECORDER_UNAVAILABLE"
    kind = ErrorKind.UNAVAILABLE


class RecordingFailed(LivevaultError):
    """A watcher's last recording failed without a code of its own."""

    code = "RECORDING_FAILED"
    kind = ErrorKind.UNAVAILABLE


class LeaseLost(LivevaultError):
    """This process no longer owns the recording: another worker has taken it over."""

    code = "LEASE_LOST"


class BadRequest(InvalidInput):
    """A request the HTTP layer could not take (malformed before any route ran)."""

    code = "BAD_REQUEST"


class MethodNotAllowed(LivevaultError):
    code = "METHOD_NOT_ALLOWED"
    kind = ErrorKind.INVALID


class RangeNotSatisfiable(LivevaultError):
    code = "RANGE_NOT_SATISFIABLE"
    kind = ErrorKind.INVALID


class HttpError(LivevaultError):
    """Any other status the HTTP framework answered by itself."""

    code = "HTTP_ERROR"
    kind = ErrorKind.INVALID


def error_class_for(code: str | None) -> type[LivevaultError]:
    """The class that reports `code`; InternalError for an unknown one."""
    return error_class(code) or InternalError


def error_class(code: str | None) -> type[LivevaultError] | None:
    """The class that reports `code` (the most general one when several share it), or None when unknown.

    Used where an error is known only by its stored code (a capture outcome) and must be raised again as
    its own class, e.g. "nothing was recorded because the stream stalled" ends as STREAM_STALLED.
    """
    if not code:
        return None
    found: type[LivevaultError] | None = None
    pending: list[type[LivevaultError]] = [LivevaultError]
    while pending:
        cls = pending.pop(0)
        if cls.code == code and found is None:
            found = cls
        pending.extend(cls.__subclasses__())
    return found
