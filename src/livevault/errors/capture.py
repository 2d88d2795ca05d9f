"""Recording and post-processing failures: the recorder, ffmpeg, the disk, remux, verify, nothing recorded."""

from __future__ import annotations

from livevault.errors.base import ErrorKind, LivevaultError


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


class RecorderUnavailable(LivevaultError):
    """No recorder is configured for this stream, or its program is not installed."""

    code = "RECORDER_UNAVAILABLE"
    kind = ErrorKind.UNAVAILABLE


class RecordingFailed(LivevaultError):
    """A watcher's last recording failed without a code of its own."""

    code = "RECORDING_FAILED"
    kind = ErrorKind.UNAVAILABLE
