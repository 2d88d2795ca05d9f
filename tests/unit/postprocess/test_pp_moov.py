"""Room for the MP4 index reserved up front: the media is written once, the file is the same faststart MP4,
and a reservation that turns out too small falls back to the ordinary faststart move."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from livevault.postprocess import _moov, remux_parts, verify

NAMES = ("cont_1.ts", "cont_2.ts", "cont_3.ts")  # 6 s of media


def _sizes(path: Path) -> list[tuple[str, int]]:
    data, pos, boxes = path.read_bytes(), 0, []
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        if size == 1:
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
        boxes.append((data[pos + 4:pos + 8].decode("latin-1"), size))
        if size < 8:
            break
        pos += size
    return boxes


def test_a_known_length_puts_the_index_into_room_reserved_before_the_media(
    kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_moov, "MAX_SHARE", 1.0)  # the test clips are tiny: reserve even so
    plain = remux_parts(kit.parts(*NAMES), kit.work / "plain.mp4")
    reserved = remux_parts(kit.parts(*NAMES), kit.work / "reserved.mp4", media_seconds=6.0)
    boxes = _sizes(reserved.output)
    names = [name for name, _ in boxes]
    assert names[:3] == ["ftyp", "moov", "free"], boxes
    assert names.index("mdat") > names.index("moov")
    room = sum(size for name, size in boxes if name in ("moov", "free"))
    assert room >= _moov.FLOOR  # the index and the rest of its room, written where the muxer reserved it
    assert "free" not in [name for name, size in _sizes(plain.output) if size > 8]
    assert kit.numbers(reserved.output) == kit.numbers(plain.output) == list(range(150))
    assert (reserved.video_packets, reserved.audio_packets) == (plain.video_packets, plain.audio_packets)
    kit.check_timestamps(reserved.output)
    assert verify(reserved.output).video_frames == 150


def test_too_little_room_writes_the_file_again_with_faststart(
    kit, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in (("MAX_SHARE", 1.0), ("FLOOR", 0), ("VIDEO_BYTES", 0.01), ("AUDIO_BYTES", 0.01)):
        monkeypatch.setattr(_moov, name, value)
    with caplog.at_level(logging.WARNING):
        result = remux_parts(kit.parts(*NAMES), kit.work / "out.mp4", media_seconds=6.0)
    assert "too small" in caplog.text
    names = [name for name, size in _sizes(result.output) if size > 8]
    assert names.index("moov") < names.index("mdat")
    assert "free" not in names
    assert kit.numbers(result.output) == list(range(150))
    assert verify(result.output).video_frames == 150


def test_the_room_is_reserved_only_for_a_known_length_and_a_small_share_of_the_file() -> None:
    assert _moov.reserve(None, 1000.0, 10**9) is None
    assert _moov.reserve(0.0, 1000.0, 10**9) is None
    assert _moov.reserve(3600.0, 0.0, 10**9) is None
    one_hour = _moov.reserve(3600.0, 1000.0, 10**9)
    assert one_hour == int(1000.0 * 3600 * _moov.MARGIN) + _moov.FLOOR
    assert _moov.reserve(3600.0, 1000.0, 10**8) is None  # 4.6 MB of room in a 100 MB file: faststart instead
