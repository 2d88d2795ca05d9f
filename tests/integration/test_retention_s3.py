"""Retention with S3 (a moto server over HTTP): under disk pressure the local copy of an uploaded recording
goes first and the recording stays downloadable from the bucket; a recording past the policy is deleted in
the bucket and on disk; a recording whose only copy is local is never touched for disk space."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.bootstrap import Container
from livevault.db.repositories import RecordingRepository
from livevault.domain.files import FileState, Location
from livevault.services.record import utcnow
from tests.conftest import HEADERS, make_settings
from tests.integration.storage_helpers import finished_recording, stored_files, video_of, wait_for
from tests.s3fixtures import MotoServer, s3_overrides


@pytest.fixture
def client(tmp_path: Path, moto_server: MotoServer, s3_bucket: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", scheduler_enabled=False, **s3_overrides(
        moto_server, s3_bucket, storage_sweep_interval=0.3, s3_retry_interval=1.0, s3_retry_backoff=0.2))
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        yield api


def container_of(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def objects(moto_server: MotoServer, bucket: str) -> set[str]:
    return {o["Key"] for o in moto_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_disk_pressure_drops_uploaded_local_copies_first_and_retention_deletes_in_s3(
    client: TestClient, moto_server: MotoServer, s3_bucket: str
) -> None:
    container = container_of(client)
    settings = container.settings
    uploaded, _md5 = finished_recording(container, 4096, options={"upload_s3": True, "keep_local": True})
    local_only, _ = finished_recording(container, 4096)
    wait_for(lambda: all(f.state is FileState.UPLOADED for f in stored_files(container, uploaded)), 60,
             what="the upload")
    video = video_of(container, uploaded)
    assert video.location is Location.BOTH
    local_path = settings.recordings_dir / video.local_path
    assert local_path.exists()

    # The disk is "low" (the watermark above its real size): the uploaded recording's local copy goes first.
    settings.min_free_bytes = shutil.disk_usage(settings.recordings_dir).total + 1
    dry = container.retention.run(dry_run=True)
    assert [(d.recording_id, d.action.value) for d in dry.plan.decisions] == [(uploaded, "drop_local")]
    assert "verified remote copy" in dry.plan.decisions[0].reasons[0]
    report = container.retention.run()
    assert report.done == [uploaded]
    assert not local_path.exists()
    assert video_of(container, uploaded).location is Location.S3
    assert client.get(f"/recordings/{uploaded}").json()["location"] == "s3"
    redirect = client.get(f"/recordings/{uploaded}/download", follow_redirects=False)
    assert redirect.status_code == 307  # still downloadable, from the bucket
    local_video = video_of(container, local_only)
    assert (settings.recordings_dir / local_video.local_path).exists()  # its only copy: never dropped
    assert container.retention.run().done == []
    settings.min_free_bytes = 0

    # Past the retention days: deleted in the bucket and on disk.
    old = utcnow() - timedelta(days=40)
    for rid in (uploaded, local_only):
        container.db.run(lambda s, rid=rid: RecordingRepository(s).update(rid, created_at=old, completed_at=old))
    assert any(key.endswith(".mp4") for key in objects(moto_server, s3_bucket))
    settings.retention_days = 30
    assert sorted(container.retention.run().done) == sorted([uploaded, local_only])
    assert objects(moto_server, s3_bucket) == set()
    assert not (settings.recordings_dir / local_video.local_path).exists()
    for rid in (uploaded, local_only):
        assert client.get(f"/recordings/{rid}").status_code == 404
