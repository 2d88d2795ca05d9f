"""Distributed mode: Celery beat sends the bucket poller's pass every MONITOR_INTERVAL when bucket sources are on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_PROBE = """
import json
from livevault.worker import tasks
from livevault.worker.celery_app import BUCKET_POLL_TASK, app
entries = [e for e in app.conf.beat_schedule.values() if e["task"] == BUCKET_POLL_TASK]
print(json.dumps({"registered": BUCKET_POLL_TASK in app.tasks, "task": tasks.bucket_poll.name,
                  "schedules": [e["schedule"] for e in entries]}))
"""


def _beat(tmp_path: object, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"LIVEVAULT_PUSH_SOURCE", "MONITOR_INTERVAL", "LIVEVAULT_BUCKET_POLL_INTERVAL"}}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, "LIVEVAULT_DATA_DIR": str(tmp_path), **env},
                         capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_beat_polls_the_bucket_every_monitor_interval(tmp_path: object) -> None:
    on = _beat(tmp_path, LIVEVAULT_PUSH_SOURCE="bucket", MONITOR_INTERVAL="5s")
    assert on == {"registered": True, "task": "livevault.bucket.poll", "schedules": [5.0]}


def test_no_bucket_poll_without_bucket_sources_or_with_interval_zero(tmp_path: object) -> None:
    assert _beat(tmp_path)["schedules"] == []
    assert _beat(tmp_path, LIVEVAULT_PUSH_SOURCE="bucket", MONITOR_INTERVAL="0")["schedules"] == []
