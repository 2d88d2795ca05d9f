"""Settings -> adapters: capture options, download strategies, object stores, the job runner, the Celery app,
shared state (Redis or in-memory) and the LiveKit room recording service."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from livevault.cache.limiter import LimitsRateLimiter
from livevault.cache.memory import MemoryCache
from livevault.cache.redis_store import RedisCache, RedisStore
from livevault.capture.base import CaptureOptions
from livevault.domain.livekit import EgressOutput
from livevault.runners.local import LocalRunner
from livevault.services.livekit.rooms import RoomRecordingService
from livevault.services.push.bucket import presigner
from livevault.sources.http_api import ResolverClient
from livevault.sources.livekit import LiveKitClient
from livevault.sources.ytdlp_video import YtDlpVideo
from livevault.storage.s3 import S3Config, S3Store

if TYPE_CHECKING:
    import aiohttp
    from celery import Celery  # type: ignore[import-untyped]

    from livevault.cache.base import RateLimitBackend, TtlCache
    from livevault.config import Settings
    from livevault.observability import Metrics
    from livevault.runners.celery import CeleryRunner
    from livevault.services.delivery import StorageService
    from livevault.services.downloads.videos import VideoStrategy
    from livevault.services.notify.emit import Notifier
    from livevault.services.uow import Database
    from livevault.storage.base import Store


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

