"""Retention and disk through the API, the cleanup job and the CLI, on both databases, with real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.bootstrap import Container
from livevault.config import Settings
from livevault.db.repositories import RecordingRepository
from livevault.domain.recording import Recording, RecordingStatus
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import wait_finished, wait_until

NOW = datetime.now(UTC)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path / "data", database_url=database_url, scheduler_enabled=False, retention_days=30)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        yield api


def container_of(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def seed(client: TestClient, name: str, *, days: float, status: RecordingStatus = RecordingStatus.COMPLETED,
         size: int = 100, watcher: str | None = None) -> Recording:
    """A recording row with a real file of `size` bytes, finished `days` ago."""
    container = container_of(client)
    rid = f"{name}-{uuid.uuid4().hex[:8]}"
    when = NOW - timedelta(days=days)
    rel = None
    if status is RecordingStatus.COMPLETED:
        rel = f"seed/{rid}.mp4"
        path = container.settings.recordings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * size)
    recording = Recording(
        id=rid, source_kind="url", source=f"https://example.com/{rid}.m3u8", url=f"https://example.com/{rid}.m3u8",
        status=status, created_at=when, completed_at=when if rel else None, file_path=rel,
        file_size=size if rel else 0, watcher_key=watcher,
    )
    return container.db.run(lambda s: RecordingRepository(s).add(recording))


def exists(client: TestClient, recording: Recording) -> bool:
    return client.get(f"/recordings/{recording.id}").status_code == 200


def file_of(client: TestClient, recording: Recording) -> Path:
    assert recording.file_path
    return container_of(client).settings.recordings_dir / recording.file_path


def add_watcher(client: TestClient, name: str, **limits: Any) -> str:
    response = client.post("/watchers", json={"url": f"https://example.com/{name}.m3u8", **limits})
    assert response.status_code == 202, response.text
    key: str = response.json()["key"]
    shown = client.get(f"/watchers/{quote(key, safe='')}").json()
    for field, value in limits.items():
        assert shown[field] == value
    return key


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEVAULT_") and k != "DATABASE_URL"}
    env.update({"LIVEVAULT_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url,
                "LIVEVAULT_LOG_JSON": "false"})
    if settings.retention_days is not None:
        env["LIVEVAULT_RETENTION_DAYS"] = str(settings.retention_days)
    return subprocess.run([sys.executable, "-m", "livevault.cli.main", "retention", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_retention_deletes_only_unpinned_finished_recordings_past_the_policy(
    client: TestClient, settings: Settings
) -> None:
    old = seed(client, "old", days=40)
    old_failed = seed(client, "old-failed", days=40, status=RecordingStatus.FAILED)
    pinned = seed(client, "pinned", days=40)
    running = seed(client, "running", days=40, status=RecordingStatus.RECORDING)
    fresh = seed(client, "fresh", days=1)
    counted = add_watcher(client, "counted", max_recordings=2)
    by_count = [seed(client, f"count{i}", days=i + 1, watcher=counted) for i in range(4)]
    sized = add_watcher(client, "sized", max_bytes=250)
    by_size = [seed(client, f"size{i}", days=i + 1, watcher=sized, size=100) for i in range(3)]
    short = add_watcher(client, "short", retention_days=0.5)
    short_lived = seed(client, "short", days=1, watcher=short)
    long = add_watcher(client, "long", retention_days=90)
    long_lived = seed(client, "long", days=40, watcher=long)

    response = client.patch(f"/recordings/{pinned.id}", json={"pinned": True})
    assert response.status_code == 200, response.text
    assert response.json()["pinned"] is True
    assert client.patch(f"/recordings/{pinned.id}", json={"pinned": "yes"}).status_code == 422
    assert client.patch("/recordings/nope", json={"pinned": True}).status_code == 404

    doomed = {old.id, old_failed.id, by_count[2].id, by_count[3].id, by_size[2].id, short_lived.id}

    # Dry run from the CLI: the list and the reasons, nothing deleted.
    dry = cli(settings, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    reasons = {d["recording_id"]: d["reasons"] for d in report["decisions"]}
    assert set(reasons) == doomed
    assert "LIVEVAULT_RETENTION_DAYS" in reasons[old.id][0]
    assert "max_recordings" in reasons[by_count[3].id][0]
    assert "max_bytes" in reasons[by_size[2].id][0]
    assert "retention_days" in reasons[short_lived.id][0]
    assert report["done"] == []
    text = cli(settings, "--dry-run")
    assert text.returncode == 0, text.stderr
    assert f"{old.id}  would delete" in text.stdout
    assert "older than 30 days (LIVEVAULT_RETENTION_DAYS)" in text.stdout
    assert all(exists(client, r) for r in (old, old_failed, by_count[3]))
    assert file_of(client, old).exists()

    # The cleanup job.
    done = container_of(client).retention.run()
    assert set(done.done) == doomed
    assert done.freed_bytes == 100 * 5  # the failed recording had no file
    for recording in (old, old_failed, by_count[2], by_count[3], by_size[2], short_lived):
        assert not exists(client, recording), recording.id
    for recording in (old, by_count[3], short_lived):
        assert not file_of(client, recording).exists()
    kept = (pinned, running, fresh, by_count[0], by_count[1], by_size[0], by_size[1], long_lived)
    for recording in kept:
        assert exists(client, recording), recording.id
    for recording in kept:
        if recording.file_path:
            assert file_of(client, recording).exists()

    # Unpinned, it goes at the next run.
    assert client.patch(f"/recordings/{pinned.id}", json={"pinned": False}).json()["pinned"] is False
    assert container_of(client).retention.run().done == [pinned.id]
    assert container_of(client).retention.run().done == []
    metrics = client.get("/metrics").text
    assert 'livevault_retention_actions_total{action="delete"} 7.0' in metrics


def test_a_changed_watcher_limit_applies_at_the_next_run(client: TestClient) -> None:
    key = add_watcher(client, "changing")
    recordings = [seed(client, f"c{i}", days=i + 1, watcher=key) for i in range(3)]
    assert container_of(client).retention.run(dry_run=True).plan.decisions == []
    response = client.patch(f"/watchers/{quote(key, safe='')}", json={"max_recordings": 1})
    assert response.status_code == 200, response.text
    assert response.json()["max_recordings"] == 1
    assert set(container_of(client).retention.run().done) == {recordings[1].id, recordings[2].id}
    cleared = client.patch(f"/watchers/{quote(key, safe='')}", json={"max_recordings": None}).json()
    assert cleared["max_recordings"] is None


def test_the_embedded_cleanup_job_runs_by_itself(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", retention_days=1, retention_interval=1)
    with TestClient(create_app(settings)) as client:
        client.headers.update(HEADERS)
        old = seed(client, "old", days=2)
        wait_until(lambda: not exists(client, old), timeout=30)
        assert not file_of(client, old).exists()


@pytest.mark.live
def test_below_the_watermark_new_recordings_fail_and_a_running_one_finishes(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    settings = make_settings(tmp_path / "data", scheduler_enabled=False)
    with TestClient(create_app(settings)) as client:
        client.headers.update(HEADERS)
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["disk"]["accepting_recordings"] is True
        stream = stream_server.stream(f"disk-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
        running = client.post("/recordings", json={"url": stream.master_url, "duration": 8})
        assert running.status_code == 202, running.text
        rid = running.json()["recording_id"]
        wait_until(lambda: client.get(f"/recordings/{rid}").json()["status"] == "recording", timeout=30)

        # The watermark above the disk's real free space: the disk is "low" from now on.
        settings.min_free_bytes = shutil.disk_usage(settings.recordings_dir).total + 1
        other = stream_server.stream(f"disk-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
        refused = client.post("/recordings", json={"url": other.master_url, "duration": 5})
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["error_code"] == "DISK_FULL"
        assert "LIVEVAULT_MIN_FREE_BYTES" in body["message"]
        assert body["details"]["min_free_bytes"] == settings.min_free_bytes

        ready = client.get("/ready")
        assert ready.status_code == 503
        disk = ready.json()["checks"]["disk"]
        assert disk["ok"] is False
        assert disk["low"] is True
        assert disk["accepting_recordings"] is False
        assert "LIVEVAULT_MIN_FREE_BYTES" in disk["error"]
        metrics = client.get("/metrics").text
        assert "livevault_disk_low 1.0" in metrics
        assert 'livevault_recordings_refused_total{reason="disk_full"} 1.0' in metrics

        finished = wait_finished(client, rid, timeout=90)
        assert finished["status"] == "completed", finished
        assert finished["duration_seconds"] >= 5
        assert (settings.recordings_dir / finished["file_path"]).stat().st_size > 0

        settings.min_free_bytes = 0
        assert client.get("/ready").status_code == 200
        assert "livevault_disk_low 0.0" in client.get("/metrics").text
        again = client.post("/recordings", json={"url": other.master_url, "duration": 2})
        assert again.status_code == 202, again.text
        wait_finished(client, again.json()["recording_id"], timeout=90)


def test_retention_dry_run_cli_without_anything_to_do(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    result = cli(settings, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "nothing to delete" in result.stdout
    assert "disk:" in result.stdout
