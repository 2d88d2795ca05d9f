"""Split recordings (`options.split_every` / `split_bytes`) against the live test server: every piece is
finalized while the stream goes on, each plays, and together they hold every frame exactly once."""

from __future__ import annotations

import itertools
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from livevault.capture.spool import Spool
from livevault.config import Settings
from livevault.testsrc import StreamServer
from tests.integration.helpers import assert_contiguous, decode_frame_numbers, wait_finished, wait_until
from tests.integration.test_crash_recovery import KEY, Service

pytestmark = pytest.mark.live
FPS = 24


def start(api: TestClient, url: str, **body: Any) -> dict[str, Any]:
    response = api.post("/recordings", json={"url": url, **body})
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def piece_frames(root: Path, pieces: list[dict[str, Any]]) -> list[list[int]]:
    return [decode_frame_numbers(root / p["file_path"]) for p in pieces]


def test_split_every_20_seconds_of_a_70_second_live_makes_4_pieces_while_it_goes_on(
    api: TestClient, settings: Settings, stream_server: StreamServer
) -> None:
    stream = stream_server.stream(f"split-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    accepted = start(api, stream.playlist_url("hi"), duration=70, options={"split_every": 20})
    recording_id, task_id = accepted["recording_id"], accepted["task_id"]

    def first_piece_while_live() -> bool:
        job = api.get(f"/jobs/{task_id}").json()
        return bool((job.get("result") or {}).get("pieces"))

    wait_until(first_piece_while_live, timeout=60, interval=0.5)
    live = api.get(f"/recordings/{recording_id}").json()
    assert live["status"] == "recording", "the first piece must be finalized while the stream is live"
    assert [p["index"] for p in live["pieces"]] == [1]
    first = settings.recordings_dir / live["pieces"][0]["file_path"]
    assert first.is_file()
    assert first.name.endswith("_p001.mp4")
    download = api.get(f"/recordings/{recording_id}/pieces/1")
    assert download.status_code == 200
    assert download.content == first.read_bytes()
    assert api.get(f"/recordings/{recording_id}/pieces/9").status_code == 404
    job = api.get(f"/jobs/{task_id}").json()
    assert job["status"] == "STARTED"
    assert job["result"]["files"][0] == live["pieces"][0]["file_path"]

    body = wait_finished(api, recording_id, timeout=150)
    assert body["status"] == "completed", body
    pieces = body["pieces"]
    assert [p["index"] for p in pieces] == [1, 2, 3, 4]
    for piece in pieces[:3]:
        assert 20.0 <= piece["duration"] <= 22.5, pieces
    for before, after in itertools.pairwise(pieces):
        assert after["start_time"] == pytest.approx(before["end_time"])
    assert body["file_size"] == sum(p["size"] for p in pieces)
    assert all(p["size"] == (settings.recordings_dir / p["file_path"]).stat().st_size for p in pieces)

    frames = piece_frames(settings.recordings_dir, pieces)
    assert all(frames), "every piece decodes"
    joined = [n for piece in frames for n in piece]
    assert_contiguous(joined)  # nothing lost or repeated at the cuts
    served = sum(s.frame_count for s in stream.served("hi") if s.status == 200 and s.completed)
    assert abs(len(joined) - served) <= FPS

    job = api.get(f"/jobs/{task_id}").json()
    assert job["status"] == "SUCCESS"
    videos = [p["file_path"] for p in pieces]
    assert job["result"]["files"][:4] == videos
    assert [p["file_path"] for p in job["result"]["pieces"]] == videos
    assert body["file_path"] == videos[0]

    assert api.delete(f"/recordings/{recording_id}").status_code == 204
    assert not any((settings.recordings_dir / v).exists() for v in videos)


def test_split_bytes_cuts_by_size(api: TestClient, settings: Settings, stream_server: StreamServer) -> None:
    stream = stream_server.stream(f"splitb-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    size = 256 * 1024
    accepted = start(api, stream.playlist_url("hi"), duration=24, options={"split_bytes": size})
    body = wait_finished(api, accepted["recording_id"], timeout=120)
    assert body["status"] == "completed", body
    pieces = body["pieces"]
    assert len(pieces) >= 2, pieces
    for piece in pieces[:-1]:
        assert size <= piece["size"] <= 2 * size, pieces
    frames = piece_frames(settings.recordings_dir, pieces)
    assert_contiguous([n for piece in frames for n in piece])


def test_sigkill_and_restart_keep_finished_pieces_and_continue_with_the_next(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    service = Service(tmp_path / "data")
    stream = stream_server.stream(f"splitk-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=8)
    root = Path(service.env["LIVEVAULT_DATA_DIR"]) / "recordings"
    try:
        service.start()
        accepted = httpx.post(f"{service.url}/recordings", headers=KEY, timeout=10, json={
            "url": stream.playlist_url("hi"), "duration": 45, "options": {"split_every": 10}}).json()
        recording_id = accepted["recording_id"]
        wait_until(lambda: len(service.get(f"/recordings/{recording_id}")["pieces"] or []) >= 1,
                   timeout=40, interval=0.5)
        first = service.get(f"/recordings/{recording_id}")["pieces"][0]
        first_bytes = (root / first["file_path"]).read_bytes()
        first_frames = decode_frame_numbers(root / first["file_path"])
        time.sleep(4.0)  # into the second piece

        service.kill()
        before = Spool(Path(service.env["LIVEVAULT_DATA_DIR"]) / "spool" / recording_id).segments()
        time.sleep(2.0)
        service.start()
        wait_until(lambda: service.get(f"/recordings/{recording_id}")["status"] in {"completed", "failed"},
                   timeout=120, interval=0.5)
        body = service.get(f"/recordings/{recording_id}")
    finally:
        service.stop()

    assert body["status"] == "completed", body
    pieces = body["pieces"]
    assert [p["index"] for p in pieces] == list(range(1, len(pieces) + 1))
    assert len(pieces) >= 3, pieces
    assert pieces[0]["file_path"] == first["file_path"]
    assert (root / first["file_path"]).read_bytes() == first_bytes, "a finished piece is never redone"
    frames = piece_frames(root, pieces)
    assert frames[0] == first_frames
    joined = [n for piece in frames for n in piece]
    assert joined == sorted(set(joined)), "no frame twice, none out of order"
    produced = {p.sequence: p for p in stream.produced()}
    assert {f for seg in before for f in produced[seg.sequence].frames} <= set(joined)


@pytest.mark.parametrize("kind", ["flv", "ts"])
def test_pieces_of_a_progressive_stream_that_reconnects_hold_every_frame_once(
    api: TestClient, settings: Settings, stream_server: StreamServer, kind: str
) -> None:
    """Reconnects put several parts into a piece and cuts inside parts; the resent GOP never shows twice."""
    stream = stream_server.stream(f"splitp-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    url = stream.flv_url if kind == "flv" else stream.ts_url
    accepted = start(api, url, duration=30, options={"split_every": 6})
    recording_id = accepted["recording_id"]
    for segments in (7, 16):
        wait_until(lambda n=segments: len(api.get(f"/recordings/{recording_id}/ledger").json()["segments"]) >= n,
                   timeout=40, interval=0.3)
        stream.drop_connections()
    body = wait_finished(api, recording_id, timeout=90)

    assert body["status"] == "completed", body
    parts = api.get(f"/recordings/{recording_id}").json()["integrity"]["parts"]
    assert parts >= 3
    pieces = body["pieces"]
    assert len(pieces) >= 4, pieces
    frames = piece_frames(settings.recordings_dir, pieces)
    assert all(frames), "every piece decodes"
    joined = [n for piece in frames for n in piece]
    assert joined == sorted(set(joined)), "no frame twice across cuts and reconnects"
    sent = {f for conn in stream.connections() for r in conn.frame_ranges for f in r}
    assert set(joined) <= sent
    assert len(joined) >= 0.9 * len(sent) - 2 * FPS
