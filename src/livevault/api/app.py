"""`create_app(settings)`: the FastAPI application with its lifespan, middleware and routers."""

from __future__ import annotations

import gc
import logging
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from livevault import __version__
from livevault.api.errors import error_body, install_error_handlers
from livevault.api.limits import RequestLimits
from livevault.api.routers import (
    downloads,
    files,
    health,
    jobs,
    keys,
    live,
    livekit,
    metrics,
    notifications,
    recordings,
    watchers,
    webhooks,
)
from livevault.bootstrap import build_container
from livevault.config import Settings
from livevault.errors import InternalError
from livevault.observability import correlation_id_var, new_correlation_id
from livevault.web import install as install_web

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from livevault.bootstrap import UrlGuard

log = logging.getLogger(__name__)

DESCRIPTION = """
livevault records live streams (HLS, FLV, MPEG-TS) into playable MP4 files and never loses what it
captured. Every endpoint except the health checks and the docs needs an `X-API-Key` header.
Errors share one body: `{error_code, message, details, correlation_id}`.
"""


def _correlation_middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def correlation(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        incoming = request.headers.get("X-Correlation-ID", "")
        cid = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else new_correlation_id()
        token = correlation_id_var.set(cid)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = JSONResponse(status_code=500, content=error_body(
                InternalError.code, "internal error; quote the correlation_id when reporting"))
        finally:
            correlation_id_var.reset(token)
        response.headers["X-Correlation-ID"] = cid
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        container = getattr(request.app.state, "container", None)
        if container is not None:
            container.metrics.http_requests.labels(request.method, endpoint, str(response.status_code)).inc()
            container.metrics.http_latency.labels(endpoint).observe(time.perf_counter() - started)
        return response


def create_app(settings: Settings | None = None, *, guard: UrlGuard | None = None) -> FastAPI:
    """The app; `guard` replaces the outbound URL policy built from settings (tests give it their own lookup)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(settings, guard=guard)
        app.state.container = container
        # Distributed mode: this process only sends jobs; workers run them, beat schedules the watcher passes
        # and the lease sweep recovers what a dead process left behind.
        distributed = settings.runner == "celery"
        await container.start(scheduler=False if distributed else None)
        if not distributed:
            recovered = container.recordings.recover()
            if recovered:
                log.info("recovered %d recordings after restart", len(recovered))
            resumed = container.downloads.recover()
            if resumed:
                log.info("resumed %d download batches after restart", len(resumed))
        gc.freeze()  # start-up objects live forever: keep them out of every garbage collection pass
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(
        title="livevault", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # served offline by livevault.web from assets in the package
    )
    app.state.settings = settings
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_allow_origins, allow_methods=["*"],
            allow_headers=["X-API-Key", "Content-Type", "X-Correlation-ID", "Range"],
            expose_headers=["X-Correlation-ID", "Content-Range"],
        )
    app.add_middleware(RequestLimits, settings=settings)  # inside the correlation middleware: errors carry its id
    _correlation_middleware(app)
    install_error_handlers(app)
    for module in (health, recordings, watchers, webhooks, livekit, downloads, jobs, files, notifications, metrics,
                   live, keys):
        app.include_router(module.router)
    install_web(app)
    return app
