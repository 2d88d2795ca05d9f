"""A short outage of the stream URLs never ends a live recording: the recorder re-resolves through the
reconnect window and continues the same recording in a new part, the outage a gap in the ledger.

TikTok: the room stays live while every pull URL answers 404 (its CDN blip). HLS: the playlist answers
404 for 20 s and comes back with the media sequence continued or reset. Every file is decoded: what it
holds is what the test server sent, and at least 90 % of it."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.testsrc import LiveStream, StreamServer
from tests.conftest import HEADERS, make_settings
from tests.fakes.tiktok import FakeTikTok
from tests.integration.helpers import decode_frame_numbers, recording_file, wait_finished, wait_until

pytestmark = pytest.mark.live

FPS = 24
_rooms = itertools.count(7_400_000_000_000_000_000)


@pytest.fixture(scope="module")
def fake(stream_server: StreamServer) -> Iterator[FakeTikTok]:
    with FakeTikTok(stream_server.base_url) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Any, fake: FakeTikTok) -> Settings:
    return make_settings(tmp_path / "data", tiktok_web_url=fake.base_url, tiktok_webcast_url=fake.base_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        yield api


def ledger(client: TestClient, recording_id: str) -> dict[str, Any]:
    result: dict[str, Any] = client.get(f"/recordings/{recording_id}/ledger").json()
    return result


def seconds_between(gap: dict[str, Any]) -> float:
    return (datetime.fromisoformat(gap["ended_at"]) - datetime.fromisoformat(gap["started_at"])).total_seconds()


def flv_frames(stream: LiveStream) -> set[int]:
    return {f for conn in stream.connections() for r in conn.frame_ranges for f in r}


@pytest.mark.parametrize("outage", [5.0, 30.0])
def test_a_tiktok_room_that_stays_live_while_its_pull_urls_answer_404_is_one_recording_in_two_parts(
    client: TestClient, settings: Settings, fake: FakeTikTok, stream_server: StreamServer, outage: float
) -> None:
    name, room = f"tt{uuid.uuid4().hex[:10]}", str(next(_rooms))
    stream = stream_server.stream(name, segment_duration=0.5, window=6)
    fake.add_user(name, room, live=True)
    # 20 s of media: what an aborted connection had in flight (lost with the reset, more when the machine is
    # busy) is a small, bounded share of it
    body = {"user": name, "duration": 20, "options": {"reconnect_window": outage + 30}}
    recording_id = client.post("/recordings", json=body).json()["recording_id"]
    wait_until(lambda: len(ledger(client, recording_id)["segments"]) >= 4, timeout=30)

    fake.set_scenario(name, "drop", seconds=outage, status=404)
    done = wait_finished(client, recording_id, timeout=outage + 90)

    assert done["status"] == "completed", done
    final = ledger(client, recording_id)
    assert [p["reason"] for p in final["parts"]] == ["start", "reconnect"]
    (gap,) = final["gaps"]
    assert gap["cause"] == "connection_dropped"
    assert outage - 0.5 <= seconds_between(gap) <= outage + 8, gap
    assert gap["duration"] == pytest.approx(seconds_between(gap), abs=0.01)
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, done))
    served = flv_frames(stream)
    assert frames == sorted(set(frames)), "nothing duplicated across the reconnect"
    assert set(frames) <= served
    assert len(frames) >= 0.9 * len(served), (len(frames), len(served))
    statuses = [r.status for r in fake.requests_for(name, "/cdn/stage/") if r.method == "GET"]
    assert 404 in statuses, "the CDN answered 404 while the room was live"
    # each FLV connection starts with a segment already made (0.5 s): ± one segment per part
    assert 19 * FPS <= len(frames) <= 21.5 * FPS, "duration counts media seconds, not the outage"


@pytest.mark.parametrize(("comes_back", "grace"), [
    ("continued", 8.0),  # the capture gives up after the grace; the recorder re-resolves and goes on
    ("reset", 8.0),
    ("continued", 30.0),  # the default grace outlasts the outage: the capture itself carries on
])
def test_an_hls_playlist_that_answers_404_for_20_s_continues_in_a_second_part(
    tmp_path: Any, stream_server: StreamServer, comes_back: str, grace: float
) -> None:
    settings = make_settings(tmp_path / "data", playlist_grace=grace)
    with TestClient(create_app(settings)) as client:
        client.headers.update(HEADERS)
        check_hls_outage(client, settings, stream_server, comes_back)


def check_hls_outage(client: TestClient, settings: Settings, stream_server: StreamServer, comes_back: str) -> None:
    name = f"blip{uuid.uuid4().hex[:8]}"
    stream = stream_server.stream(name, segment_duration=0.5, window=6)
    stream.wait_for_segments(6)
    body = {"url": stream.playlist_url("hi"), "duration": 10, "options": {"reconnect_window": 60}}
    recording_id = client.post("/recordings", json=body).json()["recording_id"]
    wait_until(lambda: len(ledger(client, recording_id)["segments"]) >= 6, timeout=30)

    stream.offline(20, reset=comes_back == "reset")
    done = wait_finished(client, recording_id, timeout=120)

    assert done["status"] == "completed", done
    final = ledger(client, recording_id)
    reasons = [p["reason"] for p in final["parts"]]
    assert len(reasons) == 2, reasons
    assert reasons[0] == "start"
    assert reasons[1] in {"reconnect", "sequence_reset"}
    (gap,) = final["gaps"]
    assert gap["cause"] == "playlist_unreachable"
    assert 18 <= seconds_between(gap) <= 30, gap
    if comes_back == "continued":
        assert gap["missing_segments"] >= 20, "the sequences that went by are named"
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, done))
    served = {f for seg in stream.served("hi") if seg.status == 200 and seg.completed for f in seg.frames}
    assert set(frames) <= served
    assert len(frames) >= 0.9 * len(served), (len(frames), len(served))
    assert 9 * FPS <= len(frames) <= 11.5 * FPS, "duration counts media seconds, not the outage"
