"""A recording that gets no media ends with the code of what happened, not a generic NOTHING_RECORDED:
a stalled stream, a CDN that does not answer, a CDN 403, a login wall and an offline LIVE each have their
own code and advice, against the fake TikTok (real HTTP, real FLV) and the live test server."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS, make_settings
from tests.fakes.tiktok import FakeTikTok
from tests.integration.helpers import wait_finished

pytestmark = pytest.mark.live

_rooms = itertools.count(7_500_000_000_000_000_000)


@pytest.fixture(scope="module")
def fake(stream_server: StreamServer) -> Iterator[FakeTikTok]:
    with FakeTikTok(stream_server.base_url) as server:
        yield server


@pytest.fixture
def client(tmp_path: Any, fake: FakeTikTok) -> Iterator[TestClient]:
    settings: Settings = make_settings(tmp_path / "data", tiktok_web_url=fake.base_url,
                                       tiktok_webcast_url=fake.base_url, http_timeout=2.0, stall_timeout=2.0)
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        yield api


@pytest.mark.parametrize(("scenario", "code"), [
    ("stall", "STREAM_STALLED"),
    ("timeout", "NETWORK_TIMEOUT"),
    ("stream_forbidden", "SOURCE_BLOCKED"),
    ("login_required", "LOGIN_REQUIRED"),
    ("offline", "LIVE_OFFLINE"),
])
def test_a_tiktok_recording_with_nothing_recorded_ends_with_the_code_of_its_cause(
    client: TestClient, fake: FakeTikTok, stream_server: StreamServer, scenario: str, code: str
) -> None:
    name, room = f"ec{uuid.uuid4().hex[:10]}", str(next(_rooms))
    stream_server.stream(name, segment_duration=0.5, window=6)
    fake.add_user(name, room, live=True)
    fake.set_scenario(name, scenario, seconds=120)
    accepted = client.post("/recordings", json={"user": name, "duration": 30,
                                                "options": {"reconnect_window": 4}}).json()
    body = wait_finished(client, accepted["recording_id"], timeout=60)

    assert body["status"] == "failed", body
    assert body["error_code"] == code, body
    assert body["error_message"].startswith("nothing was recorded: "), body
    job = client.get(f"/jobs/{accepted['task_id']}").json()
    assert job["error_code"] == code
    assert job["result"]["error_details"]["nothing_recorded"] is True, "NOTHING_RECORDED is in the details"


@pytest.mark.parametrize(("fault", "code"), [
    ("freeze", "STREAM_STALLED"),
    ("timeout", "NETWORK_TIMEOUT"),
    ("forbidden", "SOURCE_BLOCKED"),
    ("login_wall", "LOGIN_REQUIRED"),
    ("offline", "LIVE_OFFLINE"),
])
def test_an_hls_url_with_nothing_recorded_ends_with_the_code_of_its_cause(
    client: TestClient, stream_server: StreamServer, fault: str, code: str
) -> None:
    stream = stream_server.stream(f"ec{uuid.uuid4().hex[:8]}", segment_duration=0.5, window=6)
    if fault == "freeze":
        stream.freeze(120)  # before its first segment: the playlist answers, empty, and never advances
    stream.wait_for_segments(2)
    {"freeze": lambda: None, "timeout": lambda: stream.stall(120), "forbidden": lambda: stream.forbidden(120),
     "login_wall": lambda: stream.login_wall(120), "offline": lambda: stream.offline(120)}[fault]()
    accepted = client.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 30,
                                                "options": {"reconnect_window": 4}}).json()
    body = wait_finished(client, accepted["recording_id"], timeout=60)

    assert body["status"] == "failed", body
    assert body["error_code"] == code, body
