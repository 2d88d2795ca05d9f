"""Celery's task consumer, made to survive a broker connection loss while late-acked tasks run.

Celery 5.7 closes the broken broker connection when it loses it. With Redis and late acks, closing the channel
tries to requeue the messages of the tasks still running, through a transport that the connection clean-up
has just dropped: the `AttributeError` that follows is not a connection error, so it ends the worker (and when
the close is guarded, the running task's ack hits the same dropped transport later). Reproduced with a plain
Celery app: `task_acks_late=True`, the threads pool, and `redis-server` killed while a task runs.

This consumer keeps the old connection open instead, as Celery did before 5.7: the dead socket is already
closed, the running tasks ack through their channel once Redis is back (a no-op when Redis lost its data),
and their messages are not requeued while they still run, so no second copy starts. Everything else about
the reconnect (collecting the old connection, reducing the prefetch count, restarting) is Celery's own.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer  # type: ignore[import-untyped]

log = logging.getLogger(__name__)


class Consumer(CeleryConsumer):  # type: ignore[misc]
    def on_connection_error_after_connected(self, exc: BaseException) -> None:
        connection: Any = self.connection
        if connection is not None:
            # The one step skipped: Celery calls `connection.close()` right after taking it off the consumer.
            connection.close = _keep_open
        super().on_connection_error_after_connected(exc)


def _keep_open() -> None:
    log.info("broker connection lost; the old connection stays open for the acks of running tasks")
