"""Managed API keys end to end: scopes per route, revocation seen at once by every API process, quotas, the
last-used time, and invalid keys from one address slowed down with 429."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from livevault.api.app import create_app
from livevault.cli.main import app as cli
from livevault.config import Settings
from livevault.db.repositories import RecordingRepository
from livevault.domain.recording import Recording, RecordingStatus
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import wait_finished


def new_key(admin: TestClient, scope: str, **quotas: int) -> dict[str, Any]:
    created = admin.post("/keys", json={"name": f"{scope}-{uuid.uuid4().hex[:6]}", "scope": scope, **quotas})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["key"].startswith(f"lvk_{body['prefix']}_")
    return body


def add_completed(client: TestClient, recordings_dir: Path) -> str:
    container: Any = client.app.state.container  # type: ignore[attr-defined]
    rid = str(uuid.uuid4())
    (recordings_dir / "r").mkdir(parents=True, exist_ok=True)
    (recordings_dir / "r" / f"{rid}.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 100)
    recording = Recording(id=rid, source_kind="direct", source="https://example.com/live.m3u8",
                          status=RecordingStatus.COMPLETED, created_at=datetime.now(UTC), file_path=f"r/{rid}.mp4",
                          file_size=112, completed_at=datetime.now(UTC))
    container.db.run(lambda s: RecordingRepository(s).add(recording))
    return rid


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", scheduler_enabled=False)
    with TestClient(create_app(settings), headers=HEADERS) as client:
        yield client


def test_a_read_key_lists_and_downloads_but_cannot_create_stop_or_delete(admin: TestClient, tmp_path: Path) -> None:
    rid = add_completed(admin, tmp_path / "data" / "recordings")
    read = {"X-API-Key": new_key(admin, "read")["key"]}
    record = {"X-API-Key": new_key(admin, "record")["key"]}

    assert admin.get("/recordings", headers=read).json()["total"] == 1
    assert admin.get(f"/recordings/{rid}", headers=read).status_code == 200
    assert admin.get(f"/recordings/{rid}/download", headers=read).status_code == 200
    assert admin.get("/files", headers=read).status_code == 200
    assert admin.get("/watchers", headers=read).status_code == 200

    refused = [
        admin.post("/recordings", json={"url": "https://example.com/a.m3u8"}, headers=read),
        admin.post(f"/recordings/{rid}/stop", headers=read),
        admin.delete(f"/recordings/{rid}", headers=read),
        admin.post("/watchers", json={"room_id": "123"}, headers=read),
        admin.delete("/watchers/123", headers=read),
        admin.post("/downloads", json={"urls": ["https://www.tiktok.com/@a/video/1"]}, headers=read),
        admin.get("/keys", headers=read),
        admin.post("/keys", json={"name": "x", "scope": "admin"}, headers=read),
        # a record key starts and stops, but neither deletes nor manages keys
        admin.delete(f"/recordings/{rid}", headers=record),
        admin.get("/keys", headers=record),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    assert refused[0].json()["details"] == {"scope": "read", "required": "record"}
    assert admin.post(f"/recordings/{rid}/stop", headers=record).status_code != 403
    assert admin.get(f"/recordings/{rid}", headers=read).status_code == 200  # nothing was deleted


def test_keys_are_listed_without_their_secret_and_a_revoked_key_is_refused(admin: TestClient) -> None:
    made = new_key(admin, "read")
    listed = admin.get("/keys").json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0]
    assert "key_hash" not in listed["items"][0]
    assert made["key"] not in admin.get("/keys").text
    assert admin.delete(f"/keys/{made['id']}").json()["revoked_at"] is not None
    refused = admin.get("/recordings", headers={"X-API-Key": made["key"]})
    assert refused.status_code == 403
    assert refused.json()["message"] == "this API key was revoked"
    assert admin.delete("/keys/no-such-key").status_code == 404
    assert admin.post("/keys", json={"name": "x", "scope": "root"}).status_code == 422
    assert admin.post("/keys", json={"name": "x", "scope": "read", "scopes": "admin"}).status_code == 422


@pytest.mark.postgres
def test_a_revoked_key_is_refused_at_once_by_every_api_process(tmp_path: Path, postgres_database_url: str) -> None:
    with ExitStack() as stack:
        a, b = (stack.enter_context(TestClient(create_app(make_settings(
            tmp_path / name, database_url=postgres_database_url, scheduler_enabled=False)), headers=HEADERS))
            for name in ("a", "b"))
        made = new_key(a, "record")
        key = {"X-API-Key": made["key"]}
        assert [b.get("/recordings", headers=key).status_code for _ in range(3)] == [200, 200, 200]
        assert a.get("/recordings", headers=key).status_code == 200
        # When process A revokes it, then the very next request on B (and on A) is refused
        assert a.delete(f"/keys/{made['prefix']}").status_code == 200
        assert b.get("/recordings", headers=key).status_code == 403
        assert a.get("/recordings", headers=key).status_code == 403


def test_last_used_is_written_at_most_once_per_interval(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", scheduler_enabled=False, key_touch_interval=1.0)
    with TestClient(create_app(settings), headers=HEADERS) as admin:
        made = new_key(admin, "read")
        assert made["last_used_at"] is None
        key = {"X-API-Key": made["key"]}
        admin.get("/recordings", headers=key)
        first = admin.get("/keys").json()["items"][0]["last_used_at"]
        admin.get("/recordings", headers=key)
        assert admin.get("/keys").json()["items"][0]["last_used_at"] == first
        time.sleep(1.1)
        admin.get("/recordings", headers=key)
        assert admin.get("/keys").json()["items"][0]["last_used_at"] > first


def test_quotas_on_active_recordings_and_watchers(admin: TestClient, stream_server: StreamServer) -> None:
    stream = stream_server.stream(f"q-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    key = {"X-API-Key": new_key(admin, "record", max_recordings=1, max_watchers=1)["key"]}
    first = admin.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 60}, headers=key)
    assert first.status_code == 202, first.text
    second = admin.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 60}, headers=key)
    assert second.status_code == 403
    assert second.json()["error_code"] == "QUOTA_EXCEEDED"
    assert second.json()["details"] == {"quota": "recordings", "limit": 1, "active": 1}
    # API_KEYS have no quota; a stopped recording frees the slot
    assert admin.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 2}).status_code == 202
    rid = first.json()["recording_id"]
    assert admin.post(f"/recordings/{rid}/stop").status_code == 202
    wait_finished(admin, rid, timeout=60)
    third = admin.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 1}, headers=key)
    assert third.status_code == 202, third.text
    wait_finished(admin, third.json()["recording_id"], timeout=60)

    assert admin.post("/watchers", json={"room_id": "111"}, headers=key).status_code == 202
    over = admin.post("/watchers", json={"room_id": "222"}, headers=key)
    assert over.status_code == 403
    assert over.json()["details"]["quota"] == "watchers"
    assert admin.delete("/watchers/111", headers=key).status_code == 200
    assert admin.post("/watchers", json={"room_id": "222"}, headers=key).status_code == 202


def test_invalid_keys_from_one_address_get_429_with_retry_after(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", scheduler_enabled=False, auth_failures_per_min=5)
    with TestClient(create_app(settings)) as client:
        answers = [client.get("/recordings", headers={"X-API-Key": f"guess-{n}"}).status_code for n in range(8)]
        assert answers == [403] * 5 + [429] * 3
        slowed = client.get("/recordings", headers=HEADERS)  # even a good key waits: the address is slowed
        assert slowed.status_code == 429
        assert slowed.json()["error_code"] == "TOO_MANY_AUTH_FAILURES"
        assert 1 <= int(slowed.headers["Retry-After"]) <= 60
        assert client.get("/healthz").status_code == 200


def test_the_keys_command_creates_lists_and_revokes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--scope", "read", "--name", "grafana", "--max-recordings", "2"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("lvk_")
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0
    assert "grafana" in listed.output
    assert secret not in listed.output
    prefix = secret.split("_")[1]
    assert "revoked" in runner.invoke(cli, ["keys", "revoke", prefix]).output
    assert runner.invoke(cli, ["keys", "create", "--scope", "root", "--name", "x"]).exit_code == 1
    settings = make_settings(tmp_path / "data", scheduler_enabled=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/recordings", headers={"X-API-Key": secret}).status_code == 403


def test_make_run_lets_a_page_and_a_poller_of_jobs_work_and_production_keeps_60(tmp_path: Path) -> None:
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    assert "RUN_RATE_LIMIT ?= 600" in makefile
    assert "RATE_LIMIT_PER_MIN=$${RATE_LIMIT_PER_MIN:-$(RUN_RATE_LIMIT)}" in makefile
    assert Settings.model_fields["rate_limit_per_min"].default == 60
    settings = make_settings(tmp_path / "data", scheduler_enabled=False, rate_limit_per_min=600)
    with TestClient(create_app(settings), headers=HEADERS) as client:
        task = client.post("/watchers", json={"room_id": "999"}).json()["task_id"]
        # a minute of polling once a second, plus the page's own requests every ten seconds
        answers = [client.get(f"/jobs/{task}").status_code for _ in range(60)]
        answers += [client.get(path).status_code for _ in range(6) for path in ("/recordings", "/watchers", "/files")]
        assert 429 not in answers
