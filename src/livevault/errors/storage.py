"""Object storage failures: an S3 upload or another store operation that failed."""

from __future__ import annotations

from livevault.errors.base import ErrorKind, LivevaultError


class S3UploadFailed(LivevaultError):
    code = "S3_UPLOAD_FAILED"
    kind = ErrorKind.UNAVAILABLE
    retryable = True


class StorageUnavailable(LivevaultError):
    """Object storage (or the local store) failed an operation: unreachable, refused, or a checksum mismatch."""

    code = "STORAGE_UNAVAILABLE"
    kind = ErrorKind.UNAVAILABLE
    retryable = True
