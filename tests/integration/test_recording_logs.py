"""Logs an operator can follow: every line of a recording's job carries recording_id, task_id, the source
(without its query string) and the request's correlation id; start, each part, end of capture, finalize and the
end are logged once, with duration, size and return code."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.observability import JsonFormatter, log_context, safe_source
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import wait_finished

pytestmark = [pytest.mark.live]


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def captured() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


def test_a_recordings_lines_carry_its_ids_and_its_milestones_are_logged_once(
    tmp_path: Path, stream_server: StreamServer, captured: Lines
) -> None:
    stream = stream_server.stream(f"l-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    url = stream.playlist_url("hi") + "?token=s3cr3t-query-token"
    cid = f"cid-{uuid.uuid4().hex}"
    with TestClient(create_app(make_settings(tmp_path / "data")), headers=HEADERS) as api:
        accepted = api.post("/recordings", json={"url": url, "duration": 4}, headers={"X-Correlation-ID": cid})
        assert accepted.status_code == 202, accepted.text
        rid, task_id = accepted.json()["recording_id"], accepted.json()["task_id"]
        body = wait_finished(api, rid, timeout=60)
    assert body["status"] == "completed", body

    mine = [line for line in captured.lines if line.get("recording_id") == rid]
    assert mine, captured.lines[-20:]
    for line in mine:
        assert line["task_id"] == task_id, line
        assert line["correlation_id"] == cid, line
        assert line.get("url") == safe_source(url), line
    assert not any("s3cr3t" in json.dumps(line) for line in captured.lines), "a query secret reached the logs"

    by_message: dict[str, list[dict[str, Any]]] = {}
    for line in mine:
        by_message.setdefault(line["message"], []).append(line)
    for milestone in ("recording started", "part closed", "capture ended", "finalized", "recording ended"):
        assert len(by_message.get(milestone, [])) == 1, (milestone, sorted(by_message))
    part = by_message["part closed"][0]
    assert part["size"] > 0
    assert part["duration"] > 0
    assert part["segments"] >= 3
    ended = by_message["recording ended"][0]
    assert (ended["returncode"], ended["status"], ended["size"]) == (0, "completed", body["file_size"])
    assert by_message["finalized"][0]["duration"] >= 0
    assert by_message["capture ended"][0]["size"] > 0


def test_log_context_nests_and_strips_url_secrets(captured: Lines) -> None:
    log = logging.getLogger("livevault.test")
    with log_context(recording_id="r1", task_id="t1", correlation_id="c1"), log_context(url=safe_source(
            "https://user:pw@cdn.example.com:8443/live/x.m3u8?sig=abc#frag")):
        log.info("inside")
    log.info("outside")
    inside, outside = captured.lines[-2:]
    assert (inside["recording_id"], inside["task_id"], inside["correlation_id"]) == ("r1", "t1", "c1")
    assert inside["url"] == "https://cdn.example.com:8443/live/x.m3u8"
    assert "recording_id" not in outside
    assert outside["correlation_id"] is None
