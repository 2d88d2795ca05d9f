"""Record TikTok LIVEs end to end: POST /recordings → the TikTok source → the fake TikTok → real FLV from the
test stream server → a completed MP4 whose every frame is the one that was served."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.testsrc import LiveStream, StreamServer
from tests.conftest import HEADERS, make_settings
from tests.fakes.tiktok import FakeTikTok
from tests.integration.helpers import (
    assert_contiguous,
    decode_frame_numbers,
    recording_file,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.live

FPS = 24
_rooms = itertools.count(7_300_000_000_000_000_000)


@pytest.fixture(scope="module")
def fake(stream_server: StreamServer) -> Iterator[FakeTikTok]:
    with FakeTikTok(stream_server.base_url) as server:
        yield server


@pytest.fixture
def tiktok_settings(tmp_path: Any, fake: FakeTikTok) -> Settings:
    return make_settings(tmp_path / "data", tiktok_web_url=fake.base_url, tiktok_webcast_url=fake.base_url)


@pytest.fixture
def client(tiktok_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(tiktok_settings)) as api:
        api.headers.update(HEADERS)
        yield api


def live_user(fake: FakeTikTok, stream_server: StreamServer) -> tuple[str, str, LiveStream]:
    name, room = f"tt{uuid.uuid4().hex[:10]}", str(next(_rooms))
    stream = stream_server.stream(name, segment_duration=0.5, window=6)
    fake.add_user(name, room, live=True, title="fake live")
    return name, room, stream


def served_frames(stream: LiveStream) -> set[int]:
    return {f for conn in stream.connections() for r in conn.frame_ranges for f in r}


@pytest.mark.parametrize("form", ["room_id", "user", "url"])
def test_record_a_tiktok_live_given_a_room_id_a_user_or_a_live_url(
    client: TestClient, tiktok_settings: Settings, fake: FakeTikTok, stream_server: StreamServer, form: str
) -> None:
    name, room, stream = live_user(fake, stream_server)
    target = {"room_id": {"room_id": room}, "user": {"user": f"@{name}"},
              "url": {"url": f"https://www.tiktok.com/@{name}/live"}}[form]
    response = client.post("/recordings", json={**target, "duration": 4})
    assert response.status_code == 202, response.text
    body = wait_finished(client, response.json()["recording_id"], timeout=60)

    assert body["status"] == "completed", body
    assert body["source_kind"] == "tiktok"
    frames = decode_frame_numbers(recording_file(tiktok_settings.recordings_dir, body))
    assert_contiguous(frames)
    assert len(frames) >= 3 * FPS, "about 4 s were asked for"
    assert set(frames) <= served_frames(stream), "every frame is one the test server sent"
    media = fake.requests_for(name, "/cdn/stage/")
    assert [r.method for r in media[:2]] == ["HEAD", "GET"], "probed once, then the FLV body"
    assert {(r.path, r.status) for r in media} == {(f"/cdn/stage/stream-{room}.flv", 200)}


def test_a_live_that_ends_mid_recording_completes_with_what_was_captured(
    client: TestClient, tiktok_settings: Settings, fake: FakeTikTok, stream_server: StreamServer
) -> None:
    name, _, stream = live_user(fake, stream_server)
    recording_id = client.post("/recordings", json={"user": name, "duration": 60}).json()["recording_id"]
    wait_until(lambda: len(client.get(f"/recordings/{recording_id}/ledger").json()["segments"]) >= 3, timeout=20)
    fake.end_live(name)
    body = wait_finished(client, recording_id, timeout=40)

    assert body["status"] == "completed", body
    frames = decode_frame_numbers(recording_file(tiktok_settings.recordings_dir, body))
    assert_contiguous(frames)
    assert set(frames) <= served_frames(stream)
    assert body["duration_seconds"] < 20


def test_a_dropped_tiktok_stream_reconnects_into_a_second_part(
    client: TestClient, tiktok_settings: Settings, fake: FakeTikTok, stream_server: StreamServer
) -> None:
    name, room, stream = live_user(fake, stream_server)
    recording_id = client.post("/recordings", json={"room_id": room, "duration": 7}).json()["recording_id"]

    def ledger() -> dict[str, Any]:
        result: dict[str, Any] = client.get(f"/recordings/{recording_id}/ledger").json()
        return result

    wait_until(lambda: len(ledger()["segments"]) >= 2, timeout=20)
    fake.set_scenario(name, "drop", seconds=1.5)
    body = wait_finished(client, recording_id, timeout=60)

    assert body["status"] == "completed", body
    final = ledger()
    assert [p["reason"] for p in final["parts"]] == ["start", "reconnect"]
    assert len(final["gaps"]) == 1
    frames = decode_frame_numbers(recording_file(tiktok_settings.recordings_dir, body))
    assert frames == sorted(set(frames)), "nothing duplicated across the reconnect"
    assert set(frames) <= served_frames(stream)
    statuses = [r.status for r in fake.requests_for(name, "/cdn/stage/") if r.method == "GET"]
    assert statuses[0] == 200
    assert 503 in statuses, "the CDN refused while the drop lasted"
    assert statuses[-1] == 200
