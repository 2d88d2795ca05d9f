"""Composition root: Settings -> engine, runner, sources, capture engines -> services.

The only module that names concrete adapter classes (with `livevault.wiring`, whose Settings -> adapter
builders it re-exports under their old names here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from livevault.cache.limiter import LimitsRateLimiter
from livevault.capture.command import CommandCapture
from livevault.capture.ffmpeg import FfmpegCapture
from livevault.capture.hls import HlsCapture
from livevault.capture.http import close_session, create_session
from livevault.capture.progressive import ProgressiveCapture
from livevault.db.session import check, create_engine_for, make_session_factory, upgrade
from livevault.domain.livekit import LIVEKIT_SOURCE
from livevault.domain.stream import StreamFormat
from livevault.net.guard import UrlGuard as UrlGuard
from livevault.observability import Metrics, register_secrets
from livevault.runners.local import LocalRunner
from livevault.services.access import AccessService
from livevault.services.delivery import UPLOAD_JOB, StorageService
from livevault.services.downloads.videos import DOWNLOAD_JOB, DownloadService
from livevault.services.files import FileService
from livevault.services.health import Readiness
from livevault.services.intake import TargetResolver
from livevault.services.jobs import JobLedger
from livevault.services.keys import KeyService
from livevault.services.notify.deliveries import NotificationService
from livevault.services.notify.dispatch import Dispatcher
from livevault.services.notify.emit import Notifier
from livevault.services.pieces import Splitter
from livevault.services.push.bucket import BucketPoller
from livevault.services.push.webhooks import PushService
from livevault.services.ratelimit import ApiRateLimit
from livevault.services.recording.finalize import Finalizer
from livevault.services.recording.record import FINALIZE_JOB, RECORD_JOB, ActiveCaptures, RecordingService
from livevault.services.recording.recorder import Recorder
from livevault.services.retention.disk import DiskWatch
from livevault.services.retention.service import RetentionLoop, RetentionService
from livevault.services.telemetry import TelemetryService
from livevault.services.uow import Database
from livevault.services.viewing import LivePlaylists, Overview, SessionService
from livevault.services.watching.scheduler import WatchScheduler
from livevault.services.watching.watch import WatcherService
from livevault.sources.bucket import ENGINE as BUCKET_ENGINE
from livevault.sources.catalog import build_registry
from livevault.sources.urls import check_secret_file
from livevault.storage.local import LocalStore
from livevault.wiring.adapters import bucket_capture_options as bucket_capture_options
from livevault.wiring.adapters import build_rooms as build_rooms
from livevault.wiring.adapters import build_runner as build_runner
from livevault.wiring.adapters import capture_options as capture_options
from livevault.wiring.adapters import celery_app as celery_app
from livevault.wiring.adapters import download_strategies as download_strategies
from livevault.wiring.adapters import object_store as object_store
from livevault.wiring.adapters import segments_store as segments_store
from livevault.wiring.adapters import shared_state as shared_state
from livevault.wiring.loop import event_loop_name as event_loop_name
from livevault.wiring.loop import new_event_loop as new_event_loop
from livevault.wiring.loop import run_async as run_async
from livevault.wiring.startup import notify_targets as notify_targets
from livevault.wiring.startup import prepare_storage as prepare_storage
from livevault.wiring.startup import trusted_hosts as trusted_hosts

if TYPE_CHECKING:
    from pathlib import Path

    import aiohttp
    from sqlalchemy import Engine

    from livevault.cache.redis_store import RedisStore
    from livevault.capture.base import CaptureEngine
    from livevault.config import Settings
    from livevault.domain.recording import Recording
    from livevault.runners.celery import CeleryRunner
    from livevault.services.livekit.rooms import RoomRecordingService
    from livevault.sources.registry import SourceRegistry
    from livevault.storage.base import Store


@dataclass
class Container:
    """Everything a process needs, built once per app / CLI command / worker."""

    settings: Settings
    engine: Engine
    db: Database
    runner: LocalRunner | CeleryRunner
    metrics: Metrics
    http: aiohttp.ClientSession
    sources: SourceRegistry
    recordings: RecordingService
    recorder: Recorder
    finalizer: Finalizer
    files: FileService
    watchers: WatcherService
    scheduler: WatchScheduler
    jobs: JobLedger
    downloads: DownloadService
    rate_limits: ApiRateLimit
    disk: DiskWatch
    retention: RetentionService
    storage: StorageService
    notifier: Notifier
    dispatcher: Dispatcher
    rooms: RoomRecordingService
    guard: UrlGuard = field(default_factory=UrlGuard)
    trusted_http: aiohttp.ClientSession | None = None
    active: ActiveCaptures = field(default_factory=ActiveCaptures)
    shared_store: RedisStore | None = None
    segments: Store | None = None
    push: PushService = field(init=False)
    bucket_poller: BucketPoller | None = field(init=False, default=None)
    notifications: NotificationService = field(init=False)
    readiness: Readiness = field(init=False)
    access: AccessService = field(init=False)
    retention_loop: RetentionLoop = field(init=False)
    sessions: SessionService = field(init=False)
    live: LivePlaylists = field(init=False)
    overview: Overview = field(init=False)
    targets: TargetResolver = field(init=False)
    keys: KeyService = field(init=False)
    telemetry: TelemetryService = field(init=False)

    def __post_init__(self) -> None:
        self.telemetry = TelemetryService(self.db, self.metrics, self.disk_free, refresh=[self.storage.backlog])
        self.keys = KeyService(self.db, touch_interval=self.settings.key_touch_interval)
        self.access = AccessService(self.settings.api_keys, self.keys)
        self.sessions = SessionService.from_settings(self.settings)
        self.live = LivePlaylists(self.recordings)
        self.overview = Overview(self.settings, self.recordings, self.watchers, self.disk_free,
                                 upload_backlog_of=lambda: self.storage.backlog()[0])
        self.notifications = NotificationService(self.db, on_requeued=self.dispatcher.poke)
        self.push = PushService(self.settings, self.db, self.recordings, self.validate_url)
        self.targets = TargetResolver(self.sources, self.validate_url, self.push)
        if self.segments is not None and self.settings.push_source == "bucket":
            self.bucket_poller = BucketPoller(self.settings, self.push, self.segments)
        self.readiness = Readiness(self.settings, self.database_ok, self.disk.status, self.shared_store)
        self.retention_loop = RetentionLoop(self.retention, self.settings.retention_interval)

    def validate_url(self, url: str) -> str:
        return self.guard.check_url(url)

    def validate_options(self, proxy: str | None, cookies: str | None, notify_url: str | None = None) -> None:
        if notify_url:
            self.validate_url(notify_url)  # a notification target passes the same guard as a source
        if proxy:
            self.guard.check_proxy(proxy)
        if cookies:
            check_secret_file(cookies, self.settings.secrets_dir)

    def database_ok(self) -> bool:
        return check(self.engine)

    def disk_free(self) -> int:
        return self.disk.status().free_bytes

    async def start(self, *, scheduler: bool | None = None) -> None:
        """`scheduler`: run the watcher scheduler and the cleanup job in this process (embedded mode)."""
        await self.runner.start()
        await self.dispatcher.start()  # in every process: deliveries are claimed, so none is sent twice
        await self.rooms.start_polling()  # LiveKit egresses whose webhook never came (idempotent everywhere)
        if self.settings.scheduler_enabled if scheduler is None else scheduler:
            await self.scheduler.start()
            await self.retention_loop.start()
        if isinstance(self.runner, LocalRunner):  # distributed: Celery beat runs the storage retry schedule
            await self.storage.start()
            if self.bucket_poller is not None:  # distributed: Celery beat runs `livevault.bucket.poll`
                await self.bucket_poller.start()

    async def close(self, timeout: float = 30.0) -> None:
        """Stop captures (they finalize what they have), wait for jobs, then release resources."""
        await self.scheduler.stop()
        await self.retention_loop.stop()
        await self.storage.stop()
        if self.bucket_poller is not None:
            await self.bucket_poller.stop()
        for control in list(self.active.controls.values()):
            control.stop.set()
        await self.runner.shutdown(timeout)
        await self.recorder.progress.close()
        await self.recorder.leases.close()
        await self.dispatcher.stop()
        await self.rooms.stop_polling()
        self.finalizer.close()
        await close_session(self.http)
        if self.trusted_http is not None and self.trusted_http is not self.http:
            await close_session(self.trusted_http)
        self.engine.dispose()
        if self.shared_store is not None:
            self.shared_store.close()


def _claim_piece(storage: StorageService, recording: Recording, index: int) -> Path:
    return storage.claim_output(recording, piece=index)


def build_container(settings: Settings, *, migrate: bool = True, guard: UrlGuard | None = None) -> Container:
    """Build the object graph; call inside a running event loop (the HTTP session needs one).

    `guard` is the outbound URL policy (LIVEVAULT_ALLOW_PRIVATE_SOURCES); tests hand in one with their own
    name lookup.
    """
    guard = guard or UrlGuard(allow_private=settings.allow_private_sources, trusted_hosts=trusted_hosts(settings))
    register_secrets(*settings.api_keys, settings.webhook_secret, settings.aws_secret_access_key,
                     settings.url_signing_key, settings.notify_secret, settings.livekit_api_secret)
    targets = notify_targets(settings, guard)  # before anything that needs closing: a refused target stops start-up
    prepare_storage(settings)
    engine = create_engine_for(settings.database_url)
    if migrate:
        upgrade(engine)
    db = Database(make_session_factory(engine))
    metrics = Metrics()
    options = capture_options(settings)
    http = create_session(options, guard=guard)
    sources = build_registry(settings, http)
    engines: dict[StreamFormat, CaptureEngine] = {
        StreamFormat.HLS: HlsCapture(http, options),
        StreamFormat.FLV: ProgressiveCapture(http, options),
        StreamFormat.TS: ProgressiveCapture(http, options),
    }
    runner = build_runner(settings)
    active = ActiveCaptures()
    store, limiter, cache = shared_state(settings)
    files = FileService(settings.recordings_dir, db, cache)
    check_url = guard.check_url
    dispatcher = Dispatcher(settings, db, http, check_url, metrics)
    notifier = Notifier(targets, check_url, public_url=settings.public_url,
                        on_queued=dispatcher.poke)
    storage = StorageService(settings, db, runner, metrics, LocalStore(settings.recordings_dir),
                             object_store(settings), files_changed=files.invalidate, notifier=notifier)
    runner.register(UPLOAD_JOB, storage.run_upload)
    finalizer = Finalizer(settings, db, metrics, storage, files_changed=files.invalidate, notifier=notifier)
    # Split recordings: each piece's name is claimed from storage, and each finished piece is handed to it
    # (registered and uploaded while the stream goes on) and announced.
    finalizer.pieces = Splitter(settings, db, finalizer, claim=partial(_claim_piece, storage),
                                on_piece=storage.store_piece, notifier=notifier)
    named_engines: dict[str, CaptureEngine] = {
        "ffmpeg": FfmpegCapture.from_settings(settings, options, check_target=guard.check_target, session=http),
        "command": CommandCapture.from_settings(
            settings, check_url=guard.check_url, check_proxy=guard.check_proxy,
        ),
    }
    segments = segments_store(settings)
    named_engines[BUCKET_ENGINE] = HlsCapture(http, bucket_capture_options(settings, options, segments))
    recorder = Recorder(settings, db, sources, engines, finalizer, active, metrics, named_engines,
                        notifier=notifier)
    runner.register(RECORD_JOB, recorder.run)
    runner.register(FINALIZE_JOB, recorder.finalize_job)
    # The operator's own services (the download resolver, LiveKit) are often on a private network: they are
    # called through a session that trusts private addresses. Nothing a user gives goes through it.
    trusted_http = create_session(options, guard=UrlGuard(allow_private=True))
    downloads = DownloadService(settings, db, runner, metrics, http, download_strategies(settings, trusted_http))
    runner.register(DOWNLOAD_JOB, downloads.run)
    disk = DiskWatch(settings, metrics)
    recordings = RecordingService(settings, db, runner, active, files_changed=files.invalidate, storage=storage,
                                  disk=disk)
    # Under disk pressure, local copies with a verified S3 copy go first (only when S3 is configured).
    retention = RetentionService(
        settings, db, recordings, disk, metrics,
        remote_copies=storage.verified_remote if storage.remote is not None else None,
        drop_local=storage.drop_local_copies,
    )
    scheduler = WatchScheduler(settings, db, sources, recordings, metrics, notifier=notifier)
    jobs = JobLedger(db)
    rooms = build_rooms(settings, db, metrics, trusted_http, notifier, storage)
    recordings.external_stoppers[LIVEKIT_SOURCE] = rooms.stop
    if isinstance(runner, LocalRunner):
        runner.on_crash = jobs.crashed
    return Container(
        settings=settings,
        engine=engine,
        db=db,
        runner=runner,
        metrics=metrics,
        http=http,
        sources=sources,
        recordings=recordings,
        recorder=recorder,
        finalizer=finalizer,
        files=files,
        watchers=WatcherService(settings, db, recordings, on_due=scheduler.poke),
        scheduler=scheduler,
        jobs=jobs,
        downloads=downloads,
        notifier=notifier,
        dispatcher=dispatcher,
        rooms=rooms,
        guard=guard,
        trusted_http=trusted_http,
        rate_limits=ApiRateLimit(settings.rate_limit_per_min, limiter, LimitsRateLimiter.in_memory() if store else None,
                                 auth_failures_per_minute=settings.auth_failures_per_min),
        disk=disk,
        retention=retention,
        storage=storage,
        active=active,
        shared_store=store,
        segments=segments,
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
