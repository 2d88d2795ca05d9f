"""Liveness and readiness; no API key needed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from livevault.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness in seed 002's shape."""
    return {"status": "healthy", "service": "livevault"}


@router.get("/ready", responses={503: {"description": "Not ready: the failing `checks` carry an `error`"}})
async def ready(container: ContainerDep) -> JSONResponse:
    """Readiness: database and recordings disk; Redis and the Celery broker when this deployment uses them.

    The `disk` check fails below LIVEVAULT_MIN_FREE_BYTES (new recordings are refused with DISK_FULL, running
    ones go on) and reports `used_percent`, `alert` (LIVEVAULT_DISK_ALERT_PERCENT) and `accepting_recordings`."""
    report = await container.readiness.check()
    return JSONResponse(
        status_code=200 if report.ready else 503,
        content={
            "status": "ready" if report.ready else "not_ready",
            "runner": container.settings.runner,
            "checks": {name: check.as_dict() for name, check in report.checks.items()},
            "reasons": report.reasons,
        },
    )
