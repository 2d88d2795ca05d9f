"""Recording strategies through POST /recordings against the live test server: the yt-dlp and streamlink
sources (the native HLS engine records what they resolve), the external recorder (`options.engine:
"command"`, with the real streamlink CLI) and the ffmpeg engine. Every result must be an MP4 that decodes."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.testsrc import LiveStream, StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import assert_contiguous, decode_frame_numbers, recording_file, wait_finished

pytestmark = pytest.mark.live

STREAMLINK = str(Path(sys.executable).with_name("streamlink"))


def new_stream(server: StreamServer) -> LiveStream:
    return server.stream(f"st-{uuid.uuid4().hex[:8]}", segment_duration=1.0)


@pytest.fixture
def recorder_settings(tmp_path: Path) -> Settings:
    template = [STREAMLINK, "--no-config", "--loglevel", "info", "hls://{url}", "best", "-o", "{output}"]
    return make_settings(tmp_path / "data", recorder_command=json.dumps(template), recorder_stop_timeout=5.0,
                         ffmpeg_path="no-such-ffmpeg-for-livevault")


@pytest.fixture
def recorder_api(recorder_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(recorder_settings), headers=HEADERS) as client:
        yield client


def record(api: TestClient, **body: Any) -> dict[str, Any]:
    response = api.post("/recordings", json=body)
    assert response.status_code == 202, response.text
    return wait_finished(api, response.json()["recording_id"], timeout=90)


def assert_plays(settings: Settings, body: dict[str, Any], at_least: int) -> list[int]:
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert len(frames) >= at_least, f"only {len(frames)} frames"
    assert_contiguous(frames)
    assert body["video_codec"] == "h264"
    return frames


def test_the_ytdlp_source_records_the_test_stream(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server)
    body = record(api, url=stream.master_url, source="ytdlp", duration=6)
    assert body["source_kind"] == "ytdlp"
    assert_plays(settings, body, at_least=3 * 24)
    assert (body["width"], body["height"]) == (320, 240)


def test_the_streamlink_source_records_the_test_stream(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server)
    body = record(api, url=stream.master_url, source="streamlink", quality="worst", duration=6)
    assert body["source_kind"] == "streamlink"
    assert_plays(settings, body, at_least=3 * 24)
    assert (body["width"], body["height"]) == (160, 120)


def test_plain_media_urls_still_go_to_the_native_url_source(api: TestClient, stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    response = api.post("/recordings", json={"url": stream.master_url, "duration": 1})
    assert response.status_code == 202, response.text
    body = api.get(f"/recordings/{response.json()['recording_id']}").json()
    assert body["source_kind"] == "url"
    wait_finished(api, body["id"], timeout=60)


def test_an_external_recorder_records_the_test_stream(
    recorder_api: TestClient, recorder_settings: Settings, stream_server: StreamServer
) -> None:
    # Given LIVEVAULT_RECORDER_COMMAND = the streamlink CLI writing to {output}
    stream = new_stream(stream_server)
    # When a recording asks for the command engine
    body = record(recorder_api, url=stream.playlist_url("hi"), duration=7, options={"engine": "command"})
    # Then the recorder's file became the recording: one MP4 that plays, and the part is gone
    assert body["status"] == "completed", body
    assert body["integrity"]["parts"] == 1
    assert_plays(recorder_settings, body, at_least=3 * 24)
    job = recorder_api.get(f"/jobs/{body['task_id']}").json()
    assert job["status"] == "SUCCESS"
    assert job["result"]["end_reason"] == "duration"


def test_the_ffmpeg_engine_without_ffmpeg_fails_with_ffmpeg_missing(
    recorder_api: TestClient, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server)
    body = record(recorder_api, url=stream.playlist_url("hi"), duration=5, options={"engine": "ffmpeg"})
    assert body["status"] == "failed"
    assert body["error_code"] == "FFMPEG_MISSING"
    assert "LIVEVAULT_FFMPEG" in body["error_message"]


@pytest.mark.usefixtures("ffmpeg_binary")  # tests/toolfixtures.py: fails in CI when missing
def test_the_ffmpeg_engine_records_the_test_stream(tmp_path: Path, stream_server: StreamServer) -> None:
    settings = make_settings(tmp_path / "data")
    stream = new_stream(stream_server)
    with TestClient(create_app(settings), headers=HEADERS) as client:
        body = record(client, url=stream.master_url, duration=6, options={"engine": "ffmpeg"})
    assert body["status"] == "completed", body
    assert_plays(settings, body, at_least=3 * 24)
