"""Fixtures of the test stream server's own tests: one server per module, short segments, a client."""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
import httpx
import pytest

from livevault.testsrc import StreamServer, read_frame_number

SEGMENT = 0.5


@pytest.fixture(scope="module")
def server() -> Iterator[StreamServer]:
    with StreamServer(segment_duration=SEGMENT) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http


def decode(data: bytes, fmt: str | None = None) -> tuple[list[tuple[int, int | None]], int]:
    """((pts, frame number) of every video frame, audio samples) of an in-memory media file."""
    frames: list[tuple[int, int | None]] = []
    samples = 0
    with av.open(io.BytesIO(data), format=fmt) as container:
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    frames.append((frame.pts or 0, read_frame_number(frame)))
                elif isinstance(frame, av.AudioFrame):
                    samples += frame.samples
    return frames, samples


def numbers(data: bytes, fmt: str | None = None) -> list[int | None]:
    return [number for _, number in decode(data, fmt)[0]]


class Playlist:
    """A minimal RFC 8216 media playlist reader for these tests."""

    def __init__(self, text: str) -> None:
        lines = text.strip().splitlines()
        assert lines[0] == "#EXTM3U", text
        self.tags: dict[str, str] = {}
        self.segments: list[dict[str, object]] = []
        self.ended = False
        pending: dict[str, object] = {}
        for line in lines[1:]:
            if line.startswith("#EXTINF:"):
                pending["duration"] = float(line[8:].split(",")[0])
            elif line == "#EXT-X-DISCONTINUITY":
                pending["discontinuity"] = True
            elif line.startswith("#EXT-X-BYTERANGE:"):
                length, offset = line[17:].split("@")
                pending["byterange"] = (int(length), int(offset))
            elif line.startswith("#EXT-X-KEY:"):
                pending["key"] = line[11:]
            elif line.startswith("#EXT-X-MAP:"):
                pending["map"] = line[11:].split('URI="')[1].split('"')[0]
            elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
                pending["pdt"] = line[25:]
            elif line == "#EXT-X-ENDLIST":
                self.ended = True
            elif line.startswith("#"):
                name, _, value = line[1:].partition(":")
                self.tags[name] = value
            else:
                pending["uri"] = line
                self.segments.append(pending)
                pending = {}

    @property
    def media_sequence(self) -> int:
        return int(self.tags["EXT-X-MEDIA-SEQUENCE"])

    @property
    def uris(self) -> list[str]:
        return [str(segment["uri"]) for segment in self.segments]
