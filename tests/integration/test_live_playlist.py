"""GET /recordings/{id}/live.m3u8 on a real recording of the live test server; media GETs and the session cookie."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

from livevault.testsrc import StreamServer
from tests.conftest import API_KEY
from tests.integration.helpers import wait_finished, wait_until

pytestmark = pytest.mark.live


def test_the_live_playlist_grows_serves_byte_ranges_and_ends(api: TestClient, stream_server: StreamServer) -> None:
    stream = stream_server.stream(f"lp-{uuid.uuid4().hex[:8]}", segment_duration=0.5, window=8)
    created = api.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 30})
    recording_id = created.json()["recording_id"]
    wait_until(lambda: api.get(f"/recordings/{recording_id}/live.m3u8").status_code == 200, timeout=20)
    time.sleep(1.5)
    first = api.get(f"/recordings/{recording_id}/live.m3u8")
    assert first.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in first.text
    assert "#EXT-X-ENDLIST" not in first.text
    ranges = [line.split(":", 1)[1] for line in first.text.splitlines() if line.startswith("#EXT-X-BYTERANGE")]
    length, offset = (int(v) for v in ranges[0].split("@"))
    segment = api.get(f"/recordings/{recording_id}/parts/1", headers={"Range": f"bytes={offset}-{offset + length - 1}"})
    assert segment.status_code == 206
    assert len(segment.content) == length
    assert segment.content[0] == 0x47  # an MPEG-TS sync byte: segments start on packets

    # Media reads need a key or a session; the session cookie works without X-API-Key.
    anonymous = {"X-API-Key": ""}
    assert api.get(f"/recordings/{recording_id}/live.m3u8", headers=anonymous).status_code == 401
    signed_in = api.post("/ui/signin", data={"api_key": API_KEY}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert api.get(f"/recordings/{recording_id}/live.m3u8", headers=anonymous).status_code == 200
    assert api.get("/recordings", headers=anonymous).status_code == 401  # the JSON API keeps X-API-Key
    api.cookies.clear()

    api.post(f"/recordings/{recording_id}/stop")
    assert wait_finished(api, recording_id)["status"] == "completed"
    # Finalized: the parts are in the MP4; the playlist says the stream ended, with nothing left to load.
    ended = api.get(f"/recordings/{recording_id}/live.m3u8")
    assert ended.status_code == 200
    assert "#EXT-X-ENDLIST" in ended.text
    assert "#EXT-X-BYTERANGE" not in ended.text
    missing = api.get(f"/recordings/{uuid.uuid4()}/live.m3u8")
    assert missing.status_code == 404


def test_a_fragmented_mp4_recording_gets_an_init_map(api: TestClient, stream_server: StreamServer) -> None:
    stream = stream_server.stream(f"lp-{uuid.uuid4().hex[:8]}", segment_duration=0.5, window=8)
    created = api.post("/recordings", json={"url": stream.url("fmp4/index.m3u8"), "duration": 30})
    recording_id = created.json()["recording_id"]
    wait_until(lambda: api.get(f"/recordings/{recording_id}/live.m3u8").status_code == 200, timeout=20)
    time.sleep(1.0)
    text = api.get(f"/recordings/{recording_id}/live.m3u8").text
    map_line = next(line for line in text.splitlines() if line.startswith("#EXT-X-MAP:"))
    init_len = int(map_line.split('BYTERANGE="')[1].split("@")[0])
    init = api.get(f"/recordings/{recording_id}/parts/1", headers={"Range": f"bytes=0-{init_len - 1}"}).content
    assert init[4:8] == b"ftyp"
    first = next(line for line in text.splitlines() if line.startswith("#EXT-X-BYTERANGE"))
    _length, offset = (int(v) for v in first.split(":", 1)[1].split("@"))
    assert offset == init_len
    media = api.get(f"/recordings/{recording_id}/parts/1", headers={"Range": f"bytes={offset}-{offset + 15}"})
    assert media.content[4:8] in (b"moof", b"styp", b"sidx", b"prft", b"emsg")
    api.post(f"/recordings/{recording_id}/stop")
    wait_finished(api, recording_id)
