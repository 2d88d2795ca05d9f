"""`duration` is seconds of media in the file: a 10 s recording of the live test stream holds 10 s give or
take one segment (it starts at the newest segment), and `start: "window"` holds the window the server
still offered plus 10 s. Both are measured by decoding the finished MP4 with PyAV."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import av
import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import (
    assert_contiguous,
    decode_frame_numbers,
    recording_file,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.live

FPS = 24
SEGMENT = 1.0
WINDOW = 6


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return make_settings(tmp_path / "data", thumbnails=False)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        yield api


def media_seconds(path: Any) -> tuple[float, float]:
    """(seconds of video by frame count, the container's duration)."""
    frames = decode_frame_numbers(path)
    assert_contiguous(frames)
    with av.open(str(path)) as container:
        duration = float(container.duration or 0) / av.time_base
    return len(frames) / FPS, duration


@pytest.mark.parametrize(("start", "expected"), [
    ("live_edge", 10.0),
    ("window", (WINDOW - 1) * SEGMENT + 10.0),  # the segments before the newest are back-fill
])
def test_duration_is_seconds_of_media_in_the_file(
    client: TestClient, settings: Settings, stream_server: StreamServer, start: str, expected: float
) -> None:
    stream = stream_server.stream(f"dur{uuid.uuid4().hex[:8]}", segment_duration=SEGMENT, window=WINDOW)
    stream.wait_for_segments(WINDOW + 1)
    response = client.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 10, "start": start})
    assert response.status_code == 202, response.text
    body = wait_finished(client, response.json()["recording_id"], timeout=60)

    assert body["status"] == "completed", body
    assert body["options"]["start"] == start
    by_frames, by_container = media_seconds(recording_file(settings.recordings_dir, body))
    assert abs(by_frames - expected) <= SEGMENT + 1 / FPS, (by_frames, expected)
    assert abs(by_container - expected) <= SEGMENT + 0.1, (by_container, expected)
    assert abs(body["duration_seconds"] - by_container) < 0.5


def test_a_watcher_max_duration_is_media_seconds_too(
    client: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = stream_server.stream(f"durw{uuid.uuid4().hex[:8]}", segment_duration=SEGMENT, window=WINDOW)
    stream.wait_for_segments(2)
    url = stream.playlist_url("hi")
    created = client.post("/watchers", json={"url": url, "poll_interval": 10, "options": {"max_duration": 6}})
    assert created.status_code == 202, created.text
    try:
        def first_recording() -> str | None:
            found = client.get("/recordings", params={"source": url}).json()["recordings"]
            return found[0]["id"] if found else None

        wait_until(lambda: first_recording() is not None, timeout=30)
        body = wait_finished(client, str(first_recording()), timeout=60)
    finally:
        client.delete(f"/watchers/{quote(url, safe='')}")
    by_frames, _ = media_seconds(recording_file(settings.recordings_dir, body))
    assert abs(by_frames - 6) <= SEGMENT + 1 / FPS, by_frames
