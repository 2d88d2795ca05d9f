"""What a runner reports about a job whose function did not finish on its own.

Job functions write their own states (STARTED, SUCCESS, FAILURE with the error). A job can still end
outside them: a bug raises out of the function, a worker cancels it at its hard time limit, or Celery
schedules a retry after a retryable error. Runners report those here so `GET /jobs/{id}` never shows
STARTED for a job that no longer runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import JobRepository
from livevault.domain.recording import FINISHED_JOB_STATUSES, Job, JobStatus
from livevault.errors import InternalError, LivevaultError
from livevault.services.recording.record import utcnow

if TYPE_CHECKING:
    from livevault.services.uow import Database

__all__ = ["JobLedger", "error_fields"]

log = logging.getLogger(__name__)

_MESSAGE_LIMIT = 1000


def error_fields(error: BaseException, code: str | None = None) -> tuple[str, str]:
    """The job's `error_code` and `error_message` for an exception (INTERNAL_ERROR for anything unexpected)."""
    if isinstance(error, LivevaultError):
        return code or error.code, error.message[:_MESSAGE_LIMIT]
    text = str(error) or type(error).__name__
    return code or InternalError.code, f"{type(error).__name__}: {text}"[:_MESSAGE_LIMIT]


class JobLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def crashed(self, job_id: str, error: BaseException, *, code: str | None = None) -> Job | None:
        """FAILURE with the error, unless the job already finished (its function wrote the outcome)."""
        error_code, message = error_fields(error, code)
        return await self._db.run_async(
            lambda s: _change(s, job_id, status=JobStatus.FAILURE, error_code=error_code, error_message=message,
                              ended_at=utcnow())
        )

    async def retrying(self, job_id: str, error: LivevaultError, *, delay: float, attempt: int) -> Job | None:
        """RETRY: the runner runs the job again after `delay` seconds (attempt `attempt`)."""
        message = f"{error.message} (retry {attempt} in {delay:.0f} s)"[:_MESSAGE_LIMIT]
        return await self._db.run_async(
            lambda s: _change(s, job_id, status=JobStatus.RETRY, error_code=error.code, error_message=message)
        )


def _change(session: Any, job_id: str, **changes: Any) -> Job | None:
    jobs = JobRepository(session)
    job = jobs.get(job_id)
    if job is None:
        log.warning("job %s is not in the database; its %s is not recorded", job_id, changes["status"])
        return None
    if job.status in FINISHED_JOB_STATUSES:
        return job
    return jobs.update(job_id, **changes)
