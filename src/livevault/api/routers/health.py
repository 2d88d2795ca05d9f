"""Liveness and readiness; no API key needed."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from livevault.api.deps import ContainerDep

router = APIRouter(tags=["health"])
MIN_FREE_BYTES = 100 * 1024 * 1024


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness in seed 002's shape."""
    return {"status": "healthy", "service": "livevault"}


@router.get("/ready", responses={503: {"description": "Not ready; `reasons` says why"}})
async def ready(container: ContainerDep) -> JSONResponse:
    """Readiness: the database answers and the recordings disk is writable with free space."""
    reasons: list[str] = []
    checks: dict[str, str] = {}
    db_ok = await asyncio.to_thread(container.database_ok)
    checks["database"] = "ok" if db_ok else "unavailable"
    if not db_ok:
        reasons.append("database does not answer")
    try:
        free = await asyncio.to_thread(container.disk_free)
        checks["disk"] = "ok" if free >= MIN_FREE_BYTES else "low"
        if free < MIN_FREE_BYTES:
            reasons.append(f"only {free} bytes free on the recordings disk")
    except OSError as exc:
        checks["disk"] = "unavailable"
        reasons.append(f"recordings directory unusable: {exc}")
    checks["runner"] = container.settings.runner
    status = 200 if not reasons else 503
    return JSONResponse(
        status_code=status, content={"status": "ready" if status == 200 else "not_ready",
                                     "checks": checks, "reasons": reasons}
    )
