"""Thin Celery tasks with stable names; each runs the job function the local runner runs.

A task takes the job's keyword arguments as `CeleryRunner.submit` sent them, declares its limits and retry
policy here, and hands the coroutine to the process's event loop (`livevault.worker.runtime`). All state
changes are the job function's own database writes; a task's Celery result is only a view for Flower.

Limits (enforced by the runtime, since the threads pool has no Celery time limits):

    task                     soft (stop gracefully)                 hard (cancel)
    livevault.record         duration + 30 min (24 h cap + 30 min)  soft + 10 min
    livevault.finalize       2 h                                    2.5 h
    livevault.download       6 h                                    6.5 h
    livevault.upload         6 h                                    6.5 h   (queue `upload`)
    livevault.storage.sweep  -                                      60 s
    livevault.watchers.tick  -                                      60 s
    livevault.bucket.poll    -                                      60 s
    livevault.leases.sweep   -                                      (synchronous, short; every worker also
                                                                    sweeps on its own every 2 s)
    livevault.retention.sweep -                                     (synchronous; the cleanup job)

Retries: a job that raises a retryable `LivevaultError` (network timeout, throttling, ...) is retried with
exponential backoff and jitter, at most 5 times; its job row shows RETRY with the error until it runs
again. Other errors are not retried. Job functions record their own outcomes; a job that raises anyway, or
is cancelled at its hard limit (TIME_LIMIT_EXCEEDED), is marked FAILURE here (`services.jobs.JobLedger`).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, signals  # type: ignore[import-untyped]
from celery.exceptions import Reject  # type: ignore[import-untyped]
from celery.worker import state as worker_state  # type: ignore[import-untyped]

from livevault.config import MAX_DURATION_SECONDS
from livevault.errors import LivevaultError, NotFound
from livevault.observability import CORRELATION_HEADER, mark_this_process_dead
from livevault.services.delivery import UPLOAD_JOB
from livevault.services.downloads import DOWNLOAD_JOB
from livevault.services.record import FINALIZE_JOB, RECORD_JOB
from livevault.worker.celery_app import (
    BUCKET_POLL_TASK,
    RETENTION_TASK,
    STORAGE_SWEEP_TASK,
    SWEEP_TASK,
    TICK_TASK,
    app,
    settings,
)
from livevault.worker.runtime import MAX_RETRIES, Limits, WorkerRuntime, get_runtime

log = logging.getLogger(__name__)

FINALIZE_MARGIN = 30 * 60  # stall and reconnect windows, then remux + verify of up to 24 h of media
HARD_MARGIN = 10 * 60
FINALIZE_LIMITS = Limits(soft=2 * 3600, hard=2.5 * 3600)
DOWNLOAD_LIMITS = Limits(soft=6 * 3600, hard=6.5 * 3600)
UPLOAD_LIMITS = Limits(soft=6 * 3600, hard=6.5 * 3600)
TICK_TIMEOUT = 60.0


def runtime() -> WorkerRuntime:
    return get_runtime(settings)


def record_limits(duration: int | None) -> Limits:
    """A recording runs at most its duration (24 h without one), then finalizes."""
    capture = duration if duration is not None else MAX_DURATION_SECONDS
    soft = float(capture + FINALIZE_MARGIN)
    return Limits(soft=soft, hard=soft + HARD_MARGIN)


def _revoked(task_id: str) -> bool:
    return task_id in worker_state.revoked


def _execute(task: Task, name: str, job_id: str, kwargs: dict[str, Any], limits: Limits,
             on_soft: Any = None) -> None:
    rt = runtime()
    header = getattr(task.request, CORRELATION_HEADER, None)  # sent by CeleryRunner.submit
    if header and not kwargs.get("correlation_id"):
        kwargs = {**kwargs, "correlation_id": str(header)}
    if rt.closing:  # warm shutdown: leave the job to another worker (or this one after its restart)
        raise Reject("the worker is shutting down", requeue=True)

    def retry(exc: LivevaultError, delay: float) -> BaseException:
        return task.retry(exc=exc, countdown=delay, max_retries=MAX_RETRIES)  # type: ignore[no-any-return]

    rt.execute(name, job_id, kwargs, limits, attempt=int(task.request.retries or 0), retry=retry,
               on_soft=on_soft, should_stop=lambda: _revoked(job_id))


def _record(self: Task, job_id: str, **kwargs: Any) -> None:
    """`livevault.record`: `Recorder.run` (capture, then finalize)."""
    rt = runtime()
    container = rt.start()
    recording_id = str(kwargs["recording_id"])
    try:
        duration = container.recordings.get(recording_id).duration_limit
    except NotFound:
        duration = None  # the job itself notices and returns
    _execute(self, RECORD_JOB, job_id, kwargs, record_limits(duration),
             on_soft=lambda: rt.stop_recording(recording_id))


def _finalize(self: Task, job_id: str, **kwargs: Any) -> None:
    """`livevault.finalize`: finish a recording a crash left in `processing`."""
    _execute(self, FINALIZE_JOB, job_id, kwargs, FINALIZE_LIMITS)


def _download(self: Task, job_id: str, **kwargs: Any) -> None:
    """`livevault.download`: one batch of video downloads (seed 003)."""
    _execute(self, DOWNLOAD_JOB, job_id, kwargs, DOWNLOAD_LIMITS)


def _upload(self: Task, job_id: str, **kwargs: Any) -> None:
    """`livevault.upload`: send a recording's waiting files to S3 (its own attempts and retry schedule)."""
    _execute(self, UPLOAD_JOB, job_id, kwargs, UPLOAD_LIMITS)


def _storage_sweep() -> int:
    """The storage retry schedule: resend waiting uploads, finish deletes; returns how many files it saw."""
    rt = runtime()
    container = rt.start()
    return rt.call(container.storage.sweep(), TICK_TIMEOUT)


def _bucket_poll() -> int:
    """One pass of the bucket poller (bucket sources); returns how many recordings it started or stopped."""
    rt = runtime()
    container = rt.start()
    if container.bucket_poller is None:
        return 0
    result = rt.call(container.bucket_poller.run_once(), TICK_TIMEOUT)
    return len(result.started) + len(result.stopped)


def _watchers_tick() -> int | None:
    """One pass of the watcher scheduler in this worker; None when this process is already in a pass."""
    return runtime().tick(TICK_TIMEOUT)


def _leases_sweep() -> int:
    """Resubmit recordings and download batches nobody works on (a lapsed lease or heartbeat, or a job that
    waited too long: its message was lost); returns how many."""
    return runtime().sweep() or 0


def _retention_sweep() -> int:
    """The cleanup job (`services.retention`): delete what the retention policy says; returns how many."""
    container = runtime().start()
    return len(container.retention.run().done)


record = app.task(_record, name=RECORD_JOB, bind=True, max_retries=MAX_RETRIES)
finalize = app.task(_finalize, name=FINALIZE_JOB, bind=True, max_retries=MAX_RETRIES)
download = app.task(_download, name=DOWNLOAD_JOB, bind=True, max_retries=MAX_RETRIES)
upload = app.task(_upload, name=UPLOAD_JOB, bind=True, max_retries=MAX_RETRIES)
storage_sweep = app.task(_storage_sweep, name=STORAGE_SWEEP_TASK, ignore_result=True)
watchers_tick = app.task(_watchers_tick, name=TICK_TASK, ignore_result=True)
bucket_poll = app.task(_bucket_poll, name=BUCKET_POLL_TASK, ignore_result=True)
leases_sweep = app.task(_leases_sweep, name=SWEEP_TASK, ignore_result=True)
retention_sweep = app.task(_retention_sweep, name=RETENTION_TASK, ignore_result=True)


# -- worker process lifecycle -------------------------------------------------------------------------


def _start_runtime(sender: Any = None, **_: Any) -> None:
    """Build the Container before consuming (a prefork child builds its own on `worker_process_init`)."""
    from celery.concurrency import get_implementation  # type: ignore[import-untyped]

    pool = get_implementation(getattr(sender, "pool_cls", "threads"))
    if "prefork" not in pool.__module__:
        runtime().start()
        runtime().start_sweeper()


def _start_runtime_in_child(**_: Any) -> None:
    runtime().start()
    runtime().start_sweeper()


def _stop_captures(**_: Any) -> None:
    """SIGTERM: captures stop and finalize what they have, so the warm shutdown ends when they are done."""
    runtime().stop_captures()


def _close_runtime(**_: Any) -> None:
    runtime().close()
    mark_this_process_dead()


signals.worker_init.connect(_start_runtime)
signals.worker_process_init.connect(_start_runtime_in_child)
signals.worker_shutting_down.connect(_stop_captures)
signals.worker_shutdown.connect(_close_runtime)
signals.worker_process_shutdown.connect(_close_runtime)
