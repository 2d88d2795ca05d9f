"""Watchers (seeds 000/001: `POST /watchers`, `DELETE /watchers/{key}`; livevault adds GET and PATCH)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from livevault.api.schemas.common import RequestModel


class WatcherOptions(RequestModel):
    """What each recording this watcher starts gets."""

    upload_s3: bool | None = None
    keep_local: bool | None = None
    proxy: str | None = Field(default=None, description="http(s):// proxy for checks and recordings; returned masked")
    cookies: str | None = Field(default=None, description="cookies file under LIVEVAULT_SECRETS_DIR")
    quality: str | None = Field(default=None, max_length=32, description="best, worst, 720p, or a max bandwidth")
    output_template: str | None = Field(default=None, max_length=512)
    max_duration: int | None = Field(default=None, ge=1, le=86400,
                                     description="Stop each recording after this many seconds of media")
    start: Literal["live_edge", "window"] | None = Field(
        default=None, description="where each recording starts: live_edge (default) or window (back-fill)")
    reconnect_window: float | None = Field(
        default=None, ge=0, le=3600, description="seconds to keep trying after a stream goes away")
    split_every: int | None = Field(
        default=None, ge=60, le=86400,
        description="Split each recording into pieces of about this many seconds, finalized while it goes on",
    )
    split_bytes: int | None = Field(
        default=None, ge=1024 * 1024, le=1 << 40,
        description="Split each recording into pieces of about this many bytes",
    )
    engine: Literal["native", "ffmpeg", "command"] | None = None
    format: Literal["hls", "flv"] | None = Field(default=None, description="TikTok: which stream format to record")
    codec: Literal["h264", "avc", "h265", "hevc"] | None = Field(default=None, description="TikTok: preferred codec")
    probe: bool | None = Field(default=None, description="TikTok: probe candidate streams before choosing one")
    notify_url: str | None = Field(
        default=None, max_length=2048,
        description="Also send this watcher's notifications (watcher.live and its recordings' events) here; "
        "checked like a source URL",
    )


class WatcherRetention(RequestModel):
    """Retention of the recordings this watcher starts (unset: no limit). Pinned and unfinished recordings are
    never deleted; the newest recordings are kept."""

    max_recordings: int | None = Field(default=None, ge=1, description="Keep at most this many finished recordings")
    max_bytes: int | None = Field(default=None, ge=1, description="Keep at most this many bytes of recordings")
    retention_days: float | None = Field(
        default=None, ge=0, description="Delete recordings older than this (overrides LIVEVAULT_RETENTION_DAYS; "
                                        "0 keeps them forever)")


class WatcherCreate(WatcherRetention):
    """Give `room_id`, `url` or `user`; the watcher's key is that value (`@user` for users)."""

    room_id: str | None = Field(default=None, max_length=64, examples=["123456789"])
    url: str | None = Field(default=None, max_length=4096, examples=[None])
    user: str | None = Field(default=None, max_length=64, examples=[None])
    source: str | None = Field(default=None, max_length=32, description="force a source (tiktok, url, ...)")
    poll_interval: float = Field(default=60, gt=0, le=86400, description="seconds between checks (≥ 10)",
                                 examples=[60])
    options: WatcherOptions = Field(default_factory=WatcherOptions)


class WatcherAccepted(BaseModel):
    task_id: str
    status: str = Field(examples=["PENDING"])
    key: str


class WatcherUpdate(WatcherRetention):
    """Only the fields given change; a retention limit given as null is removed."""

    status: Literal["active", "paused"] | None = None
    poll_interval: float | None = Field(default=None, gt=0, le=86400)
    options: WatcherOptions | None = None


class WatcherOut(BaseModel):
    """Seed 001 §6.1 fields first, then what livevault adds."""

    key: str
    room_id: str | None
    url: str | None
    user: str | None
    poll_interval: float
    status: str = Field(description="active | paused | deleted")
    created_at: datetime
    last_run_at: datetime | None
    options: dict[str, Any]
    task_id: str | None
    source_kind: str
    target: str
    live_state: str | None = Field(description="live | offline | error | recording, from the last check")
    error_code: str | None
    error_message: str | None
    failures: int = Field(description="consecutive failed checks (the backoff grows with them)")
    checks: int
    recordings_count: int
    recording_id: str | None = Field(description="the recording this watcher started last")
    last_live_at: datetime | None
    next_check_at: datetime
    max_recordings: int | None = Field(default=None, description="retention: newest finished recordings kept")
    max_bytes: int | None = Field(default=None, description="retention: bytes of recordings kept")
    retention_days: float | None = Field(default=None, description="retention: days a recording is kept")


class WatcherList(BaseModel):
    items: list[WatcherOut]
    total: int
    page: int
    page_size: int
