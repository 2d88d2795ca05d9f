"""Settings from the environment. Seed variable names are kept; everything else is `LIVEVAULT_*`.

Nothing is built at import time: call `Settings()` (or `load_settings()`) where the app is composed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from livevault.settings_groups.fields import _env, parse_duration
from livevault.settings_groups.livekit import LiveKitSettings
from livevault.settings_groups.push import PushSettings
from livevault.settings_groups.storage import StorageSettings

__all__ = ["MAX_DURATION_SECONDS", "Settings", "load_settings", "parse_duration"]

MAX_DURATION_SECONDS = 24 * 3600


class Settings(StorageSettings, PushSettings, LiveKitSettings, BaseSettings):
    """Every knob livevault has; `docs/configuration.md` lists them with defaults.

    Object storage, push/bucket sources and LiveKit live in `livevault.settings_groups`; `Settings` inherits them.
    """

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", case_sensitive=False)

    # Where things live
    data_dir: Path = Field(Path("./data"), validation_alias=_env("LIVEVAULT_DATA_DIR", "data_dir"))
    recordings_dir_override: Path | None = Field(
        None, validation_alias=_env("RECORDINGS_DIR", "recordings_dir")
    )
    database_url_override: str | None = Field(
        None, validation_alias=_env("DATABASE_URL", "LIVEVAULT_DATABASE_URL", "database_url")
    )
    secrets_dir: Path | None = Field(None, validation_alias=_env("LIVEVAULT_SECRETS_DIR", "secrets_dir"))

    # API
    host: str = Field("127.0.0.1", validation_alias=_env("LIVEVAULT_HOST", "host"))
    port: int = Field(8000, ge=1, le=65535, validation_alias=_env("LIVEVAULT_PORT", "port"))
    api_keys_raw: str = Field("dev-key", validation_alias=_env("API_KEYS", "api_keys"))
    rate_limit_per_min: int = Field(60, ge=0, validation_alias=_env("RATE_LIMIT_PER_MIN", "rate_limit_per_min"))
    redis_url: str | None = Field(
        None, validation_alias=_env("REDIS_URL", "LIVEVAULT_REDIS_URL", "redis_url"), repr=False
    )
    redis_namespace: str = Field(
        "livevault", min_length=1, validation_alias=_env("LIVEVAULT_REDIS_NAMESPACE", "redis_namespace")
    )
    cors_allow_origins_raw: str = Field(
        "", validation_alias=_env("CORS_ALLOW_ORIGINS", "cors_allow_origins")
    )
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL", "log_level"))
    log_json: bool = Field(True, validation_alias=_env("LIVEVAULT_LOG_JSON", "log_json"))

    # Runner
    runner: Literal["local", "celery"] = Field("local", validation_alias=_env("LIVEVAULT_RUNNER", "runner"))
    celery_broker_url: str = Field(
        "redis://localhost:6379/0", validation_alias=_env("CELERY_BROKER_URL", "celery_broker_url")
    )
    celery_result_backend: str = Field(
        "redis://localhost:6379/1", validation_alias=_env("CELERY_RESULT_BACKEND", "celery_result_backend")
    )
    celery_queue_prefix: str = Field(
        "", validation_alias=_env("LIVEVAULT_CELERY_QUEUE_PREFIX", "celery_queue_prefix")
    )
    lease_ttl: float = Field(
        9.0, ge=2.0, le=600.0, validation_alias=_env("LIVEVAULT_LEASE_TTL", "lease_ttl")
    )
    spool_direct_io: bool = Field(
        True, validation_alias=_env("LIVEVAULT_SPOOL_DIRECT_IO", "spool_direct_io")
    )
    max_concurrent_recordings: int = Field(
        500, ge=1, validation_alias=_env("LIVEVAULT_MAX_CONCURRENT_RECORDINGS", "max_concurrent_recordings")
    )
    tlr_root: Path = Field(Path("/app/src"), validation_alias=_env("TLR_ROOT", "tlr_root"))

    # Sources
    allow_private_sources: bool = Field(
        False, validation_alias=_env("LIVEVAULT_ALLOW_PRIVATE_SOURCES", "allow_private_sources")
    )
    user_agent: str = Field(
        "livevault/0.1 (+https://github.com/livevault)",
        validation_alias=_env("LIVEVAULT_USER_AGENT", "user_agent"),
    )

    # TikTok (base URLs are settings so tests can point at the fake TikTok)
    tiktok_web_url: str = Field(
        "https://www.tiktok.com", validation_alias=_env("LIVEVAULT_TIKTOK_WEB_URL", "tiktok_web_url")
    )
    tiktok_webcast_url: str = Field(
        "https://webcast.tiktok.com", validation_alias=_env("LIVEVAULT_TIKTOK_WEBCAST_URL", "tiktok_webcast_url")
    )
    tiktok_requests_per_min: int = Field(
        600, ge=1, validation_alias=_env("LIVEVAULT_TIKTOK_REQUESTS_PER_MIN", "tiktok_requests_per_min")
    )
    tiktok_prefer_h265: bool = Field(
        False, validation_alias=_env("LIVEVAULT_TIKTOK_PREFER_H265", "tiktok_prefer_h265")
    )

    # Watchers
    watcher_min_interval: float = Field(
        10.0, gt=0, validation_alias=_env("LIVEVAULT_WATCHER_MIN_INTERVAL", "watcher_min_interval")
    )
    watcher_default_interval: float = Field(
        60.0, gt=0, validation_alias=_env("LIVEVAULT_WATCHER_DEFAULT_INTERVAL", "watcher_default_interval")
    )
    watcher_jitter: float = Field(
        0.1, ge=0, le=0.5, validation_alias=_env("LIVEVAULT_WATCHER_JITTER", "watcher_jitter")
    )
    watcher_max_backoff: float = Field(
        1800.0, gt=0, validation_alias=_env("LIVEVAULT_WATCHER_MAX_BACKOFF", "watcher_max_backoff")
    )
    watcher_batch_size: int = Field(
        50, ge=1, le=500, validation_alias=_env("LIVEVAULT_WATCHER_BATCH_SIZE", "watcher_batch_size")
    )
    scheduler_enabled: bool = Field(
        True, validation_alias=_env("LIVEVAULT_SCHEDULER_ENABLED", "scheduler_enabled")
    )
    background_poll: float = Field(
        5.0, ge=0.1, le=300, validation_alias=_env("LIVEVAULT_BACKGROUND_POLL", "background_poll")
    )

    # External programs (all optional)
    ffmpeg_path: str = Field("ffmpeg", validation_alias=_env("LIVEVAULT_FFMPEG", "ffmpeg_path"))
    recorder_command: str = Field(
        "", validation_alias=_env("LIVEVAULT_RECORDER_COMMAND", "recorder_command")
    )
    recorder_stop_timeout: float = Field(
        10.0, gt=0, validation_alias=_env("LIVEVAULT_RECORDER_STOP_TIMEOUT", "recorder_stop_timeout")
    )

    # Downloads (seed 003)
    download_strategy: Literal["yt-dlp", "scrapling-api"] = Field(
        "yt-dlp", validation_alias=_env("TIKTOK_DOWNLOAD_STRATEGY", "download_strategy")
    )
    download_timeout: float = Field(
        180.0, gt=0, validation_alias=_env("TIKTOK_DOWNLOAD_TIMEOUT", "download_timeout")
    )
    num_parallel_downloads: int = Field(
        5, ge=1, le=64, validation_alias=_env("NUM_PARALLEL_DOWNLOADS", "num_parallel_downloads")
    )
    download_resolver_url: str = Field(
        "", validation_alias=_env("LIVEVAULT_DOWNLOAD_RESOLVER_URL", "download_resolver_url")
    )
    download_max_bytes: int = Field(
        2 * 1024**3, ge=1, validation_alias=_env("LIVEVAULT_DOWNLOAD_MAX_BYTES", "download_max_bytes")
    )

    # Capture
    http_timeout: float = Field(10.0, gt=0, validation_alias=_env("LIVEVAULT_HTTP_TIMEOUT", "http_timeout"))
    segment_concurrency: int = Field(
        3, ge=1, le=16, validation_alias=_env("LIVEVAULT_SEGMENT_CONCURRENCY", "segment_concurrency")
    )
    segment_retries: int = Field(
        6, ge=0, le=50, validation_alias=_env("LIVEVAULT_SEGMENT_RETRIES", "segment_retries")
    )
    playlist_grace: float = Field(
        30.0, gt=0, validation_alias=_env("LIVEVAULT_PLAYLIST_GRACE", "playlist_grace")
    )
    stall_timeout: float = Field(
        10.0, gt=0, validation_alias=_env("LIVEVAULT_STALL_TIMEOUT", "stall_timeout")
    )
    reconnect_window: float = Field(
        60.0, ge=0, validation_alias=_env("LIVEVAULT_RECONNECT_WINDOW", "reconnect_window")
    )
    default_quality: str = Field("best", validation_alias=_env("LIVEVAULT_DEFAULT_QUALITY", "default_quality"))
    default_output_template: str | None = Field(
        None, validation_alias=_env("LIVEVAULT_OUTPUT_TEMPLATE", "default_output_template")
    )

    # Finalize
    finalize_workers: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2),
        ge=1,
        le=64,
        validation_alias=_env("LIVEVAULT_FINALIZE_WORKERS", "finalize_workers"),
    )
    keep_parts: bool = Field(False, validation_alias=_env("LIVEVAULT_KEEP_PARTS", "keep_parts"))
    thumbnails: bool = Field(True, validation_alias=_env("LIVEVAULT_THUMBNAILS", "thumbnails"))
    verify: Literal["sampled", "full", "off"] = Field(
        "sampled", validation_alias=_env("LIVEVAULT_VERIFY", "verify")
    )  # sampled: every sample's structure + a few GOPs decoded; full: every frame decoded; off: none
    # auto: uvloop where it is installed (the `uvloop` extra), else asyncio's own loop
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", validation_alias=_env("LIVEVAULT_EVENT_LOOP", "event_loop")
    )
    # playlists and segments over livevault's lean keep-alive GET (capture.lean); false: aiohttp for every request
    lean_http: bool = Field(True, validation_alias=_env("LIVEVAULT_LEAN_HTTP", "lean_http"))

    # Outbound notifications
    webhook_urls_raw: str = Field("", validation_alias=_env("LIVEVAULT_WEBHOOK_URLS", "webhook_urls"))
    notify_secret: str = Field("", validation_alias=_env("LIVEVAULT_NOTIFY_SECRET", "notify_secret"), repr=False)
    notify_max_attempts: int = Field(
        8, ge=1, le=100, validation_alias=_env("LIVEVAULT_NOTIFY_MAX_ATTEMPTS", "notify_max_attempts")
    )
    notify_retry_base: float = Field(
        5.0, gt=0, le=3600, validation_alias=_env("LIVEVAULT_NOTIFY_RETRY_BASE", "notify_retry_base")
    )
    notify_retry_max: float = Field(
        900.0, gt=0, le=86400, validation_alias=_env("LIVEVAULT_NOTIFY_RETRY_MAX", "notify_retry_max")
    )
    notify_timeout: float = Field(
        10.0, gt=0, le=300, validation_alias=_env("LIVEVAULT_NOTIFY_TIMEOUT", "notify_timeout")
    )
    public_url: str = Field("", validation_alias=_env("LIVEVAULT_PUBLIC_URL", "public_url"))

    # Security (docs/security.md)
    trusted_hosts_raw: str = Field(
        "", validation_alias=_env("LIVEVAULT_TRUSTED_HOSTS", "trusted_hosts"),
        description="host names (comma-separated) the URL guard lets through to private addresses",
    )
    webhook_tolerance: float = Field(
        300.0, ge=1, le=86400, validation_alias=_env("LIVEVAULT_WEBHOOK_TOLERANCE", "webhook_tolerance")
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=64 * 1024 * 1024,
        validation_alias=_env("LIVEVAULT_MAX_BODY_BYTES", "max_body_bytes"),
    )
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, le=1024 * 1024, validation_alias=_env("LIVEVAULT_MAX_HEADER_BYTES", "max_header_bytes")
    )
    request_body_timeout: float = Field(
        30.0, gt=0, le=3600, validation_alias=_env("LIVEVAULT_REQUEST_BODY_TIMEOUT", "request_body_timeout")
    )

    # Retention and disk (docs/retention.md)
    retention_days: float | None = Field(
        None, ge=0, validation_alias=_env("LIVEVAULT_RETENTION_DAYS", "retention_days"),
        description="Delete finished, unpinned recordings older than this many days (unset or 0: keep)",
    )
    min_free_bytes: int = Field(
        100 * 1024 * 1024, ge=0, validation_alias=_env("LIVEVAULT_MIN_FREE_BYTES", "min_free_bytes"),
        description="Below this many free bytes no new recording starts (DISK_FULL); running ones go on",
    )
    disk_alert_percent: float = Field(
        80.0, gt=0, le=100, validation_alias=_env("LIVEVAULT_DISK_ALERT_PERCENT", "disk_alert_percent"),
        description="Disk use (percent) from which /ready, the metrics and the logs raise an alert",
    )
    retention_interval: float = Field(
        600.0, ge=1, validation_alias=_env("LIVEVAULT_RETENTION_INTERVAL", "retention_interval"),
        description="Seconds between two runs of the cleanup job",
    )
    # Web pages (`/`): the secret that signs and encrypts session cookies (generated into the data dir when unset)
    session_secret: str | None = Field(
        None, min_length=16, repr=False, validation_alias=_env("LIVEVAULT_SESSION_SECRET", "session_secret"))
    session_max_age: int = Field(
        7 * 24 * 3600, ge=60, validation_alias=_env("LIVEVAULT_SESSION_MAX_AGE", "session_max_age"))
    session_cookie_secure: bool = Field(
        False, validation_alias=_env("LIVEVAULT_SESSION_COOKIE_SECURE", "session_cookie_secure"))

    # Access: managed keys, key guessing, metrics
    auth_failures_per_min: int = Field(
        20, ge=0, validation_alias=_env("LIVEVAULT_AUTH_FAILURES_PER_MIN", "auth_failures_per_min")
    )
    key_touch_interval: float = Field(
        60.0, ge=0, le=86400, validation_alias=_env("LIVEVAULT_KEY_TOUCH_INTERVAL", "key_touch_interval")
    )
    metrics_dir: Path | None = Field(
        None, validation_alias=_env("PROMETHEUS_MULTIPROC_DIR", "LIVEVAULT_METRICS_DIR", "metrics_dir")
    )

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _check_keys(self) -> Settings:
        if not self.api_keys:
            raise ValueError("API_KEYS must name at least one key")
        return self

    @property
    def recordings_dir(self) -> Path:
        return self.recordings_dir_override or self.data_dir / "recordings"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        return f"sqlite:///{(self.data_dir / 'livevault.db').resolve()}"

    @property
    def downloads_dir(self) -> Path:
        return self.recordings_dir / "downloads"

    @property
    def api_keys(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys_raw.split(",") if k.strip())

    @property
    def trusted_hosts(self) -> list[str]:
        return [h.strip().lower() for h in self.trusted_hosts_raw.split(",") if h.strip()]

    @property
    def webhook_urls(self) -> list[str]:
        return [u.strip() for u in self.webhook_urls_raw.split(",") if u.strip()]

    @property
    def notify_signing_secret(self) -> str:
        """LIVEVAULT_NOTIFY_SECRET, else the inbound LIVEVAULT_WEBHOOK_SECRET."""
        return self.notify_secret or self.webhook_secret

    @property
    def cors_allow_origins(self) -> list[str]:
        return [o.strip() for o in self.cors_allow_origins_raw.split(",") if o.strip()]

    @property
    def shared_redis_url(self) -> str | None:
        """Redis for rate limits and caches: REDIS_URL, else a redis:// broker of the celery runner; None = memory."""
        if self.redis_url:
            return self.redis_url
        if self.runner == "celery" and self.celery_broker_url.startswith(("redis://", "rediss://")):
            return self.celery_broker_url
        return None


def load_settings(**overrides: object) -> Settings:
    """Read the environment, then apply explicit overrides (tests and the CLI use these)."""
    return Settings(**overrides)  # type: ignore[arg-type]
