"""One source, one recording: a second request for a source that is being recorded answers 409
ALREADY_RECORDING naming the recording, however the two requests race (threads, two API processes)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.testsrc import LiveStream, StreamServer
from tests.conftest import API_KEY, HEADERS, make_settings
from tests.integration.celery_helpers import free_port, livevault_env, processes
from tests.integration.helpers import wait_finished, wait_until

pytestmark = pytest.mark.live


def new_stream(server: StreamServer) -> LiveStream:
    return server.stream(f"one-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)


def same_url_spelled_differently(url: str) -> str:
    """Upper-case scheme and host and a fragment: the source key ignores all three."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.upper(), parts.netloc.upper(), parts.path, parts.query, "frag"))


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", database_url=database_url, scheduler_enabled=False)
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        yield api


def assert_already_recording(response: httpx.Response, recording_id: str, task_id: str) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error_code"] == "ALREADY_RECORDING"
    assert body["details"]["recording_id"] == recording_id
    assert body["details"]["task_id"] == task_id
    assert recording_id in body["message"]


def captured(client: Any, recording_id: str) -> bool:
    return bool(client.get(f"/recordings/{recording_id}").json()["integrity"]["segments_captured"] > 0)


def stop_and_wait(client: TestClient, recording_id: str) -> dict[str, Any]:
    """Stop once something was captured (a recording stopped before any media fails: NOTHING_RECORDED)."""
    wait_until(lambda: captured(client, recording_id), timeout=30)
    assert client.post(f"/recordings/{recording_id}/stop").status_code == 202
    return wait_finished(client, recording_id, timeout=90)


def test_the_same_url_twice_gives_one_recording(client: TestClient, stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    first = client.post("/recordings", json={"url": stream.master_url})
    assert first.status_code == 202, first.text
    accepted = first.json()
    second = client.post("/recordings", json={"url": same_url_spelled_differently(stream.master_url)})
    assert_already_recording(second, accepted["recording_id"], accepted["task_id"])
    listed = client.get("/recordings", params={"page_size": 500}).json()["recordings"]
    assert [r["id"] for r in listed if r["url"] and stream.name in r["url"]] == [accepted["recording_id"]]

    # Another stream is another source.
    other = client.post("/recordings", json={"url": new_stream(stream_server).master_url})
    assert other.status_code == 202, other.text

    # A finished recording does not block a new one.
    assert stop_and_wait(client, accepted["recording_id"])["status"] == "completed"
    again = client.post("/recordings", json={"url": stream.master_url})
    assert again.status_code == 202, again.text
    assert again.json()["recording_id"] != accepted["recording_id"]
    stop_and_wait(client, again.json()["recording_id"])
    stop_and_wait(client, other.json()["recording_id"])


def race(post: Any, url: str, n: int = 2) -> list[httpx.Response]:
    """`n` threads post `url` at the same moment."""
    barrier = threading.Barrier(n)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        response = post(i, url)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(responses) == n
    return responses


def one_accepted(responses: list[httpx.Response]) -> dict[str, Any]:
    accepted = [r for r in responses if r.status_code == 202]
    assert len(accepted) == 1, [(r.status_code, r.text) for r in responses]
    body: dict[str, Any] = accepted[0].json()
    for refused in (r for r in responses if r.status_code != 202):
        assert_already_recording(refused, body["recording_id"], body["task_id"])
    return body


def test_two_threads_at_the_same_moment(client: TestClient, stream_server: StreamServer) -> None:
    for _round in range(3):
        stream = new_stream(stream_server)
        responses = race(lambda _i, url: client.post("/recordings", json={"url": url}), stream.master_url, n=3)
        body = one_accepted(responses)
        stop_and_wait(client, body["recording_id"])


def test_a_watcher_finds_the_source_recorded_and_starts_nothing(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    settings = make_settings(tmp_path / "data", watcher_min_interval=1.0, watcher_jitter=0.0)
    with TestClient(create_app(settings)) as client:
        client.headers.update(HEADERS)
        stream = new_stream(stream_server)
        accepted = client.post("/recordings", json={"url": stream.master_url}).json()
        watch = client.post("/watchers", json={"url": stream.master_url, "poll_interval": 1})
        assert watch.status_code == 202, watch.text
        key = quote(watch.json()["key"], safe="")
        wait_until(lambda: client.get(f"/watchers/{key}").json()["checks"] >= 2, timeout=30)
        listed = client.get("/recordings", params={"page_size": 500}).json()["recordings"]
        assert [r["id"] for r in listed] == [accepted["recording_id"]]
        assert client.get(f"/watchers/{key}").json()["recordings_count"] == 0
        client.delete(f"/watchers/{key}")
        stop_and_wait(client, accepted["recording_id"])


@pytest.mark.postgres
def test_two_api_processes_on_postgres(
    tmp_path: Path, postgres_database_url: str, stream_server: StreamServer
) -> None:
    """Two `livevault serve` processes on one PostgreSQL database: the unique index lets one of them start
    the recording, the other answers 409 with its id."""
    ports = [free_port(), free_port()]
    with processes(tmp_path) as start:
        servers = []
        for i, port in enumerate(ports):
            env = livevault_env(data_dir=tmp_path / f"serve{i}", database_url=postgres_database_url,
                                broker="redis://127.0.0.1:1/0", prefix="unused", LIVEVAULT_RUNNER="local",
                                LIVEVAULT_PORT=str(port), LIVEVAULT_SCHEDULER_ENABLED="false",
                                RATE_LIMIT_PER_MIN="0")
            servers.append(start(f"serve{i}", ["serve"], env))
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": API_KEY}, timeout=30)
                   for port in ports]
        try:
            for server, http in zip(servers, clients, strict=True):
                wait_healthz(server, http)
            for _round in range(3):
                stream = new_stream(stream_server)
                responses = race(lambda i, url: clients[i].post("/recordings", json={"url": url}), stream.master_url)
                body = one_accepted(responses)
                for http in clients:
                    listed = http.get("/recordings", params={"page_size": 500}).json()["recordings"]
                    assert [r["id"] for r in listed if stream.name in (r["url"] or "")] == [body["recording_id"]]
                # Either process can stop it (the stop flag is in the database).
                # (the process running it reads the live spool; the other one sees the ledger after finalize)
                wait_until(lambda rid=body["recording_id"]: any(captured(c, rid) for c in clients), timeout=30)
                assert clients[0].post(f"/recordings/{body['recording_id']}/stop").status_code == 202
                deadline = time.monotonic() + 90
                while clients[1].get(f"/recordings/{body['recording_id']}").json()["status"] in {
                        "pending", "recording", "processing"}:
                    assert time.monotonic() < deadline, "the recording did not finish"
                    time.sleep(0.25)
        finally:
            for http in clients:
                http.close()


def wait_healthz(server: Any, http: httpx.Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"serve did not start:\n{server.log()[-4000:]}")
        time.sleep(0.2)
