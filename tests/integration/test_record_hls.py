"""Recording live HLS through the API against the live test server: nothing lost, the file plays."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.config import Settings
from livevault.testsrc import LiveStream, StreamServer
from tests.integration.helpers import (
    assert_contiguous,
    decode_frame_numbers,
    recording_file,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.live


def new_stream(server: StreamServer, **config: Any) -> LiveStream:
    return server.stream(f"s-{uuid.uuid4().hex[:8]}", **config)


def record(api: TestClient, url: str, **body: Any) -> str:
    response = api.post("/recordings", json={"url": url, **body})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "PENDING"
    assert set(accepted) == {"task_id", "status", "recording_id"}
    return str(accepted["recording_id"])


def ledger(api: TestClient, recording_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/recordings/{recording_id}/ledger").json()
    return body


def after(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def frames_of(stream: LiveStream, sequences: list[int]) -> list[int]:
    by_seq = {p.sequence: p for p in stream.produced()}
    return [f for seq in sequences for f in by_seq[seq].frames]


def test_sixty_seconds_of_live_hls_lose_no_segment(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server, segment_duration=1.0, window=6)
    recording_id = record(api, stream.playlist_url("hi"), duration=60)
    body = wait_finished(api, recording_id, timeout=150)

    sequences = [s["sequence"] for s in ledger(api, recording_id)["segments"]]
    produced = [p.sequence for p in stream.produced() if sequences[0] <= p.sequence <= sequences[-1]]
    assert sequences == produced, "the segment index must hold every produced segment exactly once"
    assert len(sequences) >= 56
    served = {s.sequence for s in stream.served("hi") if s.status == 200 and s.completed}
    assert served >= set(sequences)
    assert body["integrity"]["segments_missing"] == 0
    assert body["integrity"]["gaps"] == []
    assert body["integrity"]["completeness_pct"] == 100.0

    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == frames_of(stream, sequences)
    assert body["video_codec"] == "h264"
    assert body["audio_codec"] == "aac"
    assert (body["width"], body["height"]) == (320, 240)
    assert 55 <= body["duration_seconds"] <= 62


def test_errors_and_a_stall_lose_nothing_that_stayed_in_the_window(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server, segment_duration=1.0, window=8)
    stream.error_rate(0.05, seed=7)
    recording_id = record(api, stream.playlist_url("hi"), duration=20)
    timer = after(6.0, lambda: stream.stall(3.0))
    body = wait_finished(api, recording_id, timeout=90)
    timer.cancel()

    assert any(f.kind == "stall" for f in stream.faults)
    assert any(r.status >= 500 for r in stream.request_log)
    sequences = [s["sequence"] for s in ledger(api, recording_id)["segments"]]
    assert sequences == list(range(sequences[0], sequences[-1] + 1))
    assert body["integrity"]["segments_missing"] == 0
    assert_contiguous(decode_frame_numbers(recording_file(settings.recordings_dir, body)))


def test_a_sequence_reset_and_a_discontinuity_make_one_playable_mp4(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server, segment_duration=1.0, window=6)
    recording_id = record(api, stream.playlist_url("hi"), duration=18)
    timers = [after(5.0, stream.discontinuity), after(10.0, stream.sequence_reset)]
    body = wait_finished(api, recording_id, timeout=90)
    for timer in timers:
        timer.cancel()

    integrity = body["integrity"]
    assert integrity["discontinuities"] >= 1
    assert integrity["sequence_resets"] >= 1
    reasons = [p["reason"] for p in ledger(api, recording_id)["parts"]]
    assert "discontinuity" in reasons
    assert "sequence_reset" in reasons
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == sorted(set(frames)), "no frame may appear twice or out of order"
    missing = (frames[-1] - frames[0] + 1) - len(frames)
    per_segment = 24
    assert missing <= integrity["segments_missing"] * per_segment
    assert len(frames) >= 14 * per_segment


@pytest.mark.parametrize(
    ("playlist", "config"),
    [
        ("fmp4/index.m3u8", {}),
        ("aes/index.m3u8", {"key_period": 3, "aes_iv": "alternate"}),
        ("byterange/index.m3u8", {}),
    ],
)
def test_fmp4_aes_and_byterange_streams_record_correctly(
    api: TestClient, settings: Settings, stream_server: StreamServer, playlist: str, config: dict[str, Any]
) -> None:
    stream = new_stream(stream_server, segment_duration=1.0, window=6, **config)
    recording_id = record(api, stream.url(playlist), duration=8)
    body = wait_finished(api, recording_id, timeout=60)
    sequences = [s["sequence"] for s in ledger(api, recording_id)["segments"]]
    assert sequences == list(range(sequences[0], sequences[-1] + 1))
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == frames_of(stream, sequences)
    assert body["integrity"]["segments_missing"] == 0


def test_fmp4_init_change_starts_a_new_part_and_still_plays(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server, segment_duration=1.0, window=6)
    recording_id = record(api, stream.url("fmp4/index.m3u8"), duration=10)
    timer = after(4.0, stream.init_change)
    body = wait_finished(api, recording_id, timeout=60)
    timer.cancel()
    reasons = [p["reason"] for p in ledger(api, recording_id)["parts"]]
    assert len(reasons) >= 2
    assert reasons[1] in {"init_change", "discontinuity"}
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == sorted(set(frames))


def test_readme_flow_frames_match_what_the_server_served(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    """The README's curl: 20 s of the master playlist → an MP4 within one segment of what was served."""
    stream = new_stream(stream_server, segment_duration=1.0, window=6)
    accepted = api.post("/recordings", json={"url": stream.master_url, "duration": 20}).json()
    job = api.get(f"/jobs/{accepted['task_id']}").json()
    assert job["status"] in {"PENDING", "STARTED"}
    body = wait_finished(api, accepted["recording_id"], timeout=90)
    served_frames = sum(s.frame_count for s in stream.served("hi") if s.status == 200 and s.completed)
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert abs(len(frames) - served_frames) <= 24
    assert_contiguous(frames)

    job = api.get(f"/jobs/{accepted['task_id']}").json()
    assert job["status"] == "SUCCESS"
    assert job["result"]["returncode"] == 0
    assert body["file_path"] in job["result"]["files"]
    assert job["result"]["s3"] == []
    assert job["result"]["started_at"]
    assert job["result"]["ended_at"]
    assert job["error_code"] is None

    files = api.get("/files", params={"page": 1, "page_size": 10}).json()
    assert files["total"] == 1
    item = files["items"][0]
    assert set(item) >= {"name", "size", "mtime", "path"}
    assert item["path"] == body["file_path"]
    assert item["size"] == body["file_size"] == (settings.recordings_dir / body["file_path"]).stat().st_size

    seed = api.get(f"/recording/{accepted['recording_id']}").json()["recording"]
    for field in ("id", "stream_id", "video_id", "file_path", "duration", "file_size", "status", "started_at",
                  "completed_at"):
        assert field in seed
    assert seed["status"] == "completed"
    assert isinstance(seed["duration"], int)


def test_stop_finalizes_what_was_captured_and_download_supports_range(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server, segment_duration=0.5, window=8)
    recording_id = record(api, stream.playlist_url("lo"))
    wait_until(lambda: ledger(api, recording_id)["segments"], timeout=20)
    time.sleep(2)
    stopped = api.post(f"/recordings/{recording_id}/stop")
    assert stopped.status_code == 202
    body = wait_finished(api, recording_id, timeout=30)
    assert body["status"] == "completed"
    assert api.post(f"/recordings/{recording_id}/stop").status_code == 409

    path = recording_file(settings.recordings_dir, body)
    full = api.get(f"/recordings/{recording_id}/download")
    assert full.status_code == 200
    assert full.content == path.read_bytes()
    part = api.get(f"/recordings/{recording_id}/download", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.content == path.read_bytes()[:100]
    assert api.get(f"/recordings/{recording_id}/thumbnail").content[:2] == b"\xff\xd8"

    assert api.delete(f"/recordings/{recording_id}").status_code == 204
    assert not path.exists()
    assert api.get(f"/recordings/{recording_id}").status_code == 404


def test_an_offline_source_fails_with_a_clear_code(api: TestClient, stream_server: StreamServer) -> None:
    recording_id = record(api, f"{stream_server.base_url}/nothing/here.m3u8")
    body = wait_finished(api, recording_id, timeout=60)
    assert body["status"] == "failed"
    assert body["error_code"] in {"STREAM_ENDED", "SOURCE_UNREACHABLE", "LIVE_OFFLINE"}
    job = api.get(f"/jobs/{body['task_id']}").json()
    assert job["status"] == "FAILURE"
    assert job["error_code"] == body["error_code"]
    assert job["error_message"]
    assert job["correlation_id"]


def test_recordings_list_is_newest_first_and_filters_by_status(
    api: TestClient, stream_server: StreamServer, tmp_path: Path
) -> None:
    stream = new_stream(stream_server, segment_duration=0.5, window=8)
    first = record(api, stream.playlist_url("lo"), duration=2)
    second = record(api, stream.playlist_url("hi"), duration=2)  # another variant: another source
    wait_finished(api, first)
    wait_finished(api, second)
    listed = api.get("/recordings").json()
    assert [r["id"] for r in listed["recordings"]] == [second, first]
    assert api.get("/recordings", params={"status": "failed"}).json()["recordings"] == []
    assert api.get("/recordings", params={"page_size": 1}).json()["total"] == 2


def test_a_recording_completes_on_sqlite_and_postgresql(
    tmp_path: Path, database_url: str, stream_server: StreamServer
) -> None:
    from livevault.api.app import create_app
    from tests.conftest import HEADERS, make_settings

    settings = make_settings(tmp_path / "data", database_url=database_url)
    stream = new_stream(stream_server, segment_duration=0.5, window=8)
    with TestClient(create_app(settings), headers=HEADERS) as client:
        recording_id = record(client, stream.playlist_url("lo"), duration=3)
        body = wait_finished(client, recording_id, timeout=60)
        assert body["status"] == "completed"
        assert client.get(f"/jobs/{body['task_id']}").json()["status"] == "SUCCESS"
        assert client.get("/files").json()["total"] == 1
        segments = client.get(f"/recordings/{recording_id}/ledger").json()["segments"]
        assert len(segments) == body["integrity"]["segments_captured"] >= 4
    assert_contiguous(decode_frame_numbers(settings.recordings_dir / body["file_path"]))
