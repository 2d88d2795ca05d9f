"""Outbound notifications against a real receiver: signed, in order, once per event, retried, kept when failed."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.bootstrap import build_container
from livevault.errors import InvalidInput
from livevault.services.notify.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS, make_settings
from tests.fakes.receiver import Receiver, free_port
from tests.integration.helpers import wait_finished, wait_until

SECRET = "notify-secret-for-tests"
FAST_RETRIES = {"notify_retry_base": 0.2, "notify_retry_max": 0.5, "webhook_secret": SECRET}


def _client(tmp_path: Path, **overrides: Any) -> TestClient:
    client = TestClient(create_app(make_settings(tmp_path / "data", **FAST_RETRIES, **overrides)))
    client.headers.update(HEADERS)
    return client


def _types(received: list[Any]) -> list[str]:
    return [r.event["type"] for r in received]


def _signed(r: Any) -> bool:
    return verify(SECRET, r.headers[TIMESTAMP_HEADER], r.body, r.headers[SIGNATURE_HEADER])


@pytest.mark.live
def test_a_recording_is_announced_signed_in_order_once_after_two_refusals(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    stream = stream_server.stream(f"n-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    with Receiver(answers=[500, 500]) as receiver, _client(tmp_path, webhook_urls=receiver.url) as api:
        accepted = api.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 4}).json()
        body = wait_finished(api, accepted["recording_id"], timeout=90)
        assert body["status"] == "completed"
        wait_until(lambda: "recording.completed" in _types(receiver.accepted()), timeout=30)

        assert [r.status for r in receiver.requests[:2]] == [500, 500]
        delivered = receiver.accepted()
        assert _types(delivered) == ["recording.started", "recording.completed"]
        ids = [r.event["id"] for r in delivered]
        assert len(set(ids)) == len(ids), "each event delivered once"
        assert all(_signed(r) for r in receiver.requests), "every attempt is signed"
        assert all(r.headers["X-Livevault-Event-Id"] == r.event["id"] for r in delivered)
        completed = delivered[-1].event
        assert completed["data"]["recording"]["id"] == accepted["recording_id"]
        assert completed["data"]["recording"]["status"] == "completed"
        assert completed["data"]["recording"]["file_path"] == body["file_path"]
        assert completed["data"]["files"]
        assert completed["data"]["end_reason"] == "duration"
        assert "options" not in completed["data"]["recording"], "options may hold secrets"

        listed = api.get("/notifications", params={"recording_id": accepted["recording_id"]}).json()
        assert {i["status"] for i in listed["items"]} == {"delivered"}
        assert max(i["attempts"] for i in listed["items"]) == 3  # the first event took 500, 500, 200


@pytest.mark.live
def test_retries_come_when_due_not_at_the_next_database_look(tmp_path: Path, stream_server: StreamServer) -> None:
    # Given a service that looks in the database for others' work only once a minute
    stream = stream_server.stream(f"r-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    with Receiver(answers=[500, 500]) as receiver, \
            _client(tmp_path, webhook_urls=receiver.url, background_poll=60) as api:
        # When its first event is refused twice
        accepted = api.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 2}).json()
        wait_until(lambda: len(receiver.accepted()) >= 1, timeout=30)
        # Then it was sent at once, and each retry came after its short backoff (at most 0.5 s here)
        first, second, third = receiver.requests[:3]
        assert [first.status, second.status, third.status] == [500, 500, 200]
        assert second.at - first.at < 3
        assert third.at - second.at < 3
        assert third.event["data"]["recording"]["id"] == accepted["recording_id"]


def test_a_receiver_down_for_the_whole_budget_leaves_a_failed_delivery_that_can_be_retried(tmp_path: Path) -> None:
    port = free_port()
    receiver = Receiver(port=port)
    with _client(tmp_path, webhook_urls=receiver.url, notify_max_attempts=3, playlist_grace=1.0) as api:
        # Nothing listens on the stream's port either: the recording fails at once and says so.
        dead = f"http://127.0.0.1:{free_port()}/live/none/index.m3u8"
        accepted = api.post("/recordings", json={"url": dead, "duration": 5}).json()
        assert wait_finished(api, accepted["recording_id"], timeout=60)["status"] == "failed"

        def failed() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = api.get("/notifications", params={"status": "failed"}).json()["items"]
            return items

        wait_until(lambda: len(failed()) == 2, timeout=30)
        items = sorted(failed(), key=lambda i: i["created_at"])
        assert [i["event_type"] for i in items] == ["recording.started", "recording.failed"]
        assert all(i["attempts"] == 3 for i in items)
        assert all(i["last_error"].startswith("connection failed") for i in items)
        for item in reversed(items):  # re-queued in any order, still delivered in the order they happened
            assert api.post(f"/notifications/{item['id']}/retry").status_code == 202
        assert api.post(f"/notifications/{items[0]['id']}/retry").status_code == 409  # pending now, not failed

        with receiver:
            wait_until(lambda: len(receiver.accepted()) == 2, timeout=30)
            wait_until(lambda: {api.get(f"/notifications/{i['id']}").json()["status"] for i in items}
                       == {"delivered"}, timeout=30)
        events = [r.event for r in receiver.accepted()]
        assert [e["type"] for e in events] == ["recording.started", "recording.failed"]
        assert events[1]["data"]["recording"]["error_code"]
        assert all(_signed(r) for r in receiver.accepted())
        assert Counter(e["id"] for e in events) == {e["id"]: 1 for e in events}


def test_a_read_key_cannot_retry_and_unknown_ids_are_404(api: TestClient) -> None:
    assert api.get("/notifications/nope").status_code == 404
    assert api.post("/notifications/nope/retry").status_code == 404
    assert api.get("/notifications", params={"status": "bogus"}).status_code == 422


@pytest.mark.live
def test_a_watcher_announces_that_it_went_live(tmp_path: Path, stream_server: StreamServer) -> None:
    stream = stream_server.stream(f"w-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    with Receiver() as receiver, _client(tmp_path) as api:
        created = api.post("/watchers", json={
            "url": stream.playlist_url("hi"), "poll_interval": 30,
            "options": {"notify_url": receiver.url, "max_duration": 3},
        })
        assert created.status_code == 202, created.text
        wait_until(lambda: "recording.completed" in _types(receiver.accepted()), timeout=60)
        kinds = _types(receiver.accepted())
        assert kinds[0] == "watcher.live"
        assert kinds.index("recording.started") < kinds.index("recording.completed")
        live = receiver.accepted()[0].event
        assert live["data"]["watcher"]["key"]
        assert live["data"]["recording_id"]


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:6379/",
    "http://10.0.0.5/hook",
    "http://[::1]/hook",
    "http://0x7f000001/hook",
    "file:///etc/passwd",
])
def test_a_notification_target_on_a_private_address_is_refused_like_a_source(tmp_path: Path, target: str) -> None:
    with _client(tmp_path, allow_private_sources=False) as api:
        public = "http://93.184.216.34/live/index.m3u8"
        for path, body in (
            ("/recordings", {"url": public, "options": {"notify_url": target}}),
            ("/watchers", {"url": public, "options": {"notify_url": target}}),
        ):
            response = api.post(path, json=body)
            assert response.status_code == 400, response.text
            assert response.json()["error_code"] in {"INVALID_URL", "ADDRESS_NOT_ALLOWED"}
        assert api.get("/recordings").json()["total"] == 0


async def test_a_private_address_in_webhook_urls_stops_start_up(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", allow_private_sources=False,
                             webhook_urls="https://hooks.example.net/a,http://169.254.169.254/")
    with pytest.raises(InvalidInput, match="LIVEVAULT_WEBHOOK_URLS"):
        build_container(settings)


def test_signatures_cover_the_timestamp_and_the_body() -> None:
    from livevault.services.notify.signing import sign

    stamp = int(time.time())
    signature = sign("k", stamp, b'{"a":1}')
    assert verify("k", str(stamp), b'{"a":1}', signature)
    assert not verify("k", str(stamp + 1), b'{"a":1}', signature)
    assert not verify("k", str(stamp), b'{"a":2}', signature)
    assert not verify("other", str(stamp), b'{"a":1}', signature)
    assert not verify("k", "not-a-number", b'{"a":1}', signature)


@pytest.mark.live
def test_completed_waits_for_the_upload_and_carries_the_object(
    tmp_path: Path, stream_server: StreamServer, moto_server: Any, s3_bucket: str
) -> None:
    from tests.s3fixtures import s3_overrides

    stream = stream_server.stream(f"u-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    with Receiver() as receiver, _client(tmp_path, webhook_urls=receiver.url,
                                         **s3_overrides(moto_server, s3_bucket)) as api:
        accepted = api.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 3,
                                                 "options": {"upload_s3": True}}).json()
        wait_finished(api, accepted["recording_id"], timeout=90)
        wait_until(lambda: "recording.completed" in _types(receiver.accepted()), timeout=60)
        completed = next(r.event for r in receiver.accepted() if r.event["type"] == "recording.completed")
        keys = {entry["key"] for entry in completed["data"]["s3"]}
        assert any(key.endswith(".mp4") for key in keys), completed["data"]
        for key in keys:
            moto_server.client().head_object(Bucket=s3_bucket, Key=key)  # stored before it was announced
        time.sleep(1.0)
        assert _types(receiver.accepted()).count("recording.completed") == 1


@pytest.mark.live
def test_a_split_uploaded_recording_announces_every_piece_then_completes_in_order(
    tmp_path: Path, stream_server: StreamServer, moto_server: Any, s3_bucket: str
) -> None:
    from tests.s3fixtures import s3_overrides

    stream = stream_server.stream(f"p-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    with Receiver(answers=[500, 500]) as receiver, _client(tmp_path, webhook_urls=receiver.url,
                                                           **s3_overrides(moto_server, s3_bucket)) as api:
        accepted = api.post("/recordings", json={
            "url": stream.playlist_url("hi"), "duration": 16, "options": {"upload_s3": True, "split_every": 5},
        }).json()
        body = wait_finished(api, accepted["recording_id"], timeout=120)
        assert body["status"] == "completed", body
        wait_until(lambda: "recording.completed" in _types(receiver.accepted()), timeout=60)
        time.sleep(1.0)

        delivered = receiver.accepted()
        kinds = _types(delivered)
        pieces = [r.event["data"]["piece"]["index"] for r in delivered
                  if r.event["type"] == "recording.piece_completed"]
        assert kinds[0] == "recording.started"
        assert kinds[-1] == "recording.completed"
        assert len(pieces) >= 2
        assert pieces == list(range(1, len(pieces) + 1)), "every piece once, in order"
        assert kinds == ["recording.started"] + ["recording.piece_completed"] * len(pieces) + ["recording.completed"]
        ids = [r.event["id"] for r in delivered]
        assert len(set(ids)) == len(ids), "exactly once by event id"
        assert [r.status for r in receiver.requests[:2]] == [500, 500]
        assert all(_signed(r) for r in receiver.requests)
        stored = {entry["key"] for entry in delivered[-1].event["data"]["s3"] if entry["kind"] == "video"}
        assert len(stored) == len(pieces), "the completed event lists every stored piece"
