"""Composition root: Settings -> engine, runner, sources, capture engines -> services.

The only module that names concrete adapter classes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from livevault.capture.base import CaptureEngine, CaptureOptions
from livevault.capture.hls import HlsCapture
from livevault.capture.http import create_session
from livevault.capture.progressive import ProgressiveCapture
from livevault.db.session import check, create_engine_for, make_session_factory, upgrade
from livevault.domain.stream import StreamFormat
from livevault.observability import Metrics
from livevault.runners.local import LocalRunner
from livevault.services.files import FileService
from livevault.services.finalize import Finalizer
from livevault.services.record import FINALIZE_JOB, RECORD_JOB, ActiveCaptures, RecordingService
from livevault.services.recorder import Recorder
from livevault.services.uow import Database
from livevault.sources.catalog import build_registry
from livevault.sources.urls import check_proxy_url, check_secret_file, validate_source_url

if TYPE_CHECKING:
    import aiohttp
    from sqlalchemy import Engine

    from livevault.config import Settings
    from livevault.sources.registry import SourceRegistry


def capture_options(settings: Settings) -> CaptureOptions:
    return CaptureOptions(
        http_timeout=settings.http_timeout,
        segment_concurrency=settings.segment_concurrency,
        segment_retries=settings.segment_retries,
        playlist_grace=settings.playlist_grace,
        stall_timeout=settings.stall_timeout,
        reconnect_window=settings.reconnect_window,
        user_agent=settings.user_agent,
    )


@dataclass
class Container:
    """Everything a process needs, built once per app / CLI command / worker."""

    settings: Settings
    engine: Engine
    db: Database
    runner: LocalRunner
    metrics: Metrics
    http: aiohttp.ClientSession
    sources: SourceRegistry
    recordings: RecordingService
    recorder: Recorder
    finalizer: Finalizer
    files: FileService
    active: ActiveCaptures = field(default_factory=ActiveCaptures)

    def validate_url(self, url: str) -> str:
        return validate_source_url(url, allow_private=self.settings.allow_private_sources)

    def validate_options(self, proxy: str | None, cookies: str | None) -> None:
        if proxy:
            check_proxy_url(proxy)
        if cookies:
            check_secret_file(cookies, self.settings.secrets_dir)

    def database_ok(self) -> bool:
        return check(self.engine)

    def disk_free(self) -> int:
        self.settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.settings.recordings_dir).free

    async def start(self) -> None:
        await self.runner.start()

    async def close(self, timeout: float = 30.0) -> None:
        """Stop captures (they finalize what they have), wait for jobs, then release resources."""
        for control in list(self.active.controls.values()):
            control.stop.set()
        await self.runner.shutdown(timeout)
        await self.recorder.progress.close()
        self.finalizer.close()
        await self.http.close()
        self.engine.dispose()


def prepare_storage(settings: Settings) -> None:
    for path in (settings.data_dir, settings.recordings_dir, settings.spool_dir):
        path.mkdir(parents=True, exist_ok=True)


def build_container(settings: Settings, *, migrate: bool = True) -> Container:
    """Build the object graph; call inside a running event loop (the HTTP session needs one)."""
    prepare_storage(settings)
    engine = create_engine_for(settings.database_url)
    if migrate:
        upgrade(engine)
    db = Database(make_session_factory(engine))
    metrics = Metrics()
    options = capture_options(settings)
    http = create_session(options)
    sources = build_registry(settings, http)
    engines: dict[StreamFormat, CaptureEngine] = {
        StreamFormat.HLS: HlsCapture(http, options),
        StreamFormat.FLV: ProgressiveCapture(http, options),
        StreamFormat.TS: ProgressiveCapture(http, options),
    }
    runner = LocalRunner(max_concurrent=settings.max_concurrent_recordings)
    active = ActiveCaptures()
    finalizer = Finalizer(settings, db, metrics)
    named_engines: dict[str, CaptureEngine] = {}
    recorder = Recorder(settings, db, sources, engines, finalizer, active, metrics, named_engines)
    runner.register(RECORD_JOB, recorder.run)
    runner.register(FINALIZE_JOB, finalizer.run)
    return Container(
        settings=settings,
        engine=engine,
        db=db,
        runner=runner,
        metrics=metrics,
        http=http,
        sources=sources,
        recordings=RecordingService(settings, db, runner, active),
        recorder=recorder,
        finalizer=finalizer,
        files=FileService(settings.recordings_dir, db),
        active=active,
    )


def migrate(settings: Settings) -> str | None:
    """Bring the database schema to the newest revision; returns that revision."""
    from livevault.db.session import current_revision

    prepare_storage(settings)
    engine = create_engine_for(settings.database_url)
    try:
        upgrade(engine)
        return current_revision(engine)
    finally:
        engine.dispose()
