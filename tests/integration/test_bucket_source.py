"""Bucket sources against a moto server over HTTP: a streaming server writes live HLS into `live-segments`,
livevault records it from there (announced by the signed webhook, or found by the bucket poller) and the MP4
lands in the recordings bucket as `{stream_key}.mp4`.

The writer copies a live PyAV test stream segment by segment into `<segments bucket>/<key>/`, each new segment
first and then the rewritten sliding-window playlist, the way a streaming server publishes into MinIO.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.capture.m3u8 import parse_media_playlist
from livevault.config import Settings
from livevault.services.push.webhooks import sign
from livevault.testsrc import LiveStream, StreamServer
from tests.conftest import HEADERS, make_settings
from tests.integration.helpers import assert_contiguous, decode_frame_numbers, wait_finished, wait_until
from tests.s3fixtures import MotoServer, s3_overrides

pytestmark = pytest.mark.live

SECRET = "bucket-hook-secret"
WINDOW = 5
POLL = 1.0
IDLE = 3.0
SEGMENT = 1.0


class BucketWriter:
    """Copies a live test stream into the bucket in real time: segment objects, then the playlist."""

    def __init__(self, server: MotoServer, bucket: str, stream: LiveStream, key: str) -> None:
        self._s3 = server.client()
        self._bucket = bucket
        self._stream = stream
        self._key = key
        self.written: list[int] = []  # media sequence numbers, in the order they were put
        self.first_put: float | None = None
        self.last_put: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"writer-{key}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> BucketWriter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert self.error is None, self.error

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=10) as http:
                while not self._stop.is_set():
                    self._copy_new(http)
                    self._stop.wait(SEGMENT / 4)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _copy_new(self, http: httpx.Client) -> None:
        url = self._stream.playlist_url("hi")
        playlist = parse_media_playlist(http.get(url).raise_for_status().text, url)
        fresh = [s for s in playlist.segments if not self.written or s.sequence > self.written[-1]]
        for seg in fresh:
            data = http.get(seg.uri).raise_for_status().content
            self._s3.put_object(Bucket=self._bucket, Key=f"{self._key}/seg_{seg.sequence:06d}.ts", Body=data)
            self.written.append(seg.sequence)
            now = time.time()
            self.first_put = self.first_put or now
            self.last_put = now
        if fresh:
            self._s3.put_object(Bucket=self._bucket, Key=f"{self._key}/index.m3u8",
                                Body=self.playlist().encode(), ContentType="application/vnd.apple.mpegurl")

    def playlist(self) -> str:
        window = self.written[-WINDOW:]
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{int(SEGMENT)}",
                 f"#EXT-X-MEDIA-SEQUENCE:{window[0]}"]
        for sequence in window:
            lines += [f"#EXTINF:{SEGMENT:.3f},", f"seg_{sequence:06d}.ts"]
        return "\n".join(lines) + "\n"


@contextmanager
def bucket_client(tmp_path: Path, server: MotoServer, **extra: Any) -> Iterator[tuple[TestClient, Settings, str, str]]:
    """An app recording from a fresh segments bucket and uploading to a fresh recordings bucket."""
    segments, recordings = f"live-segments-{secrets.token_hex(4)}", f"recordings-{secrets.token_hex(4)}"
    server.create_bucket(segments)
    server.create_bucket(recordings)
    values: dict[str, Any] = {
        "webhook_secret": SECRET, "thumbnails": False, "push_source": "bucket", "bucket_source_bucket": segments,
        "bucket_poll_interval": POLL, "bucket_idle_grace": IDLE, "bucket_read_timeout": 5.0,
        "bucket_read_retries": 3, "s3_upload_default": True, "push_output_template": "{stream_key}.mp4",
        "storage_sweep_interval": 0.5, **extra,
    }
    settings = make_settings(tmp_path / f"data-{uuid.uuid4().hex[:6]}", **s3_overrides(server, recordings, **values))
    with TestClient(create_app(settings), headers=HEADERS) as client:
        yield client, settings, segments, recordings


def hook(client: TestClient, event: str, key: str) -> httpx.Response:
    raw = json.dumps({"event": event, "stream_id": f"sid-{key}", "stream_key": key,
                      "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
    return client.post("/webhooks/stream", content=raw,
                       headers={"Content-Type": "application/json", "X-Livevault-Signature": sign(SECRET, raw)})


def of_key(client: TestClient, key: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client.get("/recordings", params={"source": f"push:{key}"}).json()["recordings"]
    return listed


def ledger_sequences(client: TestClient, recording_id: str) -> list[int]:
    return [s["sequence"] for s in client.get(f"/recordings/{recording_id}/ledger").json()["segments"]]


def frames_of(stream: LiveStream, sequences: list[int]) -> list[int]:
    by_seq = {p.sequence: p for p in stream.produced()}
    return [f for seq in sequences for f in by_seq[seq].frames]


def uploaded_mp4(server: MotoServer, bucket: str, key: str, tmp_path: Path, client: TestClient,
                 recording_id: str) -> Path:
    """The MP4 in the recordings bucket (waits for the upload), downloaded for decoding."""
    s3 = server.client()

    def there() -> bool:
        found = s3.list_objects_v2(Bucket=bucket, Prefix=f"{key}.mp4").get("Contents", [])
        return bool(found)

    wait_until(there, timeout=60, interval=0.3)
    body = client.get(f"/recordings/{recording_id}").json()
    assert body["location"] in {"s3", "both"}, body
    video = next(f for f in body["files"] if f["kind"] == "video")
    assert (video["bucket"], video["key"]) == (bucket, f"{key}.mp4")
    target = tmp_path / f"{key}.mp4"
    target.write_bytes(s3.get_object(Bucket=bucket, Key=f"{key}.mp4")["Body"].read())
    assert target.stat().st_size == video["size"]
    return target


def test_webhook_records_every_segment_written_to_the_bucket(
    tmp_path: Path, moto_server: MotoServer, stream_server: StreamServer
) -> None:
    with bucket_client(tmp_path, moto_server) as (client, _settings, segments, recordings):
        stream = stream_server.stream(f"bk{uuid.uuid4().hex[:10]}", segment_duration=SEGMENT, window=6)
        key = stream.name

        # stream.started comes before the streaming server has written anything
        started = hook(client, "stream.started", key)
        assert started.status_code == 200, started.text
        assert started.headers["X-Livevault-Webhook-Result"] == "recording_started"
        recording_id = started.headers["X-Livevault-Recording-Id"]
        rec = client.get(f"/recordings/{recording_id}").json()
        assert (rec["source_kind"], rec["source"]) == ("bucket", f"push:{key}")

        writer = BucketWriter(moto_server, segments, stream, key).start()
        wait_until(lambda: len(writer.written) >= 8, timeout=30, interval=0.2)
        writer.stop()
        # every segment written is captured before the stream is announced as ended
        wait_until(lambda: ledger_sequences(client, recording_id)[-1:] == writer.written[-1:], timeout=20,
                   interval=0.2)
        ended = hook(client, "stream.ended", key)
        assert ended.headers["X-Livevault-Webhook-Result"] == "stopping"

        body = wait_finished(client, recording_id, timeout=90)
        assert body["status"] == "completed", body
        assert ledger_sequences(client, recording_id) == writer.written
        mp4 = uploaded_mp4(moto_server, recordings, key, tmp_path, client, recording_id)
        frames = decode_frame_numbers(mp4)
        assert frames == frames_of(stream, writer.written)
        assert_contiguous(frames)
        # the poller saw the same stream live all along and never started a second recording
        time.sleep(2 * POLL)
        assert [r["id"] for r in of_key(client, key)] == [recording_id]


def test_the_poller_records_a_stream_no_webhook_announced_and_ends_it_when_segments_stop(
    tmp_path: Path, moto_server: MotoServer, stream_server: StreamServer
) -> None:
    with bucket_client(tmp_path, moto_server) as (client, _settings, segments, recordings):
        stream = stream_server.stream(f"bk{uuid.uuid4().hex[:10]}", segment_duration=SEGMENT, window=6)
        key = stream.name
        writer = BucketWriter(moto_server, segments, stream, key).start()

        wait_until(lambda: bool(of_key(client, key)), timeout=POLL + SEGMENT + 10, interval=0.1)
        seen = time.time()
        found = of_key(client, key)
        assert len(found) == 1
        recording_id = found[0]["id"]
        assert found[0]["source_kind"] == "bucket"
        assert found[0]["options"]["bucket"]["discovered"] is True
        assert writer.first_put is not None
        # started within MONITOR_INTERVAL + one segment of the first segment landing (0.5 s of test slack)
        assert seen - writer.first_put <= POLL + SEGMENT + 0.5, seen - writer.first_put

        wait_until(lambda: len(writer.written) >= 8, timeout=30, interval=0.2)
        writer.stop()
        stopped_writing = time.time()
        body = wait_finished(client, recording_id, timeout=90)
        assert body["status"] == "completed", body
        # ended by the poller once no segment came for the idle grace (plus a poll), not by a stall or an error
        job = client.get(f"/jobs/{body['task_id']}").json()
        assert job["result"]["end_reason"] == "stopped", job
        assert time.time() - stopped_writing >= IDLE - POLL

        sequences = ledger_sequences(client, recording_id)
        assert sequences == writer.written[writer.written.index(sequences[0]):]  # to the last segment written
        mp4 = uploaded_mp4(moto_server, recordings, key, tmp_path, client, recording_id)
        frames = decode_frame_numbers(mp4)
        assert frames == frames_of(stream, sequences)
        assert_contiguous(frames)

        # the stream stays in the bucket, idle: the poller starts nothing more
        time.sleep(2 * POLL)
        assert [r["id"] for r in of_key(client, key)] == [recording_id]

        # the same key goes live again later: new segments, a new recording
        again = BucketWriter(moto_server, segments, stream, key).start()
        wait_until(lambda: len(of_key(client, key)) == 2, timeout=POLL + SEGMENT + 10, interval=0.2)
        second = next(r["id"] for r in of_key(client, key) if r["id"] != recording_id)
        wait_until(lambda: len(again.written) >= 4, timeout=30, interval=0.2)
        again.stop()
        assert wait_finished(client, second, timeout=90)["status"] == "completed"
        assert ledger_sequences(client, second)[0] > sequences[-1]


def test_api_records_a_bucket_stream_on_demand(
    tmp_path: Path, moto_server: MotoServer, stream_server: StreamServer
) -> None:
    with bucket_client(tmp_path, moto_server, bucket_poll_interval=0.0) as (client, _settings, segments, _recs):
        stream = stream_server.stream(f"bk{uuid.uuid4().hex[:10]}", segment_duration=SEGMENT, window=6)
        key = stream.name
        bad = client.post("/recordings", json={"source": "bucket", "stream_key": "../etc"})
        assert bad.status_code == 400, bad.text
        assert bad.json()["error_code"] == "INVALID_STREAM_KEY"

        accepted = client.post("/recordings", json={"source": "bucket", "stream_key": key})
        assert accepted.status_code == 202, accepted.text
        recording_id = accepted.json()["recording_id"]
        rec = client.get(f"/recordings/{recording_id}").json()
        assert (rec["source_kind"], rec["source"]) == ("bucket", f"push:{key}")

        writer = BucketWriter(moto_server, segments, stream, key).start()
        wait_until(lambda: len(ledger_sequences(client, recording_id)) >= 4, timeout=30, interval=0.2)
        writer.stop()
        assert client.post(f"/recordings/{recording_id}/stop").status_code == 202
        body = wait_finished(client, recording_id, timeout=90)
        assert body["status"] == "completed", body
        sequences = ledger_sequences(client, recording_id)
        assert sequences == writer.written[: len(sequences)]  # from the first segment, in order, none missing
        # without "source", LIVEVAULT_PUSH_SOURCE=bucket decides
        other = client.post("/recordings", json={"stream_key": f"{key}-b", "duration": 1})
        assert other.status_code == 202, other.text
        assert client.get(f"/recordings/{other.json()['recording_id']}").json()["source_kind"] == "bucket"
