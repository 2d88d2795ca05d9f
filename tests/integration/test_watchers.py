"""Watchers through the API against the live test server: record when live, again at the next live, back off."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.testsrc import LiveStream, StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import assert_contiguous, decode_frame_numbers, recording_file, wait_finished, wait_until

pytestmark = pytest.mark.live


def fast_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"watcher_min_interval": 1.0, "watcher_jitter": 0.0, "playlist_grace": 2.5}
    values.update(overrides)
    return make_settings(tmp_path / "data", **values)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(fast_settings(tmp_path))) as api:
        api.headers.update(HEADERS)
        yield api


def new_stream(server: StreamServer, **config: Any) -> LiveStream:
    return server.stream(f"w-{uuid.uuid4().hex[:8]}", **config)


def watcher(api: TestClient, key: str) -> dict[str, Any]:
    response = api.get(f"/watchers/{quote(key, safe='')}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_watcher_records_each_live_and_stops_on_delete(client: TestClient, tmp_path: Path,
                                                         stream_server: StreamServer) -> None:
    stream = new_stream(stream_server, segment_duration=0.5, window=8)
    stream.offline(3.0)
    url = stream.playlist_url("hi")
    # a reconnect window shorter than the outage: the recording ends, the next live is a new one
    response = client.post("/watchers", json={"url": url, "poll_interval": 1, "options": {"reconnect_window": 1}})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "PENDING"
    assert accepted["key"] == url
    task_id = accepted["task_id"]

    wait_until(lambda: watcher(client, url)["checks"] >= 1, timeout=10)
    first_check = watcher(client, url)
    assert first_check["live_state"] == "offline"
    assert first_check["recording_id"] is None
    assert client.get(f"/jobs/{task_id}").json()["status"] == "STARTED"

    # Live after 3 s: the watcher starts a recording; the source goes away; the recording finishes.
    wait_until(lambda: watcher(client, url)["recording_id"] is not None, timeout=15)
    first_id = watcher(client, url)["recording_id"]
    wait_until(lambda: client.get(f"/recordings/{first_id}").json()["status"] == "recording", timeout=10)
    time.sleep(3.0)
    stream.offline(5.0)
    first = wait_finished(client, first_id, timeout=60)
    assert first["status"] == "completed", first

    # Back live: a second recording of the same watcher; deleting the watcher stops and finalizes it.
    wait_until(lambda: watcher(client, url)["recording_id"] not in (None, first_id), timeout=30)
    second_id = watcher(client, url)["recording_id"]
    wait_until(lambda: client.get(f"/recordings/{second_id}").json()["integrity"]["segments_captured"] >= 4,
               timeout=20)
    assert watcher(client, url)["recordings_count"] == 2
    deleted = client.delete(f"/watchers/{quote(url, safe='')}")
    assert deleted.status_code == 200
    assert deleted.json() == {"ok": True}
    second = wait_finished(client, second_id, timeout=60)
    assert second["status"] == "completed", second
    assert client.get(f"/jobs/{task_id}").json()["status"] == "REVOKED"
    assert client.get(f"/watchers/{quote(url, safe='')}").status_code == 404
    assert client.delete(f"/watchers/{quote(url, safe='')}").status_code == 404

    data_dir = tmp_path / "data" / "recordings"
    for body in (first, second):
        assert_contiguous(decode_frame_numbers(recording_file(data_dir, body)))


class CountingOrigin:
    """A real HTTP server that answers every request with one status and counts the requests."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.times: list[float] = []
        self._ready = threading.Event()
        self._loop: Any = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        del request
        self.times.append(time.monotonic())
        return web.Response(status=self.status, text="<html>blocked</html>", content_type="text/html")

    def __enter__(self) -> CountingOrigin:
        import asyncio

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_get("/{tail:.*}", self._handle)
            runner = web.AppRunner(app)
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._runner = runner
            self._ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_a_blocked_source_is_polled_with_backoff_not_in_a_hot_loop(client: TestClient) -> None:
    with CountingOrigin(403) as origin:
        url = f"http://127.0.0.1:{origin.port}/live/blocked.m3u8"
        response = client.post("/watchers", json={"url": url, "poll_interval": 1})
        assert response.status_code == 202, response.text
        task_id = response.json()["task_id"]
        time.sleep(8.0)
        state = watcher(client, url)
    # Blocked: the first retry waits 4 poll intervals, the next 8 — at most 3 requests in 8 s, not 8.
    assert 1 <= len(origin.times) <= 3, origin.times
    assert state["error_code"] == "SOURCE_BLOCKED"
    assert state["live_state"] == "error"
    assert state["failures"] == len(origin.times)
    assert state["recording_id"] is None
    job = client.get(f"/jobs/{task_id}").json()
    assert job["error_code"] == "SOURCE_BLOCKED"
    assert job["status"] == "STARTED"


def test_watcher_requests_are_checked(client: TestClient) -> None:
    url = "http://127.0.0.1:9/live/x.m3u8"
    assert client.post("/watchers", json={"url": url, "poll_interval": 0.5}).json()["error_code"] == (
        "VALIDATION_ERROR")
    missing = client.post("/watchers", json={"poll_interval": 30})
    assert missing.status_code == 400
    assert missing.json()["error_code"] == "MISSING_SOURCE"
    both = client.post("/watchers", json={"url": url, "room_id": "123", "poll_interval": 30})
    assert both.status_code == 400
    assert client.post("/watchers", json={"url": "ftp://x/y", "poll_interval": 30}).status_code == 400
    assert client.post("/watchers", json={"url": url, "poll_interval": "soon"}).status_code == 422
    assert client.post("/watchers", json={"url": url, "poll_interval": 30}).status_code == 202
    duplicate = client.post("/watchers", json={"url": url, "poll_interval": 30})
    assert duplicate.status_code == 409
    assert duplicate.json()["error_code"] == "CONFLICT"
    assert client.post("/watchers", json={"url": url, "poll_interval": 30}, headers={"X-API-Key": ""}).status_code \
        == 401

    key = quote(url, safe="")
    paused = client.patch(f"/watchers/{key}", json={"status": "paused", "poll_interval": 45})
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert paused.json()["poll_interval"] == 45
    assert client.patch(f"/watchers/{key}", json={"status": "deleted"}).status_code == 422
    assert client.patch(f"/watchers/{key}", json={"poll_interval": 1}).status_code == 200  # min is 1 s here
    listed = client.get("/watchers").json()
    assert listed["total"] == 1
    assert listed["items"][0]["key"] == url
    assert client.get("/watchers", params={"status": "active"}).json()["total"] == 0
    resumed = client.patch(f"/watchers/{key}", json={"status": "active"})
    assert resumed.json()["status"] == "active"
    assert client.patch("/watchers/nope", json={"status": "active"}).status_code == 404
    assert client.delete(f"/watchers/{key}").json() == {"ok": True}
    assert client.get("/watchers").json()["total"] == 0
    assert client.get("/watchers", params={"status": "deleted"}).json()["total"] == 1
    # The key can be watched again after a delete.
    assert client.post("/watchers", json={"url": url, "poll_interval": 30}).status_code == 202


def test_watchers_survive_a_restart(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path)
    url = "http://127.0.0.1:9/live/restart.m3u8"
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        task_id = api.post("/watchers", json={"url": url, "poll_interval": 1}).json()["task_id"]
        wait_until(lambda: watcher(api, url)["checks"] >= 1, timeout=10)
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        before = watcher(api, url)["checks"]
        wait_until(lambda: watcher(api, url)["checks"] > before, timeout=15)
        assert api.get(f"/jobs/{task_id}").json()["status"] == "STARTED"
        assert watcher(api, url)["error_code"] == "SOURCE_UNREACHABLE"
