"""The Celery app of the distributed mode: `celery -A livevault.worker.celery_app worker|beat|flower`.

Celery needs a module-level app, so this module reads `Settings()` once, at import, and nothing else: the
database, the HTTP session and the services are built by `livevault.worker.runtime` when a worker starts
(never in beat or Flower, which import this module too).

Broker, queues and routing come from `bootstrap.celery_app` (the API sends with the same configuration);
what is added here is how workers execute, each setting with the reason for it.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals  # type: ignore[import-untyped]

from livevault.bootstrap import celery_app
from livevault.config import Settings
from livevault.observability import configure_logging, setup_multiprocess_metrics

TICK_TASK = "livevault.watchers.tick"
SWEEP_TASK = "livevault.leases.sweep"
RETENTION_TASK = "livevault.retention.sweep"
STORAGE_SWEEP_TASK = "livevault.storage.sweep"
BUCKET_POLL_TASK = "livevault.bucket.poll"
TICK_INTERVAL = 1.0
SWEEP_INTERVAL = 2.0
DEFAULT_CONCURRENCY = 100

settings = Settings()
# Counters of this worker go to PROMETHEUS_MULTIPROC_DIR, shared with the API, whose /metrics sums them.
setup_multiprocess_metrics(settings.metrics_dir)
app = celery_app(settings, set_as_current=True)
app.conf.update(
    # Ack a job's message only after the job has finished: a worker that dies mid-recording leaves the
    # message in the broker instead of losing it (the lease sweep resubmits such recordings much sooner).
    task_acks_late=True,
    # ... and if the process running the task is killed, requeue the message rather than ack it as failed.
    task_reject_on_worker_lost=True,
    # Reserve one message per free slot only: a recording holds its slot for hours, so prefetching more
    # would strand jobs behind a busy worker while other workers sit idle.
    worker_prefetch_multiplier=1,
    # Flower shows a task as STARTED while it runs (the database has its own, authoritative STARTED).
    task_track_started=True,
    # A worker must outlive a Redis restart: keep reconnecting, at start-up and afterwards.
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    # Captures do not need the broker: a lost connection must not cancel running recordings. Their messages
    # stay unacknowledged until the job ends. Should a job arrive twice all the same (a sweep resubmits it),
    # the worker runtime joins the copy to the running job, and the lease keeps other workers off it.
    worker_cancel_long_running_tasks_on_connection_loss=False,
    # ... and the reconnect itself must not end the worker while late-acked tasks run (see worker.consumer).
    worker_consumer="livevault.worker.consumer:Consumer",
    # Threads, not processes: capture is asyncio and I/O bound. Every task thread only waits on its coroutine
    # in the process's one event loop, so a process holds hundreds of recordings; prefork would spend a
    # process (and a Python interpreter's memory) per recording.
    worker_pool="threads",
    worker_concurrency=DEFAULT_CONCURRENCY,
    # Celery's own time limits need the prefork pool (a hard limit kills the child process, and with it every
    # recording it holds). Each task enforces its limits itself instead (`livevault.worker.tasks`).
    task_time_limit=None,
    task_soft_time_limit=None,
    # Task events for Flower's live view of tasks, retries and workers.
    worker_send_task_events=True,
    task_send_sent_event=True,
    # Celery beat (`livevault scheduler`): due watcher checks every second, lease sweep every two. A tick
    # nobody took within a few seconds is worthless (a newer one follows), so it expires instead of piling up.
    beat_schedule={
        "watchers-tick": {"task": TICK_TASK, "schedule": TICK_INTERVAL, "options": {"expires": 10}},
        "leases-sweep": {"task": SWEEP_TASK, "schedule": SWEEP_INTERVAL, "options": {"expires": 20}},
        # The cleanup job (services.retention), every LIVEVAULT_RETENTION_INTERVAL seconds.
        "retention-sweep": {"task": RETENTION_TASK, "schedule": settings.retention_interval,
                            "options": {"expires": settings.retention_interval}},
        # The storage retry schedule: uploads waiting for S3 to come back, lapsed uploaders, unfinished deletes.
        "storage-sweep": {"task": STORAGE_SWEEP_TASK, "schedule": settings.storage_sweep_interval,
                          "options": {"expires": max(10.0, 2 * settings.storage_sweep_interval)}},
        # Bucket sources: streams that appear in the segments bucket without a webhook (MONITOR_INTERVAL).
        **({"bucket-poll": {"task": BUCKET_POLL_TASK, "schedule": settings.bucket_poll_interval,
                            "options": {"expires": max(10.0, 2 * settings.bucket_poll_interval)}}}
           if settings.push_source == "bucket" and settings.bucket_poll_interval > 0 else {}),
    },
    beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    include=["livevault.worker.tasks"],
)


def queue_names(names: str) -> list[str]:
    """`default,recording` -> the queue names on the broker (with LIVEVAULT_CELERY_QUEUE_PREFIX)."""
    return [f"{settings.celery_queue_prefix}{name.strip()}" for name in names.split(",") if name.strip()]


def _logging(loglevel: Any = None, **_: Any) -> None:
    """livevault's JSON logs (with correlation ids) instead of Celery's own format, at `--loglevel`."""
    level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else (loglevel or settings.log_level)
    configure_logging(str(level).upper(), json_logs=settings.log_json)


signals.setup_logging.connect(_logging)
