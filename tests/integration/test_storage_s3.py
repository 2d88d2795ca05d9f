"""Delivery to S3 against a moto server over HTTP: uploads verified before the local copy goes, links,
outages and the retry schedule, unique files per recording, delete everywhere."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.bootstrap import Container
from livevault.config import Settings
from livevault.db.repositories import FileRepository
from livevault.db.session import create_engine_for, make_session_factory
from livevault.domain.files import FileState, Location
from livevault.services.uow import Database
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import wait_finished, wait_until
from tests.integration.storage_helpers import finished_recording, stored_files, video_of, wait_for
from tests.s3fixtures import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, S3rver, s3_overrides

PREFIX = "vault/"


def s3_settings(tmp_path: Path, server: MotoServer, bucket: str, **extra: Any) -> Settings:
    values = {
        "s3_key_prefix": PREFIX, "storage_sweep_interval": 0.3, "s3_retry_interval": 1.0,
        "s3_retry_max_interval": 2.0, "s3_retry_backoff": 0.2, "s3_upload_claim_ttl": 3.0, **extra,
    }
    return make_settings(tmp_path / "data", **s3_overrides(server, bucket, **values))


@pytest.fixture
def s3_api(tmp_path: Path, moto_server: MotoServer, s3_bucket: str) -> Iterator[TestClient]:
    with TestClient(create_app(s3_settings(tmp_path, moto_server, s3_bucket))) as client:
        client.headers.update(HEADERS)
        yield client


def container_of(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def job_of(client: TestClient, recording_id: str) -> dict[str, Any]:
    task_id = client.get(f"/recordings/{recording_id}").json()["task_id"]
    body: dict[str, Any] = client.get(f"/jobs/{task_id}").json()
    return body


def s3_entries(client: TestClient, recording_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (job_of(client, recording_id).get("result") or {}).get("s3") or []
    return entries


def uploaded(client: TestClient, recording_id: str) -> bool:
    files = stored_files(container_of(client), recording_id)
    return bool(files) and all(f.state is FileState.UPLOADED for f in files)


@pytest.mark.live
def test_recording_with_upload_s3_lands_under_its_template_key(
    s3_api: TestClient, moto_server: MotoServer, s3_bucket: str, stream_server: StreamServer
) -> None:
    stream = stream_server.stream(f"s3-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    response = s3_api.post("/recordings", json={
        "url": stream.playlist_url("hi"), "duration": 4, "title": "show",
        "output_template": "cams/{title}_{recording_id}.mp4", "options": {"upload_s3": True},
    })
    assert response.status_code == 202, response.text
    recording_id = response.json()["recording_id"]
    body = wait_finished(s3_api, recording_id, timeout=90)
    assert body["status"] == "completed"
    wait_for(lambda: uploaded(s3_api, recording_id), 60, what="the upload")

    container = container_of(s3_api)
    video = video_of(container, recording_id)
    key = f"{PREFIX}cams/show_{recording_id}.mp4"
    assert (video.bucket, video.key) == (s3_bucket, key)
    head = moto_server.client().head_object(Bucket=s3_bucket, Key=key)
    assert head["ContentLength"] == video.size == body["file_size"]
    assert head["ETag"].strip('"') == video.checksum  # the MD5 of the local file, taken at finalize
    local = container.settings.recordings_dir / video.local_path
    assert not local.exists()  # removed after the object was verified
    assert video.location is Location.S3

    job = job_of(s3_api, recording_id)
    assert job["error_code"] is None
    entries = {e["kind"]: e for e in job["result"]["s3"]}
    assert set(entries) == {"video", "thumbnail"}
    assert entries["video"]["bucket"] == s3_bucket
    assert entries["video"]["key"] == key
    assert entries["video"]["size"] == video.size
    assert entries["video"]["url"].endswith(key)
    thumb_key = entries["thumbnail"]["key"]
    assert moto_server.client().head_object(Bucket=s3_bucket, Key=thumb_key)["ContentLength"] > 0

    shown = s3_api.get(f"/recordings/{recording_id}").json()
    assert shown["location"] == "s3"
    files = s3_api.get("/files").json()["items"]
    assert [(f["recording_id"], f["location"], f["key"]) for f in files] == [(recording_id, "s3", key)]

    link = s3_api.get(f"/recordings/{recording_id}/url", params={"expires": 120}).json()
    assert link["kind"] == "presigned"
    data = httpx.get(link["url"], timeout=30).content  # plain HTTP, no API key
    assert hashlib.md5(data).hexdigest() == video.checksum
    redirect = s3_api.get(f"/recordings/{recording_id}/download", follow_redirects=False)
    assert redirect.status_code == 307
    assert httpx.get(redirect.headers["location"], timeout=30).content == data

    # moto does not enforce the expiry of presigned URLs (test_an_expired_presigned_url_is_refused shows it on
    # s3rver): here, check what the URL asks for.
    short = s3_api.get(f"/recordings/{recording_id}/url", params={"expires": 90}).json()
    query = parse_qs(urlsplit(short["url"]).query)
    assert query["X-Amz-Expires"] == ["90"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert s3_api.get(f"/recordings/{recording_id}/url", params={"expires": 8 * 24 * 3600}).status_code == 422


def test_s3_outage_keeps_the_file_and_the_retry_schedule_uploads_it(tmp_path: Path) -> None:
    server = MotoServer()
    server.start()
    try:
        bucket = "outage-bucket"
        server.create_bucket(bucket)
        settings = s3_settings(tmp_path, server, bucket, s3_retry_interval=2.0, s3_retry_max_interval=2.0)
        with TestClient(create_app(settings)) as client:
            client.headers.update(HEADERS)
            container = container_of(client)
            server.stop()
            recording_id, md5 = finished_recording(container, 300_000, options={"upload_s3": True})
            wait_for(lambda: video_of(container, recording_id).state is FileState.FAILED, 60, what="failure")
            video = video_of(container, recording_id)
            assert video.attempts == 3
            assert video.location is Location.LOCAL
            job = job_of(client, recording_id)
            assert job["status"] == "SUCCESS"
            assert job["error_code"] == "S3_UPLOAD_FAILED"
            assert job["result"]["s3"] == []
            download = client.get(f"/recordings/{recording_id}/download")
            assert download.status_code == 200
            assert hashlib.md5(download.content).hexdigest() == md5
            assert client.get(f"/recordings/{recording_id}").json()["location"] == "local"

            server.start()  # S3 is back (empty: moto keeps nothing); nobody asks for anything
            server.create_bucket(bucket)
            wait_for(lambda: uploaded(client, recording_id), 60, what="the scheduled retry")
            video = video_of(container, recording_id)
            head = server.client().head_object(Bucket=bucket, Key=video.key)
            assert head["ETag"].strip('"') == md5
            assert not (settings.recordings_dir / video.local_path).exists()
            job = job_of(client, recording_id)
            assert job["error_code"] is None
            assert {e["kind"] for e in job["result"]["s3"]} == {"video", "thumbnail"}
            metrics = client.get("/metrics").text
            assert 's3_uploads_total{status="success"}' in metrics
            assert 's3_uploads_total{status="failed"}' in metrics
            assert "s3_upload_backlog_files 0.0" in metrics
    finally:
        server.stop()


def test_same_rendered_name_gives_two_files_and_delete_spares_the_other(
    s3_api: TestClient, moto_server: MotoServer, s3_bucket: str
) -> None:
    container = container_of(s3_api)
    options = {"upload_s3": True, "keep_local": True}
    first, first_md5 = finished_recording(container, 10_000, template="same/name.mp4", options=options)
    second, second_md5 = finished_recording(container, 10_000, template="same/name.mp4", options=options)
    wait_for(lambda: uploaded(s3_api, first) and uploaded(s3_api, second), 30, what="both uploads")
    a, b = video_of(container, first), video_of(container, second)
    assert (a.local_path, b.local_path) == ("same/name.mp4", "same/name-1.mp4")
    assert a.key != b.key
    assert a.location is Location.BOTH

    assert s3_api.delete(f"/recordings/{first}").status_code == 204
    assert s3_api.get(f"/recordings/{first}").status_code == 404
    assert s3_api.delete(f"/recordings/{first}").status_code == 404
    s3 = moto_server.client()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])}
    assert keys == {b.key, b.key.replace(".mp4", ".jpg")}
    root = container.settings.recordings_dir
    assert not (root / a.local_path).exists()
    assert hashlib.md5((root / b.local_path).read_bytes()).hexdigest() == second_md5
    download = s3_api.get(f"/recordings/{second}/download")
    assert hashlib.md5(download.content).hexdigest() == second_md5
    del first_md5


def test_signed_local_link_opens_without_a_key(api: TestClient) -> None:
    container = container_of(api)
    recording_id, md5 = finished_recording(container, 5_000)
    assert video_of(container, recording_id).state is FileState.LOCAL
    link = api.get(f"/recordings/{recording_id}/url", params={"expires": 60}).json()
    assert link["kind"] == "signed"
    assert link["location"] == "local"
    anonymous = TestClient(api.app)
    response = anonymous.get(link["url"])
    assert response.status_code == 200
    assert hashlib.md5(response.content).hexdigest() == md5
    assert anonymous.get(link["url"].replace("signature=", "signature=0")).status_code == 401
    assert anonymous.get(f"/recordings/{recording_id}/download").status_code == 401
    short = api.get(f"/recordings/{recording_id}/url", params={"expires": 1}).json()
    time.sleep(2.1)
    assert anonymous.get(short["url"]).status_code == 401


@pytest.mark.slow
def test_sigkill_during_multipart_upload_resumes_from_finished_parts(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    size = 64 * 1024 * 1024 + 12345
    part = 5 * 1024 * 1024
    total_parts = -(-size // part)  # 13
    overrides = {
        "s3_endpoint_url": moto_server.url, "s3_bucket": s3_bucket, "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY, "aws_region": REGION, "s3_force_path_style": True,
        "s3_key_prefix": PREFIX, "s3_multipart_threshold": part, "s3_part_size": part, "s3_upload_claim_ttl": 3.0,
        "storage_sweep_interval": 0.3,
    }
    data_dir = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.upload_child", str(data_dir), str(size), json.dumps(overrides)],
        stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        started = json.loads(child.stdout.readline())
        recording_id, md5 = started["id"], started["md5"]
        settings = make_settings(data_dir, **overrides)
        engine = create_engine_for(settings.database_url)
        db = Database(make_session_factory(engine))
        try:
            def parts_done() -> int:
                files = db.run(lambda s: FileRepository(s).for_recording(recording_id))
                return len(files[0].parts) if files else 0

            wait_for(lambda: parts_done() >= 2, 60, interval=0.01, what="two finished parts")
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            video = db.run(lambda s: FileRepository(s).for_recording(recording_id))[0]
        finally:
            engine.dispose()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert video.state is FileState.UPLOADING
    assert video.upload_id is not None
    s3 = moto_server.client()
    held = s3.list_parts(Bucket=s3_bucket, Key=video.key, UploadId=video.upload_id).get("Parts", [])
    assert 2 <= len(held) < total_parts, "the kill must land in the middle of the upload"
    local = settings.recordings_dir / video.local_path
    assert local.stat().st_size == size  # nothing is lost while the upload is unfinished

    with TestClient(create_app(settings)) as client:  # the restart: its retry schedule takes the upload over
        client.headers.update(HEADERS)
        wait_for(lambda: uploaded(client, recording_id), 120, what="the resumed upload")
        sent = container_of(client).metrics.s3_upload_parts._value.get()
    assert sent == total_parts - len(held)  # only the parts the server did not hold were sent again
    objects = s3.list_objects_v2(Bucket=s3_bucket, Prefix=PREFIX).get("Contents", [])
    assert [o["Key"] for o in objects] == [video.key]  # one object
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    body = s3.get_object(Bucket=s3_bucket, Key=video.key)["Body"].read()
    assert len(body) == size
    assert hashlib.md5(body).hexdigest() == md5
    assert not local.exists()  # removed only now, after the verified upload


def test_delete_during_an_outage_is_finished_by_the_retry_schedule(tmp_path: Path) -> None:
    server = MotoServer()
    server.start()
    try:
        bucket = "delete-bucket"
        server.create_bucket(bucket)
        settings = s3_settings(tmp_path, server, bucket, s3_retry_interval=5.0)  # the stand-in goes in first
        with TestClient(create_app(settings)) as client:
            client.headers.update(HEADERS)
            container = container_of(client)
            recording_id, _ = finished_recording(container, 20_000, options={"upload_s3": True, "keep_local": True})
            wait_for(lambda: uploaded(client, recording_id), 30, what="the upload")
            video = video_of(container, recording_id)
            server.stop()
            response = client.delete(f"/recordings/{recording_id}")
            assert response.status_code == 503
            assert response.json()["error_code"] == "STORAGE_UNAVAILABLE"
            shown = client.get(f"/recordings/{recording_id}").json()  # still there, pointing at what still exists
            assert {f["state"] for f in shown["files"]} == {"deleting"}
            assert (settings.recordings_dir / video.local_path).exists()

            server.start()
            server.create_bucket(bucket)
            server.client().put_object(Bucket=bucket, Key=video.key or "", Body=b"stand-in")
            wait_for(lambda: client.get(f"/recordings/{recording_id}").status_code == 404, 30,
                     what="the scheduled delete")
            assert server.client().list_objects_v2(Bucket=bucket).get("Contents", []) == []
            assert not (settings.recordings_dir / video.local_path).exists()
    finally:
        server.stop()


def test_a_second_finalize_of_the_same_recording_reuses_its_claimed_name(s3_api: TestClient) -> None:
    container = container_of(s3_api)
    recording_id, _ = finished_recording(container, 1_000, template="again/{title}.mp4")
    recording = container.recordings.get(recording_id)
    other, _ = finished_recording(container, 1_000, template="again/{title}.mp4")
    first = container.storage.claim_output(recording, piece=1)
    assert container.storage.claim_output(recording, piece=1) == first  # a retried finalize writes it again
    assert first.name == "show_p001.mp4"
    assert video_of(container, other).local_path == "again/show-1.mp4"


@pytest.mark.live
def test_split_pieces_are_uploaded_while_the_stream_is_still_live(
    s3_api: TestClient, moto_server: MotoServer, s3_bucket: str, stream_server: Any
) -> None:
    stream = stream_server.stream(f"su-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    accepted = s3_api.post("/recordings", json={
        "url": stream.playlist_url("hi"), "duration": 24, "options": {"upload_s3": True, "split_every": 6},
    }).json()
    recording_id = accepted["recording_id"]

    def first_piece_stored() -> bool:
        return any(e.get("piece") == 1 and e.get("kind") == "video" for e in s3_entries(s3_api, recording_id))

    wait_until(first_piece_stored, timeout=60, interval=0.5)
    assert s3_api.get(f"/recordings/{recording_id}").json()["status"] == "recording", \
        "the first piece must be in the bucket while the stream is still live"
    entry = next(e for e in s3_entries(s3_api, recording_id) if e.get("piece") == 1 and e.get("kind") == "video")
    head = moto_server.client().head_object(Bucket=s3_bucket, Key=entry["key"])
    assert head["ContentLength"] == entry["size"]

    body = wait_finished(s3_api, recording_id, timeout=120)
    assert body["status"] == "completed", body
    wait_until(lambda: len([e for e in s3_entries(s3_api, recording_id) if e.get("kind") == "video"])
               == len(body["pieces"]), timeout=60)


@pytest.mark.live
def test_an_expired_presigned_url_is_refused(tmp_path: Path, s3rver: S3rver, stream_server: StreamServer) -> None:
    """moto does not check X-Amz-Expires; s3rver (another S3 API server, over HTTP) does, as AWS, MinIO and R2
    do. A recording uploaded there: its link returns the exact bytes, and the same link once expired is refused."""
    bucket = f"lv-{uuid.uuid4().hex[:10]}"
    s3rver.client().create_bucket(Bucket=bucket)
    values = {"storage_sweep_interval": 0.3, "s3_retry_interval": 1.0, "s3_retry_backoff": 0.2}
    settings = make_settings(tmp_path / "data", **s3rver.overrides(bucket, **values))
    stream = stream_server.stream(f"s3x-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    with TestClient(create_app(settings)) as api:
        api.headers.update(HEADERS)
        created = api.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 3,
                                                 "options": {"upload_s3": True}})
        assert created.status_code == 202, created.text
        recording_id = created.json()["recording_id"]
        assert wait_finished(api, recording_id, timeout=90)["status"] == "completed"
        wait_for(lambda: uploaded(api, recording_id), 60, what="the upload")
        video = video_of(container_of(api), recording_id)
        link = api.get(f"/recordings/{recording_id}/url", params={"expires": 2}).json()
    assert link["kind"] == "presigned"
    fresh = httpx.get(link["url"], timeout=30)
    assert fresh.status_code == 200
    assert hashlib.md5(fresh.content).hexdigest() == video.checksum
    time.sleep(3.5)  # X-Amz-Date has one-second resolution: 2 s of validity are over after at most 3 s
    expired = httpx.get(link["url"], timeout=30)
    assert expired.status_code == 403, expired.text
    assert "Request has expired" in expired.text


def test_an_sse_kms_object_is_verified_by_its_size_since_its_etag_is_no_md5(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str
) -> None:
    from livevault.storage.base import StoreError, verify
    from livevault.storage.s3 import S3Config, S3Store

    client = moto_server.client()
    client.put_bucket_encryption(Bucket=s3_bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/livevault"}}]})
    store = S3Store(S3Config(bucket=s3_bucket, endpoint_url=moto_server.url, access_key_id=ACCESS_KEY,
                             secret_access_key=SECRET_KEY, region=REGION, force_path_style=True))
    source = tmp_path / "a.mp4"
    source.write_bytes(b"\x00" * 4096)
    sent = store.put_file("a.mp4", source)
    info = store.stat("a.mp4")
    assert info is not None
    assert client.head_object(Bucket=s3_bucket, Key="a.mp4")["ServerSideEncryption"] == "aws:kms"
    assert not info.etag_is_md5
    # AWS gives such objects an ETag that is no MD5: only the size can be compared (Content-MD5 was checked).
    assert verify(store, "a.mp4", dataclasses.replace(sent, etag="0" * 32)) is not None
    with pytest.raises(StoreError):
        verify(store, "a.mp4", dataclasses.replace(sent, size=sent.size + 1))
