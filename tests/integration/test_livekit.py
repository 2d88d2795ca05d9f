"""LiveKit room recording against the fake LiveKit (Twirp + signed webhooks) and moto's S3 server, both over HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from livevault.config import Settings
from tests.conftest import make_settings
from tests.fakes.livekit import FAKE_API_KEY, FAKE_API_SECRET, FakeLiveKit
from tests.integration.helpers import wait_until
from tests.s3fixtures import MotoServer, s3_overrides
from tests.served import served


def _settings(tmp_path: Path, lk: FakeLiveKit, moto: MotoServer, bucket: str, **extra: Any) -> Settings:
    return make_settings(
        tmp_path / "data", livekit_host=lk.url, livekit_api_key=FAKE_API_KEY, livekit_api_secret=FAKE_API_SECRET,
        livekit_reconcile_interval=1.0, **s3_overrides(moto, bucket), **extra,
    )


def _wait_status(api: httpx.Client, recording_id: str, wanted: set[str], timeout: float = 30.0) -> dict[str, Any]:
    body: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal body
        body = api.get(f"/recordings/{recording_id}").json()
        return body["status"] in wanted

    wait_until(reached, timeout=timeout, interval=0.2)
    return body


@pytest.fixture
def livekit() -> Any:
    lk = FakeLiveKit()
    with lk:
        yield lk


def _connect(lk: FakeLiveKit, api: httpx.Client) -> None:
    lk.webhook_url = f"{api.base_url}/webhooks/livekit"


def test_start_active_stop_ready_with_the_file_in_the_bucket(
    tmp_path: Path, livekit: FakeLiveKit, moto_server: MotoServer, s3_bucket: str
) -> None:
    with served(_settings(tmp_path, livekit, moto_server, s3_bucket)) as api:
        _connect(livekit, api)
        accepted = api.post("/recordings", json={"source": "livekit", "room": "demo-room", "layout": "grid"})
        assert accepted.status_code == 202, accepted.text
        rid = accepted.json()["recording_id"]
        assert _wait_status(api, rid, {"recording"})["source_kind"] == "livekit"
        assert ("egress_started", 200) in livekit.webhooks_sent
        time.sleep(2.0)
        assert api.post(f"/recordings/{rid}/stop").status_code == 202
        body = _wait_status(api, rid, {"completed", "failed"})
        assert body["status"] == "completed", body
        assert body["file_size"] > 0
        assert 1.0 <= body["duration_seconds"] <= 10.0
        assert body["video_codec"] == "h264"

        job = api.get(f"/jobs/{accepted.json()['task_id']}").json()
        assert job["status"] == "SUCCESS"
        (entry,) = job["result"]["s3"]
        assert entry["bucket"] == s3_bucket
        assert entry["key"].startswith("recordings/demo-room/")
        assert entry["key"].endswith(".mp4")
        head = moto_server.client().head_object(Bucket=s3_bucket, Key=entry["key"])
        assert head["ContentLength"] == body["file_size"] == entry["size"]

        rooms = api.get("/api/v1/rooms/demo-room/recordings/").json()
        assert [r["status"] for r in rooms] == ["ready"]
        ready = rooms[0]
        assert ready["recording_id"].startswith("EG_")
        assert ready["file_size_bytes"] == body["file_size"]
        data = httpx.get(ready["download_url"]).content
        assert data == moto_server.client().get_object(Bucket=s3_bucket, Key=entry["key"])["Body"].read()
        assert ready["thumbnail_url"]
        thumb = httpx.get(ready["thumbnail_url"])
        assert thumb.status_code == 200
        assert thumb.content[:2] == b"\xff\xd8"  # a JPEG

        link = api.get(f"/recordings/{rid}/url", params={"expires": 60}).json()
        assert httpx.get(link["url"]).content == data
        download = api.get(f"/recordings/{rid}/download", follow_redirects=False)
        assert download.status_code == 307

        assert api.delete(f"/recordings/{rid}").status_code == 204
        listed = moto_server.client().list_objects_v2(Bucket=s3_bucket, Prefix="recordings/demo-room/")
        assert listed.get("KeyCount", 0) == 0, "the video and its thumbnail are deleted from the bucket"
        assert api.get(f"/recordings/{rid}").status_code == 404


def test_the_room_routes_speak_the_room_recorder_bodies(
    tmp_path: Path, livekit: FakeLiveKit, moto_server: MotoServer, s3_bucket: str
) -> None:
    with served(_settings(tmp_path, livekit, moto_server, s3_bucket)) as api:
        _connect(livekit, api)
        started = api.post("/api/v1/rooms/team-sync/start-recording/",
                           json={"layout": "speaker", "file_format": "mp4", "audio_only": False})
        assert started.status_code == 201, started.text
        body = started.json()
        assert set(body) == {"recording_id", "status", "message", "recording"}
        assert body["status"] in {"starting", "active"}
        assert body["message"] == "Recording started successfully."
        assert body["recording_id"].startswith("EG_")
        assert api.post("/api/v1/rooms/team-sync/start-recording/", json={}).status_code == 409
        wait_until(lambda: api.get("/api/v1/rooms/team-sync/recordings/").json()[0]["status"] == "active")
        time.sleep(1.5)
        stopped = api.post("/api/v1/rooms/team-sync/stop-recording/")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["status"] == "stopping"
        assert stopped.json()["message"] == "Recording stopped successfully."
        wait_until(lambda: api.get("/api/v1/rooms/team-sync/recordings/").json()[0]["status"] == "ready", timeout=30)
        (item,) = api.get("/api/v1/rooms/team-sync/recordings/").json()
        assert item["duration_seconds"] >= 1
        assert item["duration_formatted"]
        assert item["file_format"] == "mp4"
        assert api.post("/api/v1/rooms/team-sync/stop-recording/").status_code == 404
        signed = {"download_url", "thumbnail_url"}  # presigned: their signature time differs between two calls
        again = api.get("/rooms/team-sync/recordings").json()
        assert [{k: v for k, v in r.items() if k not in signed} for r in again] == [
            {k: v for k, v in item.items() if k not in signed}]
        webm = api.post("/api/v1/rooms/x/start-recording/", json={"file_format": "webm"})
        assert webm.status_code == 400
        assert webm.json()["error_code"] == "UNSUPPORTED_OUTPUT_FORMAT"
        assert api.get("/api/v1/rooms/x/recordings/").json() == []


def test_webhooks_must_be_signed_and_are_idempotent(
    tmp_path: Path, livekit: FakeLiveKit, moto_server: MotoServer, s3_bucket: str
) -> None:
    livekit.scenario("dup-room", duplicate={"egress_ended", "egress_started"})
    with served(_settings(tmp_path, livekit, moto_server, s3_bucket)) as api:
        _connect(livekit, api)
        rid = api.post("/recordings", json={"source": "livekit", "room": "dup-room"}).json()["recording_id"]
        _wait_status(api, rid, {"recording"})
        time.sleep(1.0)
        api.post(f"/recordings/{rid}/stop")
        done = _wait_status(api, rid, {"completed", "failed"})
        wait_until(lambda: sum(1 for e, s in livekit.webhooks_sent if e == "egress_ended" and s == 200) == 2)
        time.sleep(0.5)
        again = api.get(f"/recordings/{rid}").json()
        assert again == done, "a repeated egress_ended changes nothing"

        body = '{"event":"egress_ended","id":"EV_x","egressInfo":{"egressId":"EG_nope","roomName":"dup-room"}}'
        headers = livekit.signed_headers(body)
        assert httpx.post(f"{api.base_url}/webhooks/livekit", content=body, headers=headers).json()["outcome"] \
            == "unknown_egress"
        changed = body.replace("EG_nope", "EG_evil")
        refused = httpx.post(f"{api.base_url}/webhooks/livekit", content=changed, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error_code"] == "INVALID_SIGNATURE"
        forged = FakeLiveKit(api_secret="not-the-secret-not-the-secret-not-the-secret")
        bad = httpx.post(f"{api.base_url}/webhooks/livekit", content=body, headers=forged.signed_headers(body))
        assert bad.status_code == 401
        unsigned = httpx.post(f"{api.base_url}/webhooks/livekit", content=body,
                              headers={"Content-Type": "application/webhook+json"})
        assert unsigned.status_code == 401


def test_a_lost_egress_ended_is_recovered_by_the_poll(
    tmp_path: Path, livekit: FakeLiveKit, moto_server: MotoServer, s3_bucket: str
) -> None:
    livekit.scenario("lossy", lose={"egress_ended", "egress_started"})
    with served(_settings(tmp_path, livekit, moto_server, s3_bucket)) as api:
        _connect(livekit, api)
        rid = api.post("/recordings", json={"source": "livekit", "room": "lossy"}).json()["recording_id"]
        _wait_status(api, rid, {"recording"}, timeout=10)  # from ListEgress, not from a webhook
        api.post(f"/recordings/{rid}/stop")
        body = _wait_status(api, rid, {"completed", "failed"}, timeout=30)
        assert body["status"] == "completed", body
        assert all(status == 0 for _, status in livekit.webhooks_sent), "no webhook was delivered at all"


def test_a_failed_egress_fails_the_recording_with_livekits_message(
    tmp_path: Path, livekit: FakeLiveKit, moto_server: MotoServer, s3_bucket: str
) -> None:
    livekit.scenario("broken", fail_with="Start signal not received")
    with served(_settings(tmp_path, livekit, moto_server, s3_bucket)) as api:
        _connect(livekit, api)
        accepted = api.post("/recordings", json={"source": "livekit", "room": "broken"}).json()
        _wait_status(api, accepted["recording_id"], {"recording"})
        api.post(f"/recordings/{accepted['recording_id']}/stop")
        body = _wait_status(api, accepted["recording_id"], {"completed", "failed"})
        assert body["status"] == "failed"
        assert body["error_code"] == "LIVEKIT_EGRESS_FAILED"
        assert body["error_message"] == "Start signal not received"
        job = api.get(f"/jobs/{accepted['task_id']}").json()
        assert job["status"] == "FAILURE"
        assert job["error_code"] == "LIVEKIT_EGRESS_FAILED"


def test_without_livekit_settings_a_room_recording_is_refused_clearly(tmp_path: Path) -> None:
    with served(make_settings(tmp_path / "data")) as api:
        refused = api.post("/recordings", json={"source": "livekit", "room": "demo"})
        assert refused.status_code == 503
        assert refused.json()["error_code"] == "LIVEKIT_NOT_CONFIGURED"
        assert api.post("/recordings", json={"source": "livekit", "room": "../etc"}).status_code in {400, 503}
