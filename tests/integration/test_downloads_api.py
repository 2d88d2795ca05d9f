"""`POST /downloads` end to end (seed 003): parallel fan-out under the limit, the headful retry, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings
from tests.conftest import HEADERS, make_settings
from tests.fakes.resolver import CLIP_FPS, CLIP_SECONDS, FakeResolver, video_url
from tests.integration.test_api_contract import assert_error_body

FINISHED = {"SUCCESS", "FAILURE", "REVOKED"}


@pytest.fixture
def fake() -> Iterator[FakeResolver]:
    with FakeResolver() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, fake: FakeResolver) -> Settings:
    return make_settings(
        tmp_path / "data", download_resolver_url=fake.base_url, download_strategy="scrapling-api",
        num_parallel_downloads=5, scheduler_enabled=False,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        yield api


def wait_job(client: TestClient, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{task_id}").json()
        if job["status"] in FINISHED:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout}s: {job}"
        time.sleep(0.2)


def test_twenty_urls_never_exceed_five_in_flight_and_all_finish(
    client: TestClient, fake: FakeResolver, settings: Settings
) -> None:
    # Given 20 videos whose resolver call takes 1 s each, and NUM_PARALLEL_DOWNLOADS=5
    urls = [video_url(f"{9000 + n}", delay=1.0) for n in range(20)]
    started = time.monotonic()
    response = client.post("/downloads", json={"urls": urls})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "PENDING"
    assert accepted["strategy"] == "scrapling-api"
    assert [d["url"] for d in accepted["downloads"]] == urls
    # When the batch runs
    job = wait_job(client, accepted["task_id"])
    elapsed = time.monotonic() - started
    # Then the fake saw exactly 5 calls at once, never more, and every video landed
    assert fake.max_resolver_in_flight == 5
    assert fake.max_in_flight <= 5
    assert len(fake.requests) == 20
    assert not any(body["force_headful"] for body in fake.requests)
    assert elapsed >= 3.5  # 4 waves of 1 s: the limit really held
    assert job["status"] == "SUCCESS", job
    assert job["kind"] == "download"
    result = job["result"]
    assert (result["total"], result["completed"], result["failed"], result["returncode"]) == (20, 20, 0, 0)
    assert len(result["files"]) == 20
    assert all((settings.recordings_dir / f).is_file() for f in result["files"])
    listed = client.get("/downloads", params={"batch": accepted["task_id"], "page_size": 100}).json()
    assert listed["total"] == 20
    assert [d["url"] for d in listed["downloads"]] == urls
    assert {d["status"] for d in listed["downloads"]} == {"completed"}


def test_headful_retry_runs_once_and_invalid_url_is_not_retried(client: TestClient, fake: FakeResolver) -> None:
    urls = [video_url("9101", "navigation_failed"), video_url("9102", "invalid_url"), video_url("9103")]
    accepted = client.post("/downloads", json={"urls": urls}).json()
    job = wait_job(client, accepted["task_id"])
    assert [b["force_headful"] for b in fake.requests_for("9101")] == [False, True]
    assert [b["force_headful"] for b in fake.requests_for("9102")] == [False]
    assert [b["force_headful"] for b in fake.requests_for("9103")] == [False]
    # The batch reports the one failure; the other two videos are there.
    assert job["status"] == "FAILURE"
    assert job["error_code"] == "INVALID_URL"
    assert job["error_message"] == "1 of 3 downloads failed"
    assert (job["result"]["completed"], job["result"]["failed"], job["result"]["returncode"]) == (2, 1, 1)
    retried, invalid, plain = (client.get(f"/downloads/{d['id']}").json() for d in accepted["downloads"])
    assert (retried["status"], retried["attempts"]) == ("completed", 2)
    assert (invalid["status"], invalid["attempts"], invalid["error_code"]) == ("failed", 1, "INVALID_URL")
    assert invalid["file_path"] is None
    assert (plain["status"], plain["attempts"], plain["title"], plain["author"]) == (
        "completed", 1, "Fake video 9103", "fakeuser")
    assert plain["task_id"] == accepted["task_id"]
    failed = client.get("/downloads", params={"status": "failed"}).json()
    assert [d["id"] for d in failed["downloads"]] == [invalid["id"]]
    metrics = client.get("/metrics").text
    assert 'livevault_downloads_total{status="completed",strategy="scrapling-api"} 2.0' in metrics
    assert 'livevault_download_retries_total{strategy="scrapling-api"} 1.0' in metrics


def test_the_yt_dlp_strategy_downloads_a_playable_file_with_keyframes(
    client: TestClient, fake: FakeResolver, settings: Settings
) -> None:
    url = f"{fake.base_url}/media/clip-9201.mp4"
    accepted = client.post("/downloads", json={"urls": [url], "strategy": "yt-dlp", "keyframes": True}).json()
    assert accepted["strategy"] == "yt-dlp"
    job = wait_job(client, accepted["task_id"])
    assert job["status"] == "SUCCESS", job
    item = client.get(f"/downloads/{accepted['downloads'][0]['id']}").json()
    assert (item["strategy"], item["title"]) == ("yt-dlp", "clip-9201")
    assert item["duration"] == pytest.approx(CLIP_SECONDS, abs=0.05)
    with av.open(str(settings.recordings_dir / item["file_path"])) as container:
        assert sum(1 for _ in container.decode(video=0)) == CLIP_SECONDS * CLIP_FPS
    assert item["keyframes"]["count"] == CLIP_SECONDS
    assert all((settings.recordings_dir / f).is_file() for f in item["keyframes"]["files"])
    assert fake.requests == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"urls": []}, 422, "VALIDATION_ERROR"),
        ({"urls": ["https://example.com/v"] * 101}, 422, "VALIDATION_ERROR"),
        ({"urls": ["https://example.com/v"], "strategy": "curl"}, 422, "VALIDATION_ERROR"),
        ({"urls": "https://example.com/v"}, 422, "VALIDATION_ERROR"),
        ({"urls": ["https://example.com/ok", "ftp://example.com/v"]}, 400, "INVALID_URL"),
        ({"urls": ["not a url"]}, 400, "INVALID_URL"),
    ],
)
def test_bad_batches_are_rejected_with_the_error_body(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    response = client.post("/downloads", json=body)
    assert response.status_code == status, response.text
    assert_error_body(response.json(), code)


def test_errors_name_the_bad_url_and_unknown_ids_are_404(client: TestClient) -> None:
    bad = client.post("/downloads", json={"urls": ["https://example.com/ok", "ftp://example.com/v"]}).json()
    assert bad["details"]["index"] == 1
    missing = client.get("/downloads/nope")
    assert missing.status_code == 404
    assert_error_body(missing.json(), "NOT_FOUND")
    assert client.get("/downloads", params={"status": "bogus"}).status_code == 422
    assert client.post("/downloads", json={"urls": ["https://example.com/v"]},
                       headers={"X-API-Key": ""}).status_code == 401


def test_scrapling_api_without_a_resolver_url_is_a_clear_400(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", scheduler_enabled=False)
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        response = api.post("/downloads", json={"urls": ["https://example.com/v"], "strategy": "http-api"})
    assert response.status_code == 400
    assert_error_body(response.json(), "STRATEGY_UNAVAILABLE")
