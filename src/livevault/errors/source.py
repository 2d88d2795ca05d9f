"""The SourceError family: a stream or download source that is offline, unreachable or unusable."""

from __future__ import annotations

from livevault.errors.base import ErrorKind, LivevaultError


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
