"""Endless FLV / MPEG-TS bodies: a dropped connection continues the same recording in a new part."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from livevault.config import Settings
from livevault.testsrc import StreamServer
from tests.integration.helpers import decode_frame_numbers, recording_file, wait_finished, wait_until

pytestmark = pytest.mark.live


@pytest.mark.parametrize("kind", ["flv", "ts"])
def test_a_dropped_connection_gives_one_recording_two_parts_and_a_gap(
    api: TestClient, settings: Settings, stream_server: StreamServer, kind: str
) -> None:
    stream = stream_server.stream(f"p-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    url = stream.flv_url if kind == "flv" else stream.ts_url
    response = api.post("/recordings", json={"url": url, "duration": 12})
    assert response.status_code == 202
    recording_id = response.json()["recording_id"]

    def ledger() -> dict[str, object]:
        body: dict[str, object] = api.get(f"/recordings/{recording_id}/ledger").json()
        return body

    wait_until(lambda: len(ledger()["segments"]) >= 3, timeout=20)  # type: ignore[arg-type]
    stream.drop_connections()
    body = wait_finished(api, recording_id, timeout=60)

    assert body["status"] == "completed"
    assert len(api.get("/recordings").json()["recordings"]) == 1
    final = ledger()
    parts = final["parts"]
    assert isinstance(parts, list)
    assert [p["reason"] for p in parts] == ["start", "reconnect"]
    gaps = final["gaps"]
    assert isinstance(gaps, list)
    assert len(gaps) == 1
    assert gaps[0]["cause"] in {"connection_dropped", "stall"}
    assert gaps[0]["ended_at"] >= gaps[0]["started_at"]
    assert body["integrity"]["parts"] == 2

    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == sorted(set(frames)), "frames must increase: nothing duplicated across the reconnect"
    sent = sorted(f for conn in stream.connections() for r in conn.frame_ranges for f in r)
    assert set(frames) <= set(sent)
    assert len(frames) >= 0.9 * len(set(sent)) - 24
    assert 2 <= len(stream.connections())
