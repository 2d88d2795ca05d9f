"""Recordings and jobs: their states and the transitions between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime


class RecordingStatus(StrEnum):
    """Seed 002's statuses plus `pending` (accepted, not yet capturing)."""

    PENDING = "pending"
    RECORDING = "recording"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


SEED_STATUS = {RecordingStatus.PENDING: RecordingStatus.RECORDING}
"""livevault's statuses as seed 002's four (recording, processing, completed, failed)."""

START_POSITIONS = ("live_edge", "window")
"""Where a recording starts in a live window: the newest segment, or the whole window still offered."""

ACTIVE_RECORDING_STATUSES = frozenset(
    {RecordingStatus.PENDING, RecordingStatus.RECORDING, RecordingStatus.PROCESSING}
)
# Statuses in which a recording reads its source: at most one recording per source key is in one of them (a
# partial unique index, `uq_recordings_capturing_source`). A recording that is `processing` no longer reads the
# source, so a stream that starts again while the last one is being finalized gets a recording of its own.
CAPTURING_RECORDING_STATUSES = frozenset({RecordingStatus.PENDING, RecordingStatus.RECORDING})
FINISHED_RECORDING_STATUSES = frozenset({RecordingStatus.COMPLETED, RecordingStatus.FAILED})

_RECORDING_TRANSITIONS: dict[RecordingStatus, frozenset[RecordingStatus]] = {
    RecordingStatus.PENDING: frozenset(
        {RecordingStatus.RECORDING, RecordingStatus.PROCESSING, RecordingStatus.FAILED}
    ),
    RecordingStatus.RECORDING: frozenset(
        {RecordingStatus.PROCESSING, RecordingStatus.FAILED, RecordingStatus.RECORDING}
    ),
    RecordingStatus.PROCESSING: frozenset(
        {RecordingStatus.COMPLETED, RecordingStatus.FAILED, RecordingStatus.RECORDING}
    ),
    RecordingStatus.COMPLETED: frozenset(),
    RecordingStatus.FAILED: frozenset({RecordingStatus.PROCESSING}),
}


def can_transition(current: RecordingStatus, new: RecordingStatus) -> bool:
    return new in _RECORDING_TRANSITIONS[current]


class JobStatus(StrEnum):
    """Celery's task states, which the seeds expose through /jobs/{task_id}."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"


FINISHED_JOB_STATUSES = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.REVOKED})


@dataclass(frozen=True, slots=True)
class RecordingRequest:
    """A validated request to record one source."""

    source_kind: str
    source: str
    url: str | None = None
    room_id: str | None = None
    duration: int | None = None
    output_template: str | None = None
    quality: str = "best"
    options: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    stream_id: str | None = None
    correlation_id: str | None = None
    watcher_key: str | None = None
    recording_now: bool = False
    """Created `recording` (started now) instead of `pending`: a pushed stream is already live when its
    `stream.started` is answered."""


@dataclass(frozen=True, slots=True)
class Recording:
    id: str
    source_kind: str
    source: str
    status: RecordingStatus
    created_at: datetime
    url: str | None = None
    room_id: str | None = None
    stream_id: str | None = None
    video_id: str | None = None
    title: str | None = None
    quality: str = "best"
    duration_limit: int | None = None
    output_template: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    file_path: str | None = None
    file_size: int = 0
    duration: float = 0.0
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    thumbnail_path: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    correlation_id: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    stop_requested: bool = False
    segments_captured: int = 0
    segments_missing: int = 0
    bytes_captured: int = 0
    parts_count: int = 0
    watcher_key: str | None = None
    source_key: str | None = None  # domain.source_key.recording_source_key; set by RecordingService.create
    pinned: bool = False  # retention never deletes a pinned recording
    verify_mode: str | None = None  # how the finished file was verified: sampled, full or off


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    status: JobStatus
    created_at: datetime
    recording_id: str | None = None
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    correlation_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    attempts: int = 0
