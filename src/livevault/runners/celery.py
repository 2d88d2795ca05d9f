"""Distributed runner: jobs are Celery tasks sent by their stable name; workers run the same job functions.

The API process (and any process that creates jobs) only *sends*: `submit` publishes the task to the queue its
name routes to, with the job id as the Celery task id, after the database commit that created the job. Workers
(`livevault.worker`) look the job function up in this runner's registry, so a task runs exactly the code the
local runner runs. Job state lives in the database, never in the result backend.

`create_celery_app(settings)` holds what every Celery process must agree on (broker, queues, routing, transport
options); the worker adds its execution settings in `livevault.worker.celery_app`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import Celery  # type: ignore[import-untyped]

from livevault.observability import CORRELATION_HEADER, current_correlation_id

if TYPE_CHECKING:
    from livevault.config import Settings
    from livevault.runners.base import JobFunction

log = logging.getLogger(__name__)

RECORD_TASK = "livevault.record"  # the same string as services.record.RECORD_JOB (runners sit below services)
UPLOAD_TASK = "livevault.upload"  # services.delivery.UPLOAD_JOB
DEFAULT_QUEUE = "default"
RECORDING_QUEUE = "recording"
UPLOAD_QUEUE = "upload"  # long network transfers: never queued behind (or ahead of) finalize work
QUEUES = (DEFAULT_QUEUE, RECORDING_QUEUE, UPLOAD_QUEUE)

# Redis re-delivers a message that stays unacknowledged longer than this. With late acks a record task holds
# its message until the recording has finished (at most 24 h, see config.MAX_DURATION_SECONDS), so anything
# shorter would hand a running recording to a second worker. A dead worker's recordings are taken over much
# sooner by the lease sweep; this redelivery is only the last safety net.
VISIBILITY_TIMEOUT = 24 * 3600 + 2 * 3600

# The job is already committed in the database when it is published: keep trying through a short broker
# restart (about 25 s) instead of failing the request and leaving the job pending.
PUBLISH_RETRY_POLICY = {"max_retries": 12, "interval_start": 0, "interval_step": 0.5, "interval_max": 3}

# Results are only a view for Flower and `celery inspect`; the database is the record. Keep them a day.
RESULT_EXPIRES = 24 * 3600


def queue_name(queue: str, prefix: str = "") -> str:
    return f"{prefix}{queue}"


def queue_for(task_name: str, prefix: str = "") -> str:
    """`livevault.record` goes to the `recording` queue (long, I/O bound), `livevault.upload` to `upload`;
    everything else to `default`."""
    queue = {RECORD_TASK: RECORDING_QUEUE, UPLOAD_TASK: UPLOAD_QUEUE}.get(task_name, DEFAULT_QUEUE)
    return queue_name(queue, prefix)


def create_celery_app(settings: Settings, *, set_as_current: bool = False) -> Celery:
    """A Celery app configured for livevault's broker and queues (no tasks: senders publish by name)."""
    prefix = settings.celery_queue_prefix
    app = Celery("livevault", broker=settings.celery_broker_url, backend=settings.celery_result_backend,
                 set_as_current=set_as_current)
    transport: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    backend_transport: dict[str, Any] = {}
    if prefix:
        # A prefix also isolates every other key kombu writes (bindings, the unacked index, control and event
        # channels): tests and several deployments can share one Redis without restoring each other's messages.
        transport["global_keyprefix"] = prefix
        backend_transport["global_keyprefix"] = prefix
    app.conf.update(
        broker_transport_options=transport,
        result_backend_transport_options=backend_transport,
        task_default_queue=queue_name(DEFAULT_QUEUE, prefix),
        task_routes={
            RECORD_TASK: {"queue": queue_name(RECORDING_QUEUE, prefix)},
            UPLOAD_TASK: {"queue": queue_name(UPLOAD_QUEUE, prefix)},
            "livevault.*": {"queue": queue_name(DEFAULT_QUEUE, prefix)},
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_publish_retry=True,
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        result_expires=RESULT_EXPIRES,
        # Brokers restart; a process that publishes must wait for it rather than give up at start-up.
        broker_connection_retry_on_startup=True,
        enable_utc=True,
    )
    return app


class CeleryRunner:
    """Publishes jobs to Celery; keeps the job functions so a worker in this process can run them."""

    def __init__(self, app: Celery, *, queue_prefix: str = "") -> None:
        self.app = app
        self.queue_prefix = queue_prefix
        self._jobs: dict[str, JobFunction] = {}

    def register(self, name: str, func: JobFunction) -> None:
        self._jobs[name] = func

    def job(self, name: str) -> JobFunction:
        """The function registered under `name` (what a worker task calls).

        Raises:
            KeyError: no job of that name is registered.
        """
        return self._jobs[name]

    def queue_for(self, name: str) -> str:
        return queue_for(name, self.queue_prefix)

    def submit(self, name: str, job_id: str, **kwargs: Any) -> None:
        if name not in self._jobs:
            raise KeyError(name)
        queue = self.queue_for(name)
        # The correlation id also travels as a message header, so the worker can log under it before (and
        # whether or not) the job function takes it as an argument.
        correlation_id = kwargs.get("correlation_id") or current_correlation_id()
        headers = {CORRELATION_HEADER: correlation_id} if correlation_id else None
        self.app.send_task(name, kwargs={"job_id": job_id, **kwargs}, task_id=job_id, queue=queue, headers=headers)
        log.info("job %s (%s) sent to queue %s", job_id, name, queue)

    async def start(self) -> None:
        """Nothing to start: the broker connection is opened on the first publish."""

    async def shutdown(self, timeout: float) -> None:
        """Jobs run on workers, not here: only release this process's broker connections."""
        del timeout
        self.app.close()
