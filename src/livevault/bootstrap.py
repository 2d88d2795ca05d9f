"""Composition root: Settings -> engine, runner, sources, capture engines -> services.

The only module that names concrete adapter classes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from livevault.cache.limiter import LimitsRateLimiter
from livevault.cache.memory import MemoryCache
from livevault.cache.redis_store import RedisCache, RedisStore
from livevault.capture.base import CaptureEngine, CaptureOptions
from livevault.capture.command import CommandCapture
from livevault.capture.ffmpeg import FfmpegCapture
from livevault.capture.hls import HlsCapture
from livevault.capture.http import close_session, create_session
from livevault.capture.progressive import ProgressiveCapture
from livevault.db.session import check, create_engine_for, make_session_factory, upgrade
from livevault.domain.livekit import LIVEKIT_SOURCE, EgressOutput
from livevault.domain.stream import StreamFormat
from livevault.errors import InvalidInput, LivevaultError
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
from livevault.services.livekit.rooms import RoomRecordingService
from livevault.services.notify.deliveries import NotificationService
from livevault.services.notify.dispatch import Dispatcher
from livevault.services.notify.emit import Notifier
from livevault.services.pieces import Splitter
from livevault.services.push.bucket import BucketPoller, presigner
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
from livevault.sources.http_api import ResolverClient
from livevault.sources.livekit import LiveKitClient
from livevault.sources.urls import check_secret_file
from livevault.sources.ytdlp_video import YtDlpVideo
from livevault.storage.local import LocalStore
from livevault.storage.s3 import S3Config, S3Store

log = logging.getLogger(__name__)
T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from pathlib import Path
    from types import ModuleType

    import aiohttp
    from celery import Celery  # type: ignore[import-untyped]
    from sqlalchemy import Engine

    from livevault.cache.base import RateLimitBackend, TtlCache
    from livevault.config import Settings
    from livevault.domain.recording import Recording
    from livevault.runners.celery import CeleryRunner
    from livevault.services.downloads.videos import VideoStrategy
    from livevault.sources.registry import SourceRegistry
    from livevault.storage.base import Store


def _uvloop() -> ModuleType | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def event_loop_name(settings: Settings) -> str:
    """The event loop `LIVEVAULT_EVENT_LOOP` asks for and this install has: "uvloop" or "asyncio"."""
    if settings.event_loop == "asyncio":
        return "asyncio"
    if _uvloop() is None:
        if settings.event_loop == "uvloop":
            log.warning("LIVEVAULT_EVENT_LOOP=uvloop, but uvloop is not installed: using asyncio's loop")
        return "asyncio"
    return "uvloop"


def new_event_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """A new event loop of the configured kind (uvloop's costs less CPU per request and socket read)."""
    module = _uvloop() if event_loop_name(settings) == "uvloop" else None
    if module is None:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = module.new_event_loop()
    return loop


def run_async(settings: Settings, main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the configured event loop (the CLI's one-shot commands)."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(settings)) as runner:
        return runner.run(main)


def capture_options(settings: Settings) -> CaptureOptions:
    return CaptureOptions(
        http_timeout=settings.http_timeout,
        segment_concurrency=settings.segment_concurrency,
        segment_retries=settings.segment_retries,
        playlist_grace=settings.playlist_grace,
        stall_timeout=settings.stall_timeout,
        reconnect_window=settings.reconnect_window,
        user_agent=settings.user_agent,
        lean_http=settings.lean_http,
    )


def download_strategies(settings: Settings, http: aiohttp.ClientSession) -> dict[str, VideoStrategy]:
    """Seed 003's strategies; `scrapling-api` only when its resolver URL is configured.

    The resolver is the operator's own service (often on a private network), so it is called through a
    session that trusts private addresses; what it returns still passes the guard before it is fetched.
    """
    strategies: dict[str, VideoStrategy] = {
        "yt-dlp": YtDlpVideo(timeout=settings.download_timeout),  # keeps yt-dlp's browser User-Agent
    }
    if settings.download_resolver_url:
        strategies["scrapling-api"] = ResolverClient(
            http, settings.download_resolver_url, timeout=settings.download_timeout
        )
    return strategies


def object_store(settings: Settings) -> Store | None:
    """The S3-compatible store (S3, MinIO, R2) when a bucket is configured, else None."""
    if not settings.s3_enabled:
        return None
    return S3Store(S3Config(
        bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint or None,
        access_key_id=settings.aws_access_key_id or None, secret_access_key=settings.aws_secret_access_key or None,
        region=settings.aws_region, force_path_style=settings.s3_path_style, key_prefix=settings.s3_key_prefix,
        public_base_url=settings.s3_public_base_url, multipart_threshold=settings.s3_multipart_threshold,
        part_size=settings.s3_part_size,
    ))


def segments_store(settings: Settings) -> Store | None:
    """The bucket a streaming server writes live HLS into (bucket sources), on the same S3 service and
    credentials as the recordings bucket; None when neither a bucket source nor S3 is configured."""
    if settings.push_source != "bucket" and not settings.s3_enabled:
        return None
    return S3Store(S3Config(
        bucket=settings.bucket_source_bucket, endpoint_url=settings.s3_endpoint or None,
        access_key_id=settings.aws_access_key_id or None, secret_access_key=settings.aws_secret_access_key or None,
        region=settings.aws_region, force_path_style=settings.s3_path_style,
        connect_timeout=min(settings.bucket_read_timeout, 10.0), read_timeout=settings.bucket_read_timeout,
    ))


def bucket_capture_options(settings: Settings, options: CaptureOptions, store: Store | None) -> CaptureOptions:
    """The native HLS capture's options for bucket streams: the bucket read timeout and retries, s3:// signing."""
    return replace(options, http_timeout=settings.bucket_read_timeout, segment_retries=settings.bucket_read_retries,
                   url_signer=presigner(store) if store is not None else None)


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


def celery_app(settings: Settings, *, set_as_current: bool = False) -> Celery:
    """The Celery app every process of a distributed deployment shares (broker, queues, routes)."""
    from livevault.runners.celery import create_celery_app  # celery is imported only in distributed mode

    return create_celery_app(settings, set_as_current=set_as_current)


def build_runner(settings: Settings) -> LocalRunner | CeleryRunner:
    """`LIVEVAULT_RUNNER`: jobs run in this process (local) or are sent to Celery workers (celery)."""
    if settings.runner == "celery":
        from livevault.runners.celery import CeleryRunner

        return CeleryRunner(celery_app(settings), queue_prefix=settings.celery_queue_prefix)
    return LocalRunner(max_concurrent=settings.max_concurrent_recordings)


def shared_state(settings: Settings) -> tuple[RedisStore | None, RateLimitBackend, TtlCache]:
    """Rate-limit windows and caches: in this process's memory (embedded), or in Redis shared by every replica."""
    url = settings.shared_redis_url
    if url is None:
        return None, LimitsRateLimiter.in_memory(), MemoryCache()
    store = RedisStore.from_url(url)
    namespace = settings.redis_namespace
    return store, LimitsRateLimiter.on_redis(store, f"{namespace}:ratelimit"), RedisCache(store, f"{namespace}:")


def build_rooms(
    settings: Settings, db: Database, metrics: Metrics, http: aiohttp.ClientSession, notifier: Notifier,
    storage: StorageService,
) -> RoomRecordingService:
    """LiveKit room recording, when LIVEKIT_HOST/KEY/SECRET and an S3 bucket are configured."""
    client = None
    if settings.livekit_host and settings.livekit_api_key and settings.livekit_api_secret:
        client = LiveKitClient(settings.livekit_host, settings.livekit_api_key, settings.livekit_api_secret, http)
    output = None
    if storage.remote is not None and settings.s3_endpoint:
        output = EgressOutput(
            endpoint=settings.s3_endpoint, bucket=settings.s3_bucket, access_key=settings.aws_access_key_id,
            secret=settings.aws_secret_access_key, region=settings.aws_region, force_path_style=settings.s3_path_style,
        )
    return RoomRecordingService(settings, db, metrics, client=client, output=output, store=storage.remote,
                                files=storage, notifier=notifier)


def _claim_piece(storage: StorageService, recording: Recording, index: int) -> Path:
    return storage.claim_output(recording, piece=index)


def trusted_hosts(settings: Settings) -> list[str]:
    """LIVEVAULT_TRUSTED_HOSTS and the S3 endpoint's host: the operator's own object store (often MinIO on a
    private network) serves the presigned reads of bucket sources through the capture client."""
    hosts = list(settings.trusted_hosts)
    if settings.s3_endpoint:
        endpoint_host = urlsplit(settings.s3_endpoint).hostname
        if endpoint_host:
            hosts.append(endpoint_host)
    return hosts


def notify_targets(settings: Settings, guard: UrlGuard) -> list[str]:
    """LIVEVAULT_WEBHOOK_URLS, each through the URL guard: a refused target stops start-up."""
    targets = []
    for url in settings.webhook_urls:
        try:
            targets.append(guard.check_url(url))
        except LivevaultError as exc:
            raise InvalidInput(f"LIVEVAULT_WEBHOOK_URLS: {exc.message}",
                               details={"error_code": exc.code, **exc.details}) from exc
    return targets


def prepare_storage(settings: Settings) -> None:
    for path in (settings.data_dir, settings.recordings_dir, settings.spool_dir):
        path.mkdir(parents=True, exist_ok=True)


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
