"""Prometheus text exposition (docs/metrics.md lists every series)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from livevault.api.deps import ContainerDep, SessionOrKeyDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(container: ContainerDep, _key: SessionOrKeyDep) -> Response:
    """Every livevault_* series (docs/metrics.md): counters of every process (summed in multiprocess mode),
    recordings, watchers, disk, the upload backlog and each running recording's health from the database."""
    body = await asyncio.to_thread(container.telemetry.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
