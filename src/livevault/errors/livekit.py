"""LiveKit failures: not configured, its server API, and Egress ending without its file."""

from __future__ import annotations

from livevault.errors.base import ErrorKind, LivevaultError


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
