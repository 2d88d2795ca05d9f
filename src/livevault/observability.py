"""JSON logs that carry a correlation id, and the Prometheus metrics the seeds name."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily

from livevault.domain.capture import GapCause
from livevault.domain.secrets import MASK, mask_text

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from prometheus_client.metrics_core import Metric

CORRELATION_HEADER = "livevault_correlation_id"  # the Celery message header that carries it to workers
correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
log_context_var: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("log_context", default=None)
"""Fields every log line of the current job carries (recording_id, task_id, source): `log_context()` sets them."""
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
def safe_source(value: str | None) -> str | None:
    """A source for logs: a URL without user info, query or fragment (where tokens live); other values as is."""
    if not value or "://" not in value:
        return value
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@contextmanager
def log_context(*, correlation_id: str | None = None, **fields: Any) -> Iterator[None]:
    """Every log line inside carries `fields` (None values are left out) and, when given, `correlation_id`.
    Nests: inner fields are added to the outer ones. asyncio tasks started inside inherit them."""
    merged = {**(log_context_var.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = log_context_var.set(merged)
    cid_token = correlation_id_var.set(correlation_id) if correlation_id else None
    try:
        yield
    finally:
        if cid_token is not None:
            correlation_id_var.reset(cid_token)
        log_context_var.reset(token)


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
        for key, val in (log_context_var.get() or {}).items():
            payload.setdefault(key, val)
        for key, val in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_") and key not in payload:
                payload[key] = val
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return redact_string(json.dumps(redact(payload), default=str))


class TextFormatter(logging.Formatter):
    """Plain lines for a terminal, with the job's context (recording_id, task_id, ...) appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = dict(log_context_var.get() or {})
        cid = current_correlation_id()
        if cid:
            context.setdefault("correlation_id", cid)
        if not context:
            return redact_string(line)
        return redact_string(line + " [" + " ".join(f"{k}={v}" for k, v in redact(context).items()) + "]")


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- metrics ----------------------------------------------------------------------------------------------
#
# Every series is named livevault_* and listed, with an example alert, in docs/metrics.md. In a deployment of
# several processes (API replicas, Celery workers) each process writes its counters to files in a shared
# directory (prometheus_client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR) and `/metrics` on any API process
# shows their sum. What the database knows (active recordings, watchers, files, each recording's health) is
# read at scrape time instead (`services.telemetry`), so it is right whatever process records.

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# No `*_created` series: multiprocess mode has none, so single-process mode has none either.
disable_created_metrics()  # type: ignore[no-untyped-call]


def process_identifier() -> str:
    """This process in metric file names: host and pid (processes in different containers may share a pid)."""
    host = "".join(c if c.isalnum() or c in ".-" else "-" for c in socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def multiprocess_dir() -> Path | None:
    """The shared metrics directory when multiprocess mode is on in this process, else None."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value and _multiprocess_on else None


_multiprocess_on = False


def setup_multiprocess_metrics(directory: Path | str | None) -> Path | None:
    """Switch this process to multiprocess metrics under `directory` (None: leave single-process mode).

    Call before any `Metrics()` is built (the CLI does, in `serve` and `worker`). Live gauges left by processes
    of this host that no longer run are removed, so a SIGKILLed worker's gauges do not linger.
    """
    global _multiprocess_on
    if directory is None or str(directory) == "":
        return None
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)  # type: ignore[no-untyped-call]
    _multiprocess_on = True
    _forget_dead_processes(path)
    return path


def _forget_dead_processes(path: Path) -> None:
    host = process_identifier().rsplit("-", 1)[0]
    for file in path.glob("gauge_live*_*.db"):
        ident = file.stem.split("_", 2)[-1]
        owner, _, pid = ident.rpartition("-")
        if owner == host and pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(ident, str(path))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_this_process_dead() -> None:
    """At a clean exit: drop this process's live gauges (its counters stay, as counters must)."""
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(process_identifier(), str(directory))  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class GaugeFamily:
    """One gauge computed at scrape time: name, help, label names and (label values, value) samples."""

    name: str
    documentation: str
    labels: Sequence[str]
    samples: Sequence[tuple[tuple[str, ...], float]]


class StaticCollector:
    """Yields the given gauge families (a scrape-time snapshot) as Prometheus metrics."""

    def __init__(self, families: list[GaugeFamily]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            metric = GaugeMetricFamily(family.name, family.documentation, labels=list(family.labels))
            for labelvalues, value in family.samples:
                metric.add_metric(list(labelvalues), value)
            yield metric


class _Chain:
    """A collector that yields the samples of several collectors / registries (for one exposition)."""

    def __init__(self, *sources: Any) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source.collect()


class Metrics:
    """The metric objects, on a registry of their own so several apps can live in one process (tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "livevault_http_requests", "HTTP requests by method, route template and status",
            ["method", "endpoint", "status"], registry=r,
        )
        self.http_latency = Histogram(
            "livevault_http_request_duration_seconds", "HTTP request latency by route template", ["endpoint"],
            registry=r,
        )
        self.celery_tasks = Counter("livevault_jobs", "Jobs (record, finalize, download) by final status",
                                    ["status"], registry=r)
        self.recordings = Counter("livevault_recordings", "Recordings by final status", ["status"], registry=r)
        self.watcher_checks = Counter(
            "livevault_watcher_checks", "Watcher live checks by source and result", ["source", "result"], registry=r
        )
        self.watcher_lateness = Histogram(
            "livevault_watcher_check_lateness_seconds", "How late a watcher check ran after it was due",
            buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0), registry=r,
        )
        self.s3_uploads = Counter("livevault_s3_uploads", "S3 upload attempts by outcome", ["status"], registry=r)
        self.s3_upload_parts = Counter("livevault_s3_upload_parts", "Requests that sent media to S3 (parts)",
                                       registry=r)
        # Set from the database at scrape time (StorageService.backlog): every API replica sets the same value,
        # so the most recent one is the answer, not their sum.
        self.s3_backlog_files = Gauge(
            "livevault_s3_upload_backlog_files", "Finished files waiting for their upload", registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.s3_backlog_bytes = Gauge(
            "livevault_s3_upload_backlog_bytes", "Bytes of finished files waiting for their upload", registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.segments = Counter("livevault_capture_segments", "Segments appended", registry=r)
        self.capture_bytes = Counter("livevault_capture_bytes", "Media bytes appended", registry=r)
        self.gaps = Counter("livevault_capture_gaps", "Gaps recorded by cause", ["cause"], registry=r)
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
        # Retention and disk (services.retention)
        self.disk_used_percent = Gauge("livevault_disk_used_percent", "Used percent of the fullest recordings disk",
                                       registry=r, multiprocess_mode="livemostrecent")
        self.disk_low = Gauge("livevault_disk_low", "1 while free space is below LIVEVAULT_MIN_FREE_BYTES (new "
                              "recordings refused with DISK_FULL)", registry=r, multiprocess_mode="livemostrecent")
        self.disk_alert = Gauge("livevault_disk_alert", "1 while disk use is at or above LIVEVAULT_DISK_ALERT_PERCENT",
                                registry=r, multiprocess_mode="livemostrecent")
        self.recordings_refused = Counter("livevault_recordings_refused", "Recordings refused before they started",
                                          ["reason"], registry=r)
        self.retention_actions = Counter("livevault_retention_actions", "Recordings removed by the cleanup job",
                                         ["action"], registry=r)
        self.retention_freed = Counter("livevault_retention_freed_bytes", "Bytes freed by the cleanup job",
                                       registry=r)
        self._initialize_series()

    def _initialize_series(self) -> None:
        """Create the series of known label values at 0, so every documented series exists from the start (and
        `rate()` sees the first increment)."""
        for status in ("completed", "failed"):
            self.recordings.labels(status=status)
        for status in ("success", "retry", "failed"):
            self.s3_uploads.labels(status=status)
        for status in ("delivered", "retry", "failed"):
            self.notifications.labels(status=status)
        for status in ("SUCCESS", "FAILURE"):
            self.celery_tasks.labels(status=status)
        for cause in GapCause:
            self.gaps.labels(cause=cause.value)
        for strategy in ("yt-dlp", "scrapling-api"):
            self.download_seconds.labels(strategy=strategy)
            for status in ("completed", "failed"):
                self.downloads.labels(strategy=strategy, status=status)
        self.download_retries.labels(strategy="scrapling-api")
        for result in ("live", "offline"):
            self.watcher_checks.labels(source="tiktok", result=result)
        self.recordings_refused.labels(reason="disk_full")
        for action in ("delete", "drop_local"):
            self.retention_actions.labels(action=action)

    def exposition(self, *extra: Any) -> bytes:
        """The Prometheus text: this process's metrics (or, in multiprocess mode, every process's, summed)
        followed by the `extra` collectors (computed at scrape time)."""
        registry = CollectorRegistry(auto_describe=False)
        directory = multiprocess_dir()
        if directory is not None:
            multiprocess.MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]
            registry.register(_Chain(*extra))
        else:
            registry.register(_Chain(self.registry, *extra))
        return generate_latest(registry)
