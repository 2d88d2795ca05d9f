"""Push sources through the signed webhook (seed 002): `stream.started` / `stream.ended` against a live HLS origin."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.services.push.webhooks import sign
from livevault.testsrc import LiveStream, StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import assert_contiguous, decode_frame_numbers, recording_file, wait_finished, wait_until

pytestmark = pytest.mark.live

SECRET = "hook-secret-for-tests"
OK = {"message": "Webhook processed successfully"}
SEED_STREAM_ID = "bb52ba50-edc5-4056-a62c-6ef211d72d25"
SEED_USER_ID = "a781b655-d4e4-46a0-89da-c4f655bb24f0"


@contextmanager
def open_client(tmp_path: Path, stream_server: StreamServer, **overrides: Any) -> Iterator[tuple[TestClient, Settings]]:
    values: dict[str, Any] = {
        "webhook_secret": SECRET,
        "push_hls_url_template": f"{stream_server.base_url}/live/{{stream_key}}/hi/index.m3u8",
        "thumbnails": False,
    }
    values.update(overrides)
    settings = make_settings(tmp_path / f"data-{uuid.uuid4().hex[:6]}", **values)
    with TestClient(create_app(settings), headers=HEADERS) as client:
        yield client, settings


@pytest.fixture
def hook(tmp_path: Path, stream_server: StreamServer) -> Iterator[tuple[TestClient, Settings]]:
    with open_client(tmp_path, stream_server) as opened:
        yield opened


def new_stream(server: StreamServer) -> LiveStream:
    return server.stream(f"key{uuid.uuid4().hex[:12]}", segment_duration=1.0, window=6)


def now_stamp(offset: float = 0.0) -> str:
    """A timestamp inside the replay window (seed 002's examples are dated 2025; the shape is the same)."""
    return (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_event(kind: str, stream_key: str, stream_id: str | None = SEED_STREAM_ID, **extra: Any) -> dict[str, Any]:
    """A body exactly like seed 002's examples."""
    body: dict[str, Any] = {"event": kind, "stream_id": stream_id, "stream_key": stream_key,
                            "user_id": SEED_USER_ID, "timestamp": now_stamp()}
    body.update(extra)
    return body


def post(
    client: TestClient, body: dict[str, Any] | bytes, *, path: str = "/webhooks/stream", secret: str = SECRET,
    signature: str | None = None, headers: dict[str, str] | None = None,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if signature != "":
        sent["X-Livevault-Signature"] = signature or sign(secret, raw)
    return client.post(path, content=raw, headers=sent)


def recordings(client: TestClient) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client.get("/recordings").json()["recordings"]
    return listed


def ledger_sequences(client: TestClient, recording_id: str) -> list[int]:
    return [s["sequence"] for s in client.get(f"/recordings/{recording_id}/ledger").json()["segments"]]


def captured(client: TestClient, recording_id: str, count: int, timeout: float = 20) -> None:
    wait_until(lambda: len(ledger_sequences(client, recording_id)) >= count, timeout=timeout, interval=0.2)


def frames_of(stream: LiveStream, sequences: list[int]) -> list[int]:
    by_seq = {p.sequence: p for p in stream.produced()}
    return [f for seq in sequences for f in by_seq[seq].frames]


def test_seed_bodies_get_seed_responses_and_started_then_ended_makes_a_playable_mp4(
    hook: tuple[TestClient, Settings], stream_server: StreamServer
) -> None:
    client, settings = hook
    stream = new_stream(stream_server)
    key = stream.name

    # Seed 002's path and body; no X-API-Key is needed (a wrong one is not even looked at)
    started = post(client, seed_event("stream.started", key), path="/webhook/stream",
                   headers={"X-API-Key": "not-a-key"})
    assert started.status_code == 200, started.text
    assert started.json() == OK
    assert started.headers["X-Livevault-Webhook-Result"] == "recording_started"
    recording_id = started.headers["X-Livevault-Recording-Id"]

    seed = client.get(f"/recording/{recording_id}").json()["recording"]
    assert seed["stream_id"] == SEED_STREAM_ID
    assert seed["status"] == "recording", "recording from the moment stream.started is answered"
    assert seed["started_at"] is not None
    assert client.get(f"/recordings/{recording_id}").json()["state"] == "recording", "so it is, not pending"
    listed = {r["id"]: r for r in client.get("/recordings", params={"source_kind": "push"}).json()["recordings"]}
    assert listed[recording_id]["status"] == "recording"
    assert (seed["source_kind"], seed["source"]) == ("push", f"push:{key}")
    webhook = seed["options"]["webhook"]
    assert webhook["user_id"] == SEED_USER_ID
    assert webhook["timestamp"].endswith("Z")
    assert webhook["origin_url"] == stream.playlist_url("hi")

    captured(client, recording_id, 3)
    ended = post(client, seed_event("stream.ended", key, timestamp=now_stamp(1)))
    assert ended.status_code == 200
    assert ended.json() == OK
    assert ended.headers["X-Livevault-Webhook-Result"] == "stopping"
    assert ended.headers["X-Livevault-Recording-Id"] == recording_id

    body = wait_finished(client, recording_id, timeout=60)
    assert body["status"] == "completed", body
    assert body["stream_id"] == SEED_STREAM_ID
    job = client.get(f"/jobs/{body['task_id']}").json()
    assert job["status"] == "SUCCESS"
    assert job["result"]["end_reason"] == "stopped"
    sequences = ledger_sequences(client, recording_id)
    assert sequences == list(range(sequences[0], sequences[-1] + 1))
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == frames_of(stream, sequences)
    assert len(frames) >= 3 * 24
    assert body["video_codec"] == "h264"

    # A repeated stream.ended is a no-op with the same answer
    again = post(client, seed_event("stream.ended", key))
    assert (again.status_code, again.json()) == (200, OK)
    assert again.headers["X-Livevault-Webhook-Result"] == "not_recording"
    assert len(recordings(client)) == 1


def test_a_bad_or_missing_signature_is_401_and_records_nothing(
    hook: tuple[TestClient, Settings], stream_server: StreamServer
) -> None:
    client, _settings = hook
    body = seed_event("stream.started", new_stream(stream_server).name)
    raw = json.dumps(body).encode()
    tampered = json.dumps({**body, "stream_key": "someoneelse"}).encode()
    cases = {
        "missing": post(client, raw, signature=""),
        "wrong secret": post(client, raw, secret="not-the-secret"),
        "signed another body": post(client, tampered, signature=sign(SECRET, raw)),
        "no prefix": post(client, raw, signature=sign(SECRET, raw).removeprefix("sha256=")),
        "garbage": post(client, raw, signature="sha256=zz"),
        "seed path": post(client, raw, path="/webhook/stream", signature="sha256=" + "0" * 64),
    }
    for name, response in cases.items():
        assert response.status_code == 401, name
        error = response.json()
        assert error["error_code"] == "INVALID_SIGNATURE", name
        assert set(error) >= {"error_code", "message", "details", "correlation_id"}
    assert recordings(client) == []

    # The signature is checked on the raw bytes: the same JSON re-serialized differently does not pass
    spaced = json.dumps(body, indent=2).encode()
    assert post(client, spaced, signature=sign(SECRET, raw)).status_code == 401
    # Upper-case hex is the same signature
    upper = "sha256=" + sign(SECRET, raw).removeprefix("sha256=").upper()
    accepted = post(client, raw, signature=upper)
    assert accepted.status_code == 200
    stopped = post(client, seed_event("stream.ended", body["stream_key"]))
    assert stopped.headers["X-Livevault-Webhook-Result"] == "stopping"
    wait_finished(client, accepted.headers["X-Livevault-Recording-Id"], timeout=60)


def test_a_duplicate_stream_started_makes_one_recording(
    hook: tuple[TestClient, Settings], stream_server: StreamServer
) -> None:
    client, _settings = hook
    stream = new_stream(stream_server)
    body = seed_event("stream.started", stream.name)

    # Given five copies of stream.started arriving at once (a retrying streaming server)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        response = post(client, body)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in results] == [200] * 5
    assert all(r.json() == OK for r in results)
    outcomes = sorted(r.headers["X-Livevault-Webhook-Result"] for r in results)
    assert outcomes == ["already_recording"] * 4 + ["recording_started"]
    assert len({r.headers["X-Livevault-Recording-Id"] for r in results}) == 1
    assert len(recordings(client)) == 1
    recording_id = results[0].headers["X-Livevault-Recording-Id"]

    # A stream.ended for some other (older) stream id is stale: the recording goes on
    stale = post(client, seed_event("stream.ended", stream.name, stream_id="older-stream"))
    assert (stale.status_code, stale.headers["X-Livevault-Webhook-Result"]) == (200, "stale")
    assert client.get(f"/recordings/{recording_id}").json()["stop_requested"] is False

    captured(client, recording_id, 2)
    assert post(client, seed_event("stream.ended", stream.name)).headers["X-Livevault-Webhook-Result"] == "stopping"
    # A late retry of stream.started for the stream that just ended starts nothing
    late = post(client, body)
    assert (late.status_code, late.json()) == (200, OK)
    assert late.headers["X-Livevault-Webhook-Result"] == "already_ended"
    assert wait_finished(client, recording_id, timeout=60)["status"] == "completed"
    assert len(recordings(client)) == 1


def test_stream_ended_before_or_without_started_is_a_no_op(
    hook: tuple[TestClient, Settings], stream_server: StreamServer
) -> None:
    client, _settings = hook
    key = new_stream(stream_server).name
    ended = post(client, seed_event("stream.ended", key, stream_id="ended-first"))
    assert (ended.status_code, ended.json()) == (200, OK)
    assert ended.headers["X-Livevault-Webhook-Result"] == "not_recording"
    assert "X-Livevault-Recording-Id" not in ended.headers

    # Its stream.started arriving late does not record a stream that is already over
    late = post(client, seed_event("stream.started", key, stream_id="ended-first"))
    assert (late.status_code, late.json()) == (200, OK)
    assert late.headers["X-Livevault-Webhook-Result"] == "already_ended"
    assert recordings(client) == []


def test_without_stream_ended_the_recording_completes_when_the_playlist_ends(
    hook: tuple[TestClient, Settings], stream_server: StreamServer
) -> None:
    client, settings = hook
    stream = new_stream(stream_server)
    stream_id = str(uuid.uuid4())
    started = post(client, seed_event("stream.started", stream.name, stream_id=stream_id))
    recording_id = started.headers["X-Livevault-Recording-Id"]
    captured(client, recording_id, 3)

    # When the origin ends the playlist (EXT-X-ENDLIST) and no stream.ended ever comes
    stream.end()
    body = wait_finished(client, recording_id, timeout=40)

    assert body["status"] == "completed", body
    assert client.get(f"/jobs/{body['task_id']}").json()["result"]["end_reason"] == "end_of_stream"
    sequences = ledger_sequences(client, recording_id)
    final = stream.final_count()
    assert final is not None
    assert sequences[-1] == stream.produced()[-1].sequence, "everything up to ENDLIST is recorded"
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == frames_of(stream, sequences)
    assert_contiguous(frames)

    # A retried stream.started of that broadcast does not record the ended playlist again
    retried = post(client, seed_event("stream.started", stream.name, stream_id=stream_id))
    assert (retried.status_code, retried.json()) == (200, OK)
    assert retried.headers["X-Livevault-Webhook-Result"] == "already_recorded"
    assert retried.headers["X-Livevault-Recording-Id"] == recording_id
    assert len(recordings(client)) == 1


def test_without_stream_ended_a_playlist_that_disappears_ends_the_recording_after_the_reconnect_window(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    with open_client(tmp_path, stream_server, playlist_grace=3.0, reconnect_window=5.0) as (client, settings):
        stream = new_stream(stream_server)
        started = post(client, seed_event("stream.started", stream.name, stream_id=str(uuid.uuid4())))
        recording_id = started.headers["X-Livevault-Recording-Id"]
        captured(client, recording_id, 3)

        # When the origin drops the playlist (404) for good
        gone_at = time.monotonic()
        stream.offline(120)
        body = wait_finished(client, recording_id, timeout=40)

        assert time.monotonic() - gone_at < 5.0 + 3.0 + 10, "ends a few seconds after the window, not much later"
        assert body["status"] == "completed", body
        assert client.get(f"/jobs/{body['task_id']}").json()["result"]["end_reason"] == "unreachable"
        assert_contiguous(decode_frame_numbers(recording_file(settings.recordings_dir, body)))


def test_bodies_that_are_not_seed_events_are_422(hook: tuple[TestClient, Settings]) -> None:
    client, _settings = hook
    unknown = post(client, seed_event("stream.paused", "abc"))
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "Invalid event type"
    assert unknown.json()["error_code"] == "INVALID_EVENT_TYPE"
    assert unknown.json()["correlation_id"]
    assert post(client, {"event": 7, "stream_key": "abc"}).json()["error"] == "Invalid event type"

    for bad in [
        {"event": "stream.started"},
        {"event": "stream.started", "stream_key": "../../admin"},
        {"event": "stream.started", "stream_key": "a/b"},
        {"event": "stream.started", "stream_key": "k" * 129},
        {"event": "stream.started", "stream_key": "abc", "timestamp": "yesterday"},
        {"event": "stream.started", "stream_key": "abc", "stream_id": "has space"},
        {"stream_key": "abc"},
    ]:
        response = post(client, bad)
        assert response.status_code == 422, bad
        assert response.json()["error_code"] == "VALIDATION_ERROR", bad
    for raw in [b"not json", b"[1, 2]", b""]:
        response = post(client, raw)
        assert (response.status_code, response.json()["error_code"]) == (422, "VALIDATION_ERROR"), raw
    too_big = post(client, seed_event("stream.started", "abc", metadata={"x": "y" * 70_000}))
    assert (too_big.status_code, too_big.json()["error_code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert recordings(client) == []


def test_refusals_when_not_configured_or_when_the_origin_is_private(
    tmp_path: Path, stream_server: StreamServer, api: TestClient
) -> None:
    key = new_stream(stream_server).name
    # No LIVEVAULT_WEBHOOK_SECRET: even a correctly signed-looking event is refused
    refused = post(api, seed_event("stream.started", key))
    assert (refused.status_code, refused.json()["error_code"]) == (503, "WEBHOOK_NOT_CONFIGURED")

    with open_client(tmp_path, stream_server, push_hls_url_template="") as (client, _settings):
        response = post(client, seed_event("stream.started", key))
        assert (response.status_code, response.json()["error_code"]) == (503, "PUSH_NOT_CONFIGURED")
        assert recordings(client) == []

    # The origin URL passes the same gate as every source URL
    with open_client(tmp_path, stream_server, allow_private_sources=False) as (client, _settings):
        response = post(client, seed_event("stream.started", key))
        assert (response.status_code, response.json()["error_code"]) == (400, "ADDRESS_NOT_ALLOWED")
        assert recordings(client) == []


def test_the_openapi_document_shows_the_endpoint_once(hook: tuple[TestClient, Settings]) -> None:
    client, _settings = hook
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/webhooks/stream"]
    assert "/webhook/stream" not in paths
    operation = paths["/webhooks/stream"]["post"]
    assert "stream_key" in operation["requestBody"]["content"]["application/json"]["schema"]["properties"]


@pytest.mark.parametrize("stamp", ["2020-01-01T00:00:00Z", "2025-10-05T18:00:00Z", "+1800", "-400", "+400"])
def test_a_signed_event_outside_the_tolerance_window_is_refused(
    hook: tuple[TestClient, Settings], stream_server: StreamServer, stamp: str
) -> None:
    client, _settings = hook
    key = new_stream(stream_server).name
    when = now_stamp(float(stamp)) if stamp[0] in "+-" else stamp
    response = post(client, seed_event("stream.started", key, timestamp=when))
    assert (response.status_code, response.json()["error_code"]) == (401, "WEBHOOK_REPLAYED")
    assert recordings(client) == []


def test_the_tolerance_is_configurable_and_event_ids_are_remembered(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    key = new_stream(stream_server).name
    with open_client(tmp_path, stream_server, webhook_tolerance=3600) as (client, _settings):
        body = seed_event("stream.started", key, timestamp=now_stamp(-1800), event_id="evt-1")
        first = post(client, body)
        assert first.status_code == 200, first.text
        assert first.headers["X-Livevault-Webhook-Result"] == "recording_started"
        again = post(client, body)
        assert again.status_code == 200
        assert again.headers["X-Livevault-Webhook-Result"] == "duplicate"
        stop = post(client, seed_event("stream.ended", key, event_id="evt-2"))
        assert stop.headers["X-Livevault-Webhook-Result"] == "stopping"
        wait_finished(client, first.headers["X-Livevault-Recording-Id"])
        assert len(recordings(client)) == 1
