"""JSON logs that carry a correlation id, and the Prometheus metrics the seeds name."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from livevault.domain.secrets import MASK, mask_text

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
_SECRET_KEYS = ("password", "secret", "token", "api_key", "apikey", "authorization", "cookie")


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def current_correlation_id() -> str | None:
    return correlation_id_var.get()


_KNOWN_SECRETS: set[str] = set()


def register_secrets(*values: str | None) -> None:
    """Values (API keys, the webhook secret, S3 keys) that are replaced by `***` wherever a log line holds them."""
    _KNOWN_SECRETS.update(v for v in values if v and len(v) >= 4)


def redact_string(text: str) -> str:
    """A string with URL credentials, secret query values and registered secrets masked."""
    text = mask_text(text)
    for secret in _KNOWN_SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(value: Any) -> Any:
    """Replace values of secret-looking keys, recursively, and mask secrets inside strings."""
    if isinstance(value, dict):
        return {
            k: ("***" if any(s in str(k).lower() for s in _SECRET_KEYS) else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_string(value)
    return value


class RedactingFormatter(logging.Formatter):
    """The plain-text format with the same masking as the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_string(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, service, correlation_id, message, extras."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "service": "livevault",
            "logger": record.name,
            "correlation_id": getattr(record, "correlation_id", None) or current_correlation_id(),
            "message": record.getMessage(),
        }
        for key, val in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_") and key not in payload:
                payload[key] = val
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return redact_string(json.dumps(redact(payload), default=str))


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Metrics:
    """The metric objects, on a registry of their own so several apps can live in one process (tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "http_requests", "HTTP requests by endpoint", ["method", "endpoint", "status"], registry=r
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["endpoint"], registry=r
        )
        self.celery_tasks = Counter("celery_tasks", "Jobs by final status", ["status"], registry=r)
        self.recordings = Counter("recordings", "Recordings by final status", ["status"], registry=r)
        self.recordings_success = Counter("recordings_success", "Recordings completed", registry=r)
        self.recordings_failed = Counter("recordings_failed", "Recordings failed", registry=r)
        self.recordings_active = Gauge("recordings_active", "Recordings capturing now", registry=r)
        self.watchers_active = Gauge("watchers_active", "Active watchers", registry=r)
        self.watcher_checks = Counter(
            "watcher_checks", "Watcher live checks by source and result", ["source", "result"], registry=r
        )
        self.watcher_lateness = Histogram(
            "watcher_check_lateness_seconds", "How late a watcher check ran after it was due",
            buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0), registry=r,
        )
        self.disk_free = Gauge("disk_free_bytes", "Free bytes on the recordings disk", registry=r)
        self.disk_bytes_free = Gauge("disk_bytes_free", "Free bytes on the recordings disk", registry=r)
        self.recording_files = Gauge("recording_files_total", "Completed recording files", registry=r)
        self.s3_uploads = Counter("s3_uploads", "S3 uploads by status", ["status"], registry=r)
        self.s3_upload_parts = Counter("s3_upload_parts", "Requests that sent media to S3 (parts)", registry=r)
        self.s3_backlog_files = Gauge("s3_upload_backlog_files", "Files waiting to be uploaded", registry=r)
        self.s3_backlog_bytes = Gauge("s3_upload_backlog_bytes", "Bytes waiting to be uploaded", registry=r)
        self.segments = Counter("capture_segments", "Segments appended", registry=r)
        self.capture_bytes = Counter("capture_bytes", "Media bytes appended", registry=r)
        self.gaps = Counter("capture_gaps", "Gaps recorded", ["cause"], registry=r)
        self.downloads = Counter(
            "livevault_downloads", "Video downloads by strategy and final status", ["strategy", "status"], registry=r
        )
        self.download_seconds = Histogram(
            "livevault_download_seconds", "Time to resolve and fetch one video", ["strategy"],
            buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0), registry=r,
        )
        self.notifications = Counter(
            "livevault_notifications", "Outbound notification attempts by outcome (delivered, retry, failed)",
            ["status"], registry=r,
        )
        self.download_retries = Counter(
            "livevault_download_retries", "Downloads that needed the headful retry", ["strategy"], registry=r
        )
