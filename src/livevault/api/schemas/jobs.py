"""`GET /jobs/{task_id}` (seeds 000/001)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class JobOut(BaseModel):
    task_id: str
    status: str = Field(examples=["SUCCESS"], description="PENDING|STARTED|RETRY|SUCCESS|FAILURE|REVOKED")
    result: dict[str, Any] | None = Field(
        default=None,
        description="{returncode, files, s3, started_at, ended_at} once the job has run",
    )
    error_code: str | None = None
    error_message: str | None = None
    correlation_id: str | None = None
    recording_id: str | None = None
    kind: str
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
