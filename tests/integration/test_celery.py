"""Distributed mode end to end: the API sends jobs to real Celery worker processes over a real Redis, with
PostgreSQL as the shared database. Every queue and Redis key of this session carries a unique prefix, and
nothing is ever flushed: only this session's own keys are deleted at the end."""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.bootstrap import build_runner, celery_app
from livevault.config import Settings
from livevault.services.downloads import DOWNLOAD_JOB
from livevault.services.record import RECORD_JOB
from livevault.testsrc import LiveStream, StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.celery_helpers import (
    CELERY,
    RedisServer,
    SlowOrigin,
    delete_prefixed,
    free_port,
    livevault_env,
    processes,
    redis_ok,
    redis_url,
)
from tests.integration.helpers import assert_contiguous, decode_frame_numbers, recording_file, wait_finished

pytestmark = [pytest.mark.live, pytest.mark.postgres]

READY = "ready."  # Celery's "celery@host ready." line
_counter = itertools.count()


@pytest.fixture(scope="session")
def session_prefix() -> Iterator[str]:
    url = redis_url()
    if not redis_ok(url):
        if os.environ.get("LIVEVAULT_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis not reachable at {url}; LIVEVAULT_REQUIRE_REDIS=1 requires it", pytrace=False)
        pytest.skip(f"Redis not reachable at {url} (set REDIS_URL, or LIVEVAULT_REQUIRE_REDIS=1 to fail instead)")
    prefix = f"lvtest-{os.getpid()}-{secrets.token_hex(3)}-"
    yield prefix
    delete_prefixed(url, prefix)


@pytest.fixture
def prefix(session_prefix: str) -> str:
    """Queues of their own for each test, so a test never receives another test's leftovers."""
    return f"{session_prefix}{next(_counter)}:"


@pytest.fixture
def env_for(tmp_path: Path, postgres_database_url: str, prefix: str) -> Any:
    def make(broker: str | None = None, **extra: str) -> dict[str, str]:
        return livevault_env(data_dir=tmp_path / "data", database_url=postgres_database_url,
                             broker=broker or redis_url(), prefix=prefix, **extra)
    return make


@pytest.fixture
def settings_for(tmp_path: Path, postgres_database_url: str, prefix: str) -> Any:
    def make(broker: str | None = None, **extra: Any) -> Settings:
        url = broker or redis_url()
        return make_settings(tmp_path / "data", runner="celery", database_url=postgres_database_url,
                             celery_broker_url=url, celery_result_backend=url, celery_queue_prefix=prefix,
                             scheduler_enabled=False, **extra)
    return make


def api_client(settings: Settings) -> TestClient:
    client = TestClient(create_app(settings))
    client.headers.update(HEADERS)
    return client


def new_stream(server: StreamServer) -> LiveStream:
    return server.stream(f"c-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)


def post_recording(api: TestClient, url: str, duration: int) -> dict[str, Any]:
    response = api.post("/recordings", json={"url": url, "duration": duration})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_recording(api: TestClient, recording_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while api.get(f"/recordings/{recording_id}").json()["integrity"]["segments_captured"] < 3:
        assert time.monotonic() < deadline, "the recording did not start"
        time.sleep(0.2)


def job_statuses(api: TestClient, task_id: str, timeout: float = 90.0) -> list[str]:
    """Every distinct status `/jobs/{id}` showed, in order, until the job finished."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        status = api.get(f"/jobs/{task_id}").json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in {"SUCCESS", "FAILURE", "REVOKED"}:
            return seen
        assert time.monotonic() < deadline, f"job {task_id} still {status} after {timeout}s"
        time.sleep(0.1)


def test_the_api_sends_a_recording_to_a_worker_process(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    settings = settings_for()
    stream = new_stream(stream_server)
    with processes(tmp_path) as start, api_client(settings) as api:
        worker = start("worker", ["worker", "-Q", "default,recording", "-n", "w1@%h", "-c", "8"], env_for())
        accepted = post_recording(api, stream.playlist_url("hi"), duration=5)
        task_id = accepted["task_id"]
        statuses = job_statuses(api, task_id)
        assert statuses[0] == "PENDING"
        assert statuses[-2:] == ["STARTED", "SUCCESS"], statuses
        job = api.get(f"/jobs/{task_id}").json()
        assert job["result"]["files"], job
        assert job["result"]["files"][0].endswith(".mp4")
        worker.wait_for_log(f"livevault.record[{task_id}] succeeded", timeout=10)

        body = wait_finished(api, accepted["recording_id"])
        frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
        assert_contiguous(frames)
        assert len(frames) >= 4 * 24
        assert body["integrity"]["segments_missing"] == 0


def test_one_worker_process_holds_twenty_recordings_at_once(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    settings = settings_for()
    streams = [new_stream(stream_server) for _ in range(4)]
    with processes(tmp_path) as start, api_client(settings) as api:
        worker = start("worker", ["worker", "-c", "24", "-n", "w1@%h"], env_for())
        worker.wait_for_log(READY)
        # Five recordings per stream: a query parameter of their own makes each URL a source of its own (one
        # source, one recording; the test server ignores the parameter).
        ids = [post_recording(api, f"{streams[i % 4].playlist_url('hi')}?copy={i}", duration=6)["recording_id"]
               for i in range(20)]
        bodies = [wait_finished(api, rid, timeout=120) for rid in ids]

    assert [b["status"] for b in bodies] == ["completed"] * 20, [(b["status"], b["error_code"]) for b in bodies]
    latest_start = max(b["started_at"] for b in bodies)
    earliest_end = min(b["completed_at"] for b in bodies)
    assert latest_start < earliest_end, "all twenty were recording at the same time"
    for body in bodies:
        assert body["integrity"]["segments_missing"] == 0
        assert_contiguous(decode_frame_numbers(recording_file(settings.recordings_dir, body)))


def test_a_redis_restart_mid_recording_loses_no_job_and_watchers_resume(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server)
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    fast = {"LIVEVAULT_WATCHER_MIN_INTERVAL": "1", "LIVEVAULT_WATCHER_JITTER": "0"}
    with RedisServer(redis_dir) as broker, SlowOrigin(delay=0.05) as origin:
        settings = settings_for(broker.url, watcher_min_interval=1.0, watcher_jitter=0.0)
        with processes(tmp_path) as start, api_client(settings) as api:
            worker = start("worker", ["worker", "-c", "8", "-n", "w1@%h"], env_for(broker.url, **fast))
            worker.wait_for_log(READY)
            start("beat", ["scheduler"], env_for(broker.url, **fast))
            paths = [f"offline{i}/index.m3u8" for i in range(2)]
            for path in paths:
                response = api.post("/watchers", json={"url": origin.url(path), "poll_interval": 1})
                assert response.status_code == 202, response.text
            first = post_recording(api, stream.playlist_url("hi"), duration=12)
            rid = first["recording_id"]
            wait_recording(api, rid)
            time.sleep(2.0)
            deadline = time.monotonic() + 20
            while not all(origin.calls[path] for path in paths):  # beat's first ticks
                assert time.monotonic() < deadline, "the watchers were not checked before the outage"
                time.sleep(0.2)
            broker.kill()  # everything Redis held is gone: queues, unacked messages, results, beat's ticks
            second: dict[str, Any] = {}
            posting = threading.Thread(
                # (another URL of the same stream: the first recording still holds `hi`)
                target=lambda: second.update(post_recording(api, stream.playlist_url("hi") + "?copy=2", duration=4)))
            posting.start()  # publishing waits for the broker instead of failing
            time.sleep(3.0)
            assert posting.is_alive(), "the job was published (or failed) while Redis was down"
            broker.start()
            restarted = time.time()
            posting.join(30)
            assert second, "the job submitted during the outage was not accepted"

            bodies = [wait_finished(api, r["recording_id"], timeout=90) for r in (first, second)]
            jobs = [api.get(f"/jobs/{r['task_id']}").json() for r in (first, second)]
            assert [j["status"] for j in jobs] == ["SUCCESS", "SUCCESS"], jobs
            worker.wait_for_log(f"livevault.record[{second['task_id']}] succeeded", timeout=10)

            # Beat and the worker reconnected on their own: every watcher is checked again, once a second.
            deadline = time.monotonic() + 30
            while any(sum(1 for began, _ in origin.calls[path] if began > restarted) < 3 for path in paths):
                assert time.monotonic() < deadline, {p: len(origin.calls[p]) for p in paths}
                time.sleep(0.5)
            watchers = [api.get(f"/watchers/{quote(origin.url(path), safe='')}").json() for path in paths]

    for body in bodies:
        assert body["status"] == "completed", body
        assert body["integrity"]["segments_missing"] == 0
        assert_contiguous(decode_frame_numbers(recording_file(settings.recordings_dir, body)))
    assert bodies[0]["duration_seconds"] >= 10, "the first recording ran through the outage"
    for watcher in watchers:
        assert watcher["status"] == "active", watcher
        assert watcher["checks"] >= 4, watcher  # before and after the outage


def test_beat_ticks_check_each_watcher_once_at_a_time_across_two_workers(
    tmp_path: Path, env_for: Any, settings_for: Any
) -> None:
    interval = 1.0
    fast = {"LIVEVAULT_WATCHER_MIN_INTERVAL": "1", "LIVEVAULT_WATCHER_JITTER": "0"}
    settings = settings_for(watcher_min_interval=1.0, watcher_jitter=0.0)
    # Each check takes 1.5 s, longer than the 1 s between ticks: passes of both workers overlap all the time.
    with SlowOrigin(delay=1.5) as origin, processes(tmp_path) as start, api_client(settings) as api:
        urls = [origin.url(f"w{i}/index.m3u8") for i in range(6)]
        for url in urls:
            response = api.post("/watchers", json={"url": url, "poll_interval": interval})
            assert response.status_code == 202, response.text
        workers = [start(f"worker{i}", ["worker", "-Q", "default", "-c", "4", "-n", f"w{i}@%h"], env_for(**fast))
                   for i in range(2)]
        for worker in workers:
            worker.wait_for_log(READY)
        start("beat", ["scheduler"], env_for(**fast))
        time.sleep(14.0)
        checks = {url: api.get(f"/watchers/{quote(url, safe='')}").json()["checks"] for url in urls}

    for url in urls:
        calls = sorted(origin.calls[url.split("/", 3)[3]])
        assert len(calls) >= 3, (url, calls)
        assert checks[url] >= len(calls) - 1, (checks, url)
        for (start_a, end_a), (start_b, _end_b) in itertools.pairwise(calls):
            assert start_b >= end_a, f"{url} was checked by two passes at once"
            assert start_b - start_a >= 0.9 * interval
    ticks = [w.log().count("livevault.watchers.tick[") for w in workers]
    assert all(n > 0 for n in ticks), f"both workers take ticks: {ticks}"


def test_submit_routes_record_jobs_to_the_recording_queue(settings_for: Any, prefix: str) -> None:
    runner: Any = build_runner(settings_for())
    for name in (RECORD_JOB, DOWNLOAD_JOB):
        runner.register(name, _never_runs)
    with pytest.raises(KeyError):
        runner.submit("livevault.nothing", "j0")
    runner.submit(RECORD_JOB, "j1", recording_id="r1", correlation_id="c1")
    runner.submit(DOWNLOAD_JOB, "j2", correlation_id=None)
    client = redis.Redis.from_url(redis_url())
    try:
        # Every key carries the prefix (kombu's global key prefix), then the prefixed queue name.
        recording = list(client.lrange(f"{prefix}{prefix}recording", 0, -1))
        default = list(client.lrange(f"{prefix}{prefix}default", 0, -1))
    finally:
        client.close()
    assert len(recording) == 1
    assert b'"j1"' in recording[0]
    assert b"livevault.record" in recording[0]
    assert len(default) == 1
    assert b'"j2"' in default[0]
    assert b"livevault.download" in default[0]
    runner.app.close()


async def _never_runs(**_: Any) -> None:
    raise AssertionError("a sender never runs jobs")


def test_revoking_a_running_recording_stops_it_gracefully(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    settings = settings_for()
    stream = new_stream(stream_server)
    control = celery_app(settings)
    with processes(tmp_path) as start, api_client(settings) as api:
        worker = start("worker", ["worker", "-c", "4", "-n", "w1@%h"], env_for())
        worker.wait_for_log(READY)
        accepted = post_recording(api, stream.playlist_url("hi"), duration=60)
        wait_recording(api, accepted["recording_id"])
        time.sleep(2.0)
        control.control.revoke(accepted["task_id"], terminate=True)  # seed 001: cancel a job with revoke
        body = wait_finished(api, accepted["recording_id"], timeout=30)
        job = api.get(f"/jobs/{accepted['task_id']}").json()
    control.close()
    assert body["status"] == "completed", body
    assert body["duration_seconds"] < 30
    assert job["status"] == "SUCCESS", job
    assert job["result"]["end_reason"] == "stopped", job
    assert_contiguous(decode_frame_numbers(recording_file(settings.recordings_dir, body)))


def test_sigterm_stops_a_worker_after_its_recordings_finalize(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    settings = settings_for()
    stream = new_stream(stream_server)
    with processes(tmp_path) as start, api_client(settings) as api:
        worker = start("worker", ["worker", "-c", "4", "-n", "w1@%h"], env_for())
        worker.wait_for_log(READY)
        accepted = post_recording(api, stream.playlist_url("hi"), duration=60)
        wait_recording(api, accepted["recording_id"])
        time.sleep(2.0)
        assert worker.stop(timeout=60) == 0  # warm shutdown: waits for the capture to stop and finalize
        body = api.get(f"/recordings/{accepted['recording_id']}").json()
        job = api.get(f"/jobs/{accepted['task_id']}").json()
    assert body["status"] == "completed", body
    assert job["status"] == "SUCCESS", job
    assert job["result"]["end_reason"] == "stopped", job
    assert_contiguous(decode_frame_numbers(recording_file(settings.recordings_dir, body)))


def test_flower_shows_the_workers_and_their_tasks(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    pytest.importorskip("flower")
    settings = settings_for()
    stream = new_stream(stream_server)
    port = free_port()
    base, auth = f"http://127.0.0.1:{port}", ("admin", "flower-test-secret")
    with processes(tmp_path) as start, api_client(settings) as api, httpx.Client(auth=auth, timeout=5) as web:
        worker = start("worker", ["worker", "-c", "4", "-n", "w1@%h"], env_for())
        worker.wait_for_log(READY)
        # Exactly the command docs/deployment.md gives (seed 000: port 5555; a free one here).
        start("flower", ["-A", "livevault.worker.celery_app", "flower", f"--port={port}", "--address=127.0.0.1",
                         f"--basic-auth={auth[0]}:{auth[1]}"], env_for(), program=CELERY)
        wait_http(lambda: web.get(f"{base}/healthcheck").text == "OK")
        assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401, "the API needs the login"

        accepted = post_recording(api, stream.playlist_url("hi"), duration=3)
        wait_finished(api, accepted["recording_id"], timeout=60)
        wait_http(lambda: web.get(f"{base}/api/task/info/{accepted['task_id']}").status_code == 200
                  and web.get(f"{base}/api/task/info/{accepted['task_id']}").json().get("state") == "SUCCESS")
        task = web.get(f"{base}/api/task/info/{accepted['task_id']}").json()
        workers = web.get(f"{base}/api/workers", params={"refresh": "true"}).json()

    assert task["name"] == "livevault.record", task
    assert task["worker"].startswith("w1@"), task
    assert any(name.startswith("w1@") for name in workers), workers


def wait_http(ready: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "Flower did not answer as expected"
        time.sleep(0.3)


def test_beat_runs_the_cleanup_job_on_a_worker(tmp_path: Path, env_for: Any, settings_for: Any) -> None:
    """Distributed mode: `livevault scheduler` sends `livevault.retention.sweep`, a worker deletes an old
    recording (and its file) and leaves a pinned one."""
    from datetime import UTC, datetime, timedelta

    from livevault.db.repositories import RecordingRepository
    from livevault.domain.recording import Recording, RecordingStatus

    retention = {"LIVEVAULT_RETENTION_DAYS": "1", "LIVEVAULT_RETENTION_INTERVAL": "1"}
    settings = settings_for()
    with processes(tmp_path) as start, api_client(settings) as api:
        container = api.app.state.container  # type: ignore[attr-defined]
        old = datetime.now(UTC) - timedelta(days=3)
        rows = []
        for name, pinned in (("old", False), ("pinned", True)):
            path = settings.recordings_dir / "seed" / f"{name}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\0" * 10)
            rows.append(Recording(id=f"{name}-{uuid.uuid4().hex[:8]}", source_kind="url", source=name,
                                  status=RecordingStatus.COMPLETED, created_at=old, completed_at=old,
                                  file_path=f"seed/{name}.mp4", file_size=10, pinned=pinned))
        container.db.run(lambda s: [RecordingRepository(s).add(r) for r in rows])
        worker = start("worker", ["worker", "-Q", "default", "-c", "4"], env_for(**retention))
        worker.wait_for_log(READY)
        start("beat", ["scheduler"], env_for(**retention))
        deadline = time.monotonic() + 60
        while api.get(f"/recordings/{rows[0].id}").status_code != 404:
            assert time.monotonic() < deadline, worker.log()[-4000:]
            time.sleep(0.5)
        assert not (settings.recordings_dir / "seed" / "old.mp4").exists()
        assert api.get(f"/recordings/{rows[1].id}").json()["pinned"] is True
        assert (settings.recordings_dir / "seed" / "pinned.mp4").exists()
    assert "livevault.retention.sweep[" in worker.log()


def test_a_worker_uploads_a_finished_recording_from_the_upload_queue(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer, moto_server: Any, s3_bucket: str
) -> None:
    from tests.s3fixtures import ACCESS_KEY, SECRET_KEY, s3_overrides

    s3_env = {"S3_ENDPOINT_URL": moto_server.url, "S3_BUCKET": s3_bucket, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
              "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1", "S3_FORCE_PATH_STYLE": "true",
              "S3_UPLOAD_DEFAULT": "true"}
    settings = settings_for(**s3_overrides(moto_server, s3_bucket, s3_upload_default=True))
    stream = new_stream(stream_server)
    with processes(tmp_path) as start, api_client(settings) as api:
        worker = start("worker", ["worker", "-Q", "default,recording,upload", "-n", "w1@%h", "-c", "8"],
                       env_for(**s3_env))
        accepted = post_recording(api, stream.playlist_url("hi"), duration=4)
        body = wait_finished(api, accepted["recording_id"])
        assert body["status"] == "completed"
        worker.wait_for_log("livevault.upload[", timeout=60)
        deadline = time.monotonic() + 60
        while api.get(f"/recordings/{accepted['recording_id']}").json()["location"] != "s3":
            assert time.monotonic() < deadline, "the worker did not upload the recording"
            time.sleep(0.2)
        job = api.get(f"/jobs/{accepted['task_id']}").json()
        keys = {entry["key"] for entry in job["result"]["s3"]}
        assert keys == {body["file_path"], body["thumbnail_path"]}
        listed = moto_server.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])
        assert {o["Key"] for o in listed} == keys
        assert not (settings.recordings_dir / body["file_path"]).exists()
