"""Conversions between ORM rows and domain dataclasses, and checks on updatable fields."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import TYPE_CHECKING, Any

from livevault.db.tables import JOB_COLUMNS, RECORDING_COLUMNS
from livevault.domain.recording import Job, JobStatus, Recording, RecordingStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from livevault.db.tables import JobRow, RecordingRow

RECORDING_FIELDS = tuple(f.name for f in fields(Recording))
JOB_FIELDS = tuple(f.name for f in fields(Job))

# `status` changes only through `set_status`, which checks the transition.
RECORDING_UPDATABLE = RECORDING_COLUMNS - {"id", "status", "updated_at"}
JOB_UPDATABLE = JOB_COLUMNS - {"id", "updated_at"}


def plain(value: Any) -> Any:
    """Enum members become their values, so no driver ever adapts them by name."""
    return value.value if isinstance(value, Enum) else value


def recording_values(recording: Recording) -> dict[str, Any]:
    values = {name: plain(getattr(recording, name)) for name in RECORDING_FIELDS}
    values["options"] = dict(recording.options or {})
    return values


def job_values(job: Job) -> dict[str, Any]:
    values = {name: plain(getattr(job, name)) for name in JOB_FIELDS}
    values["result"] = None if job.result is None else dict(job.result)
    return values


def to_recording(row: RecordingRow) -> Recording:
    values = {name: getattr(row, name) for name in RECORDING_FIELDS}
    values["status"] = RecordingStatus(row.status)
    values["options"] = dict(row.options or {})
    return Recording(**values)


def to_job(row: JobRow) -> Job:
    values = {name: getattr(row, name) for name in JOB_FIELDS}
    values["status"] = JobStatus(row.status)
    values["result"] = None if row.result is None else dict(row.result)
    return Job(**values)


def checked_changes(changes: Mapping[str, Any], allowed: frozenset[str], what: str) -> dict[str, Any]:
    """The changes with enum members unwrapped; unknown or read-only names are a programming error."""
    unknown = sorted(set(changes) - allowed)
    if unknown:
        hint = " (use set_status to change a recording's status)" if "status" in unknown else ""
        raise ValueError(f"cannot update {what} field(s) {', '.join(unknown)}{hint}")
    return {name: plain(value) for name, value in changes.items()}
