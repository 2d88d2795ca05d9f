"""Job status, read from the database (never from a broker's result backend)."""

from __future__ import annotations

from fastapi import APIRouter

from livevault.api.deps import ApiKeyDep, ContainerDep
from livevault.api.schemas.common import ERROR_RESPONSES, ErrorBody
from livevault.api.schemas.jobs import JobOut
from livevault.domain.secrets import mask_optional

router = APIRouter(tags=["jobs"], responses=ERROR_RESPONSES)


@router.get("/jobs/{task_id}", response_model=JobOut, responses={404: {"model": ErrorBody}})
async def get_job(task_id: str, container: ContainerDep, _key: ApiKeyDep) -> JobOut:
    """Status of a job: PENDING → STARTED → SUCCESS | FAILURE, with `result` and error fields."""
    job = container.recordings.get_job(task_id)
    return JobOut(
        task_id=job.id,
        status=job.status.value,
        result=job.result,
        error_code=job.error_code,
        error_message=mask_optional(job.error_message),
        correlation_id=job.correlation_id,
        recording_id=job.recording_id,
        kind=job.kind,
        created_at=job.created_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
    )
