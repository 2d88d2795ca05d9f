"""LIVEVAULT_VERIFY: the finished recording says which verification its file went through."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import wait_finished

pytestmark = pytest.mark.live


@pytest.fixture(params=["sampled", "full", "off"])
def mode_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, TestClient]]:
    settings = make_settings(tmp_path / "data", verify=request.param)
    with TestClient(create_app(settings)) as client:
        client.headers.update(HEADERS)
        yield request.param, client


def test_the_recording_names_the_verification_that_ran(
    mode_api: tuple[str, TestClient], stream_server: StreamServer
) -> None:
    mode, api = mode_api
    stream = stream_server.stream(f"v-{uuid.uuid4().hex[:8]}", segment_duration=0.5, window=4)
    accepted = api.post("/recordings", json={"url": stream.playlist_url("lo"), "duration": 2}).json()
    body = wait_finished(api, accepted["recording_id"], timeout=40)
    assert body["status"] == "completed"
    assert body["integrity"]["verify"] == mode
    assert api.get(f"/jobs/{accepted['task_id']}").json()["result"]["verify"] == mode
    listed = api.get("/recordings").json()["recordings"][0]
    assert listed["integrity"]["verify"] == mode
