"""Jobs: one row per task (the seeds' `task_id`), linked to the recording it works on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from livevault.db.repositories._mapping import JOB_UPDATABLE, checked_changes, job_values, to_job
from livevault.db.tables import JobRow, utcnow
from livevault.domain.recording import JobStatus
from livevault.errors import Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

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

    def claim(self, job_id: str, now: datetime, stale_before: datetime) -> bool:
        """Atomically make the job STARTED by the caller: only a job nobody runs qualifies (PENDING, RETRY, or
        STARTED without a heartbeat since `stale_before`). False when another process holds it or it ended."""
        free = or_(JobRow.status.in_([JobStatus.PENDING.value, JobStatus.RETRY.value]),
                   and_(JobRow.status == JobStatus.STARTED.value, JobRow.updated_at < stale_before))
        claimed = self._session.execute(
            update(JobRow).where(JobRow.id == job_id, free).values(
                status=JobStatus.STARTED.value, updated_at=now, attempts=JobRow.attempts + 1,
                started_at=func.coalesce(JobRow.started_at, now),
            ),
            execution_options={"synchronize_session": False},
        )
        self._session.expire_all()
        return bool(getattr(claimed, "rowcount", 0) == 1)

    def touch(self, job_id: str, now: datetime) -> None:
        """The heartbeat of a running job: its `updated_at` says its process is alive."""
        self._session.execute(
            update(JobRow).where(JobRow.id == job_id, JobRow.status == JobStatus.STARTED.value).values(updated_at=now),
            execution_options={"synchronize_session": False},
        )

    def idle_since(self, job_ids: Sequence[str], *, pending_before: datetime, stale_before: datetime) -> list[str]:
        """Of `job_ids`, those nobody works on: waiting (PENDING, RETRY) since before `pending_before`, or
        STARTED without a heartbeat since `stale_before`."""
        if not job_ids:
            return []
        waiting = and_(JobRow.status.in_([JobStatus.PENDING.value, JobStatus.RETRY.value]),
                       JobRow.updated_at < pending_before)
        silent = and_(JobRow.status == JobStatus.STARTED.value, JobRow.updated_at < stale_before)
        query = select(JobRow.id).where(JobRow.id.in_(list(job_ids)), or_(waiting, silent)).order_by(JobRow.created_at)
        return list(self._session.scalars(query))
