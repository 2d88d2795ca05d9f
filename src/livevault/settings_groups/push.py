"""Push source settings: the inbound webhook and the bucket source."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from livevault.settings_groups.fields import _env, parse_duration


class PushSettings(BaseModel):
    """Streams pushed to livevault: the seed 002 webhook and live HLS written into a bucket."""

    # Push sources (seed 002 webhook)
    webhook_secret: str = Field(
        "", validation_alias=_env("LIVEVAULT_WEBHOOK_SECRET", "webhook_secret"), repr=False
    )
    push_hls_url_template: str = Field(
        "", validation_alias=_env("LIVEVAULT_PUSH_HLS_URL_TEMPLATE", "push_hls_url_template")
    )

    # Bucket source: a streaming server writes live HLS into a bucket (seed 002). docs/bucket-source.md.
    push_source: Literal["http", "bucket"] = Field(
        "http", validation_alias=_env("LIVEVAULT_PUSH_SOURCE", "push_source")
    )
    bucket_source_bucket: str = Field(
        "live-segments", min_length=3, max_length=63,
        validation_alias=_env("LIVEVAULT_BUCKET_SOURCE_BUCKET", "MINIO_BUCKET_SEGMENTS", "bucket_source_bucket"),
    )
    bucket_playlist: str = Field(
        "{stream_key}/index.m3u8", validation_alias=_env("LIVEVAULT_BUCKET_PLAYLIST", "bucket_playlist")
    )
    bucket_poll_interval: float = Field(
        10.0, ge=0, le=3600, validation_alias=_env("LIVEVAULT_BUCKET_POLL_INTERVAL", "MONITOR_INTERVAL",
                                                   "bucket_poll_interval")
    )
    bucket_idle_grace: float = Field(
        30.0, gt=0, le=86400, validation_alias=_env("LIVEVAULT_BUCKET_IDLE_GRACE", "bucket_idle_grace")
    )
    bucket_read_timeout: float = Field(
        30.0, gt=0, le=600, validation_alias=_env("LIVEVAULT_BUCKET_READ_TIMEOUT", "SEGMENT_DOWNLOAD_TIMEOUT",
                                                  "bucket_read_timeout")
    )
    push_output_template: str | None = Field(
        None, validation_alias=_env("LIVEVAULT_PUSH_OUTPUT_TEMPLATE", "push_output_template")
    )
    bucket_read_retries: int = Field(
        3, ge=0, le=50, validation_alias=_env("LIVEVAULT_BUCKET_READ_RETRIES", "MAX_RETRY_ATTEMPTS",
                                              "bucket_read_retries")
    )

    @field_validator("bucket_poll_interval", "bucket_idle_grace", "bucket_read_timeout", mode="before")
    @classmethod
    def _go_duration(cls, value: object) -> object:
        """Seed 002 writes durations the Go way (`10s`, `500ms`, `1m30s`); plain numbers are seconds."""
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("bucket_playlist")
    @classmethod
    def _playlist_layout(cls, value: str) -> str:
        if value.count("{stream_key}") != 1 or value.startswith("/") or ".." in value.split("/"):
            raise ValueError("LIVEVAULT_BUCKET_PLAYLIST must be a relative key with {stream_key} once")
        return value
