"""Every error livevault reports, with a stable code, a kind and whether retrying can help.

Each family is declared in a module of this package (base, input, access, source, capture, storage, livekit,
push, jobs, http); every name is re-exported here, so import them from `livevault.errors`.

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

from livevault.errors.access import (
    AlreadyRecording,
    Conflict,
    CrossSiteRequest,
    Forbidden,
    InvalidSignature,
    NotFound,
    QuotaExceeded,
    RateLimited,
    TooManyAuthFailures,
    Unauthorized,
    WebhookReplayed,
)
from livevault.errors.base import (
    ErrorKind,
    InternalError,
    LivevaultError,
    error_class,
    error_class_for,
)
from livevault.errors.capture import (
    DiskFull,
    FfmpegMissing,
    NothingRecorded,
    RecorderExitNonzero,
    RecorderUnavailable,
    RecordingFailed,
    RemuxFailed,
    VerifyFailed,
)
from livevault.errors.http import (
    HeadersTooLarge,
    HttpError,
    MethodNotAllowed,
    PayloadTooLarge,
    RangeNotSatisfiable,
    RequestTimeout,
)
from livevault.errors.input import (
    AddressNotAllowed,
    BadRequest,
    InvalidInput,
    InvalidProxy,
    InvalidRoomId,
    InvalidStreamKey,
    InvalidTemplate,
    InvalidUrl,
    MissingSource,
    StrategyUnavailable,
    UnknownEventType,
    UnsupportedEngine,
    UnsupportedOutputFormat,
    UnsupportedSource,
)
from livevault.errors.jobs import (
    Interrupted,
    JobTimeLimitExceeded,
    LeaseLost,
    TimeLimitExceeded,
)
from livevault.errors.livekit import (
    EgressFailed,
    EgressFileMissing,
    LiveKitError,
    LiveKitNotConfigured,
)
from livevault.errors.push import (
    PushNotConfigured,
    WebhookNotConfigured,
)
from livevault.errors.source import (
    DecryptionFailed,
    DownloadFailed,
    DownloadTooLarge,
    LiveOffline,
    LoginRequired,
    NavigationFailed,
    NetworkTimeout,
    NoDownloadLink,
    NoMatchingQuality,
    PlaylistInvalid,
    SourceBlocked,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceUnreachable,
    StreamEnded,
    StreamStalled,
    UnsupportedFormat,
)
from livevault.errors.storage import (
    S3UploadFailed,
    StorageUnavailable,
)

__all__ = [
    "AddressNotAllowed",
    "AlreadyRecording",
    "BadRequest",
    "Conflict",
    "CrossSiteRequest",
    "DecryptionFailed",
    "DiskFull",
    "DownloadFailed",
    "DownloadTooLarge",
    "EgressFailed",
    "EgressFileMissing",
    "ErrorKind",
    "FfmpegMissing",
    "Forbidden",
    "HeadersTooLarge",
    "HttpError",
    "InternalError",
    "Interrupted",
    "InvalidInput",
    "InvalidProxy",
    "InvalidRoomId",
    "InvalidSignature",
    "InvalidStreamKey",
    "InvalidTemplate",
    "InvalidUrl",
    "JobTimeLimitExceeded",
    "LeaseLost",
    "LiveKitError",
    "LiveKitNotConfigured",
    "LiveOffline",
    "LivevaultError",
    "LoginRequired",
    "MethodNotAllowed",
    "MissingSource",
    "NavigationFailed",
    "NetworkTimeout",
    "NoDownloadLink",
    "NoMatchingQuality",
    "NotFound",
    "NothingRecorded",
    "PayloadTooLarge",
    "PlaylistInvalid",
    "PushNotConfigured",
    "QuotaExceeded",
    "RangeNotSatisfiable",
    "RateLimited",
    "RecorderExitNonzero",
    "RecorderUnavailable",
    "RecordingFailed",
    "RemuxFailed",
    "RequestTimeout",
    "S3UploadFailed",
    "SourceBlocked",
    "SourceError",
    "SourceNotFound",
    "SourceRateLimited",
    "SourceUnreachable",
    "StorageUnavailable",
    "StrategyUnavailable",
    "StreamEnded",
    "StreamStalled",
    "TimeLimitExceeded",
    "TooManyAuthFailures",
    "Unauthorized",
    "UnknownEventType",
    "UnsupportedEngine",
    "UnsupportedFormat",
    "UnsupportedOutputFormat",
    "UnsupportedSource",
    "VerifyFailed",
    "WebhookNotConfigured",
    "WebhookReplayed",
    "error_class",
    "error_class_for",
]
