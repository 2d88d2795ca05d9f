"""Distributed mode: uploads have their own queue, and Celery beat runs the storage retry schedule."""

from __future__ import annotations

from livevault.runners.celery import QUEUES, queue_for
from livevault.services.delivery import UPLOAD_JOB


def test_uploads_go_to_the_upload_queue() -> None:
    assert "upload" in QUEUES
    assert queue_for(UPLOAD_JOB) == "upload"
    assert queue_for(UPLOAD_JOB, "p:") == "p:upload"
    assert queue_for("livevault.finalize") == "default"


def test_the_worker_app_has_the_upload_task_and_beat_the_retry_schedule() -> None:
    from livevault.worker import tasks
    from livevault.worker.celery_app import STORAGE_SWEEP_TASK, app

    assert tasks.upload.name == UPLOAD_JOB
    assert STORAGE_SWEEP_TASK in app.tasks
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert STORAGE_SWEEP_TASK in schedule
    assert app.conf.task_routes[UPLOAD_JOB]["queue"].endswith("upload")
