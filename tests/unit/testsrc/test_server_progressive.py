"""The endless FLV and TS bodies: live pacing, decodability, clean ends."""

from __future__ import annotations

import io
import time

import av
import httpx

from livevault.testsrc import StreamServer
from tests.unit.testsrc.conftest import SEGMENT, decode


def _read_for(url: str, seconds: float) -> bytes:
    body = bytearray()
    deadline = time.monotonic() + seconds
    with httpx.stream("GET", url, timeout=10) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            body += chunk
            if time.monotonic() > deadline:
                break
    return bytes(body)


def test_flv_is_live_paced_and_decodes_with_increasing_frames(server: StreamServer) -> None:
    stream = server.stream("flv", preroll=2)
    started = time.monotonic()
    body = _read_for(stream.flv_url, 1.2)
    assert time.monotonic() - started >= 1.1 > 2 * SEGMENT
    assert body[:3] == b"FLV"
    frames, samples = decode(body, "flv")
    read = [n for _, n in frames]
    assert read[0] == 12  # starts at the live edge: the newest complete segment
    assert read == list(range(read[0], read[0] + len(read)))
    assert len(read) >= 36
    assert samples > 0
    deadline = time.monotonic() + 2
    while stream.connections()[-1].open and time.monotonic() < deadline:
        time.sleep(0.02)
    connection = stream.connections()[-1]
    assert connection.kind == "flv"
    assert connection.reason == "client_gone"
    assert connection.frame_ranges[0] == range(12, 24)
    assert [r.start for r in connection.frame_ranges] == list(range(12, 12 * (len(connection.segments) + 1), 12))


def test_progressive_ts_decodes_continuously(server: StreamServer) -> None:
    stream = server.stream("pts", preroll=1)
    body = _read_for(stream.ts_url, 0.8)
    frames, _ = decode(body)
    read = [n for _, n in frames]
    assert read[:12] == list(range(12))
    assert read == list(range(len(read)))


def test_end_finishes_progressive_bodies_cleanly(server: StreamServer) -> None:
    stream = server.stream("flv-end", preroll=1)
    with httpx.stream("GET", stream.flv_url, timeout=10) as response:
        chunks = response.iter_bytes()
        body = bytearray(next(chunks))
        stream.end()
        for chunk in chunks:  # ends without an error
            body += chunk
    frames, _ = decode(bytes(body), "flv")
    assert [n for _, n in frames] == list(range(12))
    deadline = time.monotonic() + 2
    while stream.connections()[-1].open and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stream.connections()[-1].reason == "end"


def test_flv_carries_a_resolution_change(server: StreamServer) -> None:
    stream = server.stream("flv-reinit", preroll=1)
    with httpx.stream("GET", stream.flv_url, timeout=10) as response:
        chunks = response.iter_bytes()
        body = bytearray(next(chunks))
        stream.init_change()
        stream.wait_for_segments(stream.count() + 1, timeout=5)
        stream.end()
        for chunk in chunks:
            body += chunk
    frames, _ = decode(bytes(body), "flv")
    read = [n for _, n in frames]
    assert read == list(range(read[0], read[0] + len(read)))
    assert len(read) >= 24
    with av.open(io.BytesIO(bytes(body)), format="flv") as container:
        sizes = {(frame.width, frame.height) for frame in container.decode(video=0)}
    assert sizes == {(320, 240), (384, 216)}
    assert stream.connections()[-1].reason == "end"


def test_offline_ends_open_bodies_and_stall_pauses_them(server: StreamServer) -> None:
    stream = server.stream("flv-faults", preroll=1)
    assert httpx.head(stream.flv_url, timeout=5).headers["content-type"] == "video/x-flv"
    with httpx.stream("GET", stream.ts_url, timeout=10) as response:
        chunks = response.iter_bytes()
        received = len(next(chunks))
        stream.stall(1.2)
        paused = time.monotonic()
        already_sent = stream.connections()[-1].bytes
        while received <= already_sent:  # the next segment only comes after the stall
            received += len(next(chunks))
        assert time.monotonic() - paused >= 1.0
        stream.offline(0.5)
        for _ in chunks:  # finishes cleanly
            pass
    connection = stream.connections()[-1]
    assert connection.reason == "offline"
    indexes = [index for index, _, _ in connection.segments]
    assert indexes[0] == 0
    assert indexes[1] > 1  # resumed at the live edge after the stall
