"""Batch downloads of finished videos (seed 003): start a batch, list and inspect its videos."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from livevault.api.deps import ApiKeyDep, ContainerDep, RecordScopeDep
from livevault.api.schemas.common import ERROR_RESPONSES, MAX_PAGE, ErrorBody
from livevault.api.schemas.downloads import (
    DownloadAccepted,
    DownloadCreate,
    DownloadList,
    DownloadOut,
    DownloadRef,
    DownloadState,
)
from livevault.observability import current_correlation_id
from livevault.services.downloads.videos import Download

router = APIRouter(tags=["downloads"], responses=ERROR_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such download"}}


def download_out(item: Download) -> DownloadOut:
    return DownloadOut(
        id=item.id, task_id=item.batch_id, position=item.position, url=item.url, strategy=item.strategy,
        status=item.status.value, file_path=item.file_path, file_size=item.file_size, title=item.title,
        author=item.author, duration=item.duration, video_info=item.video_info, keyframes=item.keyframes,
        execution_time=item.execution_time, attempts=item.attempts, error_code=item.error_code,
        error_message=item.error_message, created_at=item.created_at, started_at=item.started_at,
        ended_at=item.ended_at,
    )


@router.post("/downloads", status_code=202, response_model=DownloadAccepted)
async def create_downloads(body: DownloadCreate, container: ContainerDep, _key: RecordScopeDep) -> DownloadAccepted:
    """Download 1-100 videos as one job, NUM_PARALLEL_DOWNLOADS at a time; poll `/jobs/{task_id}`.

    A URL that fails the URL check rejects the whole batch (400 `INVALID_URL`, its `index` in `details`).
    """
    job, items = await asyncio.to_thread(
        container.downloads.create_batch, body.urls, strategy=body.strategy, keyframes=body.keyframes,
        correlation_id=current_correlation_id(),
    )
    return DownloadAccepted(
        task_id=job.id, status=job.status.value, strategy=items[0].strategy,
        downloads=[DownloadRef(id=item.id, url=item.url) for item in items],
    )


@router.get("/downloads", response_model=DownloadList)
async def list_downloads(
    container: ContainerDep,
    _key: ApiKeyDep,
    batch: Annotated[str | None, Query(max_length=64, description="A batch's task_id")] = None,
    status: DownloadState | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DownloadList:
    """Downloaded videos, newest batch first and in request order within a batch."""
    result = await asyncio.to_thread(
        container.downloads.search, batch_id=batch, status=status, page=page, page_size=page_size
    )
    return DownloadList(
        downloads=[download_out(item) for item in result.items], total=result.total, page=page, page_size=page_size
    )


@router.get("/downloads/{download_id}", response_model=DownloadOut, responses=NOT_FOUND)
async def get_download(download_id: str, container: ContainerDep, _key: ApiKeyDep) -> DownloadOut:
    """One video: status, file, title / author / duration, strategy telemetry and keyframes."""
    return download_out(await asyncio.to_thread(container.downloads.get, download_id))
