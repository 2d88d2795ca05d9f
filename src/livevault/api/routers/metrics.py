"""Prometheus text exposition."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from livevault.api.deps import ContainerDep, SessionOrKeyDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(container: ContainerDep, _key: SessionOrKeyDep) -> Response:
    """Counters and gauges: http_requests_total, recordings_total, disk_free_bytes, …"""
    try:
        free = await asyncio.to_thread(container.disk_free)
        container.metrics.disk_free.set(free)
        container.metrics.disk_bytes_free.set(free)
    except OSError:
        pass
    files = container.files.search(page=1, page_size=1).total
    container.metrics.recording_files.set(files)
    container.metrics.watchers_active.set(await asyncio.to_thread(container.watchers.count_active))
    await asyncio.to_thread(container.storage.backlog)  # s3_upload_backlog_files / _bytes
    return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)
