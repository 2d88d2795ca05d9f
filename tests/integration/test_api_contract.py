"""The API's seed shapes that need no live stream: auth, errors, health, validation, pagination."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.db.repositories import RecordingRepository
from livevault.domain.recording import Recording, RecordingStatus
from tests.conftest import make_settings


def assert_error_body(body: dict[str, object], code: str) -> None:
    assert body["error_code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], dict)
    assert isinstance(body["correlation_id"], str)
    assert len(body["correlation_id"]) >= 8


def test_health_endpoints_answer_without_a_key(api: TestClient) -> None:
    anonymous = {"X-API-Key": ""}
    assert api.get("/healthz", headers=anonymous).json() == {"status": "ok"}
    assert api.get("/health", headers=anonymous).json() == {"status": "healthy", "service": "livevault"}
    ready = api.get("/ready", headers=anonymous)
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == {"ok": True}
    assert api.get("/openapi.json", headers=anonymous).status_code == 200
    assert api.get("/docs", headers=anonymous).status_code == 200


def test_missing_key_is_401_and_unknown_key_is_403_with_the_error_body(api: TestClient) -> None:
    missing = api.get("/recordings", headers={"X-API-Key": ""})
    assert missing.status_code == 401
    assert_error_body(missing.json(), "UNAUTHORIZED")
    unknown = api.get("/recordings", headers={"X-API-Key": "nope"})
    assert unknown.status_code == 403
    assert_error_body(unknown.json(), "FORBIDDEN")
    for key in ("test-key", "other-key"):
        assert api.get("/recordings", headers={"X-API-Key": key}).status_code == 200


def test_correlation_id_is_echoed_and_put_in_error_bodies(api: TestClient) -> None:
    response = api.get("/jobs/does-not-exist", headers={"X-Correlation-ID": "trace-123"})
    assert response.status_code == 404
    assert response.headers["X-Correlation-ID"] == "trace-123"
    assert response.json()["correlation_id"] == "trace-123"
    assert_error_body(response.json(), "NOT_FOUND")


def test_recording_needs_a_url_or_room_id(api: TestClient) -> None:
    response = api.post("/recordings", json={"duration": 10})
    assert response.status_code == 400
    assert_error_body(response.json(), "MISSING_SOURCE")


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://x/a.m3u8", "duration": "ten"},
        {"url": "http://x/a.m3u8", "duration": 86401},
        {"url": "http://x/a.m3u8", "duration": 0},
        {"url": 42},
        {"url": "http://x/a.m3u8", "options": "yes"},
    ],
)
def test_wrong_types_are_422(api: TestClient, body: dict[str, object]) -> None:
    response = api.post("/recordings", json=body)
    assert response.status_code == 422
    assert_error_body(response.json(), "VALIDATION_ERROR")
    assert response.json()["details"]["errors"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://example.com/live.m3u8"}, "INVALID_URL"),
        ({"url": "http:///nohost.m3u8"}, "INVALID_URL"),
        ({"url": "http://exa mple.com/a.m3u8"}, "INVALID_URL"),
        ({"room_id": "12ab"}, "INVALID_ROOM_ID"),
        ({"room_id": "1" * 21}, "INVALID_ROOM_ID"),
        ({"url": "http://127.0.0.1:9/a.m3u8", "output_template": "../../etc/passwd"}, "INVALID_OUTPUT_TEMPLATE"),
        ({"url": "http://127.0.0.1:9/a.m3u8", "output_template": "{nope}.mp4"}, "INVALID_OUTPUT_TEMPLATE"),
        ({"url": "http://127.0.0.1:9/a.m3u8", "output_template": "/abs/x.mp4"}, "INVALID_OUTPUT_TEMPLATE"),
        ({"url": "http://127.0.0.1:9/a.m3u8", "options": {"proxy": "ftp://p:21"}}, "INVALID_PROXY"),
        ({"url": "http://127.0.0.1:9/a.m3u8", "options": {"proxy": "http://"}}, "INVALID_PROXY"),
        ({"url": "http://127.0.0.1:9/a.m3u8", "options": {"proxy": "http://p:99999"}}, "INVALID_PROXY"),
        ({"url": "http://127.0.0.1:9/a.m3u8", "options": {"cookies": "/etc/passwd"}}, "VALIDATION_ERROR"),
    ],
)
def test_bad_input_gets_a_clear_400(api: TestClient, body: dict[str, object], code: str) -> None:
    response = api.post("/recordings", json=body)
    assert response.status_code == 400, response.text
    assert_error_body(response.json(), code)


def test_private_sources_are_refused_unless_allowed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, allow_private_sources=False)
    with TestClient(create_app(settings), headers={"X-API-Key": "test-key"}) as client:
        for url in ("http://127.0.0.1:8080/live.m3u8", "http://localhost/x.flv", "http://[::1]/a.ts",
                    "http://169.254.169.254/latest", "http://10.0.0.1/a.m3u8"):
            response = client.post("/recordings", json={"url": url})
            assert response.status_code == 400, url
            assert_error_body(response.json(), "ADDRESS_NOT_ALLOWED")
            assert "LIVEVAULT_ALLOW_PRIVATE_SOURCES" in response.json()["message"]


def test_unknown_recording_is_a_404_in_both_shapes(api: TestClient) -> None:
    seed = api.get("/recording/e410066c-8d50-4e0f-965f-452af1814ffa")
    assert seed.status_code == 404
    assert seed.json()["error"] == "Recording not found"
    assert_error_body(seed.json(), "NOT_FOUND")
    for method, path in [("GET", "/recordings/x"), ("POST", "/recordings/x/stop"), ("DELETE", "/recordings/x"),
                         ("GET", "/recordings/x/download"), ("GET", "/jobs/x")]:
        response = api.request(method, path)
        assert response.status_code == 404, path
        assert_error_body(response.json(), "NOT_FOUND")


def test_files_and_recordings_lists_are_empty_and_paginated(api: TestClient) -> None:
    files = api.get("/files", params={"page": 1, "page_size": 10}).json()
    assert files == {"items": [], "page": 1, "page_size": 10, "total": 0, "pages": 0}
    recordings = api.get("/recordings").json()
    assert recordings["recordings"] == []
    assert recordings["total"] == 0
    assert api.get("/files", params={"page": 0}).status_code == 422


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_per_min=3)
    with TestClient(create_app(settings), headers={"X-API-Key": "test-key"}) as client:
        statuses = [client.get("/recordings").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/recordings")
        assert int(limited.headers["Retry-After"]) >= 1
        assert_error_body(limited.json(), "RATE_LIMITED")
        # another key has its own budget
        assert client.get("/recordings", headers={"X-API-Key": "other-key"}).status_code == 200


def test_metrics_are_prometheus_text(api: TestClient) -> None:
    api.get("/recordings")
    text = api.get("/metrics").text
    assert "http_requests_total" in text
    assert "disk_free_bytes" in text
    assert "recordings_active" in text


def test_seed_routes_show_seed_statuses_and_livevault_routes_keep_pending(api: TestClient) -> None:
    """A recording no worker has picked up yet is `pending` to livevault and `recording` to seed 002."""
    container = api.app.state.container  # type: ignore[attr-defined]
    recording_id = str(uuid.uuid4())
    pending = Recording(id=recording_id, source_kind="url", source="http://example.com/live.m3u8",
                        status=RecordingStatus.PENDING, created_at=datetime.now(UTC))
    container.db.run(lambda s: RecordingRepository(s).add(pending))  # accepted, no worker has it yet
    own = api.get(f"/recordings/{recording_id}").json()
    assert (own["status"], own["state"]) == ("pending", "pending")
    seed = api.get(f"/recording/{recording_id}").json()["recording"]
    assert (seed["status"], seed["state"]) == ("recording", "pending")
    listed = {r["id"]: r for r in api.get("/recordings").json()["recordings"]}
    assert listed[recording_id]["status"] == "recording"
    assert {r["status"] for r in listed.values()} <= {"recording", "processing", "completed", "failed"}
