"""Jobs: one row per task (the seeds' `task_id`), linked to the recording it works on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from livevault.db.repositories._mapping import JOB_UPDATABLE, checked_changes, job_values, to_job
from livevault.db.tables import JobRow, utcnow
from livevault.errors import Conflict, NotFound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from livevault.domain.recording import Job


class JobRepository:
    """Jobs as `domain.recording.Job`; never commits (the caller's transaction does)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, job: Job) -> Job:
        """Insert a new job; an existing id is a Conflict."""
        row = JobRow(**job_values(job), updated_at=utcnow())
        self._session.add(row)
        try:
            self._session.flush()
        except IntegrityError as exc:
            raise Conflict("job already exists", details={"task_id": job.id}) from exc
        return to_job(row)

    def get(self, job_id: str) -> Job | None:
        row = self._session.get(JobRow, job_id)
        return None if row is None else to_job(row)

    def update(self, job_id: str, **changes: Any) -> Job:
        """Set columns by name; NotFound when the id is unknown."""
        values = checked_changes(changes, JOB_UPDATABLE, "job")
        row = self._session.get(JobRow, job_id)
        if row is None:
            raise NotFound("Job not found", details={"task_id": job_id})
        for name, value in values.items():
            setattr(row, name, value)
        self._session.flush()
        return to_job(row)

    def for_recording(self, recording_id: str) -> list[Job]:
        """The recording's jobs, oldest first."""
        query = select(JobRow).where(JobRow.recording_id == recording_id).order_by(JobRow.created_at, JobRow.id)
        return [to_job(row) for row in self._session.scalars(query)]
