"""verify, probe, make_thumbnail and keyframe_times on a remuxed recording and on broken files."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from livevault.errors import VerifyFailed
from livevault.postprocess import keyframe_times, make_thumbnail, probe, verify
from livevault.postprocess.verify import _framing_ok


def read_number(frame: av.VideoFrame) -> int:
    """Same decoding of the drawn frame number as the conftest's (kept import-free)."""
    gray = frame.to_ndarray(format="gray")
    height, width = gray.shape
    block = width // 12
    return sum(1 << bit for bit in range(12) if gray[height // 2, bit * block + block // 2] > 128)


def test_full_verify_decodes_every_frame_and_hands_them_over(recording: Path) -> None:
    seen: list[int] = []
    result = verify(recording, on_video_frame=lambda frame: seen.append(read_number(frame)))
    assert seen == list(range(150))
    assert result.video_frames == result.video_packets == 150
    assert result.audio_frames == result.audio_packets
    assert result.duration == pytest.approx(6.0, abs=0.15)
    assert result.errors_tolerated == 0


def test_quick_verify_reads_everything_but_decodes_the_edges(recording: Path) -> None:
    seen: list[int] = []
    result = verify(recording, mode="quick", on_video_frame=lambda frame: seen.append(read_number(frame)))
    assert result.video_packets == 150
    assert seen == list(range(25)) + list(range(125, 150))  # first and last GOP (25 frames each)
    assert 0 < result.audio_frames <= 40


@pytest.mark.parametrize("mode", ["full", "quick"])
def test_non_monotonic_timestamps_fail(media_dir: Path, mode: str) -> None:
    with pytest.raises(VerifyFailed, match="backwards"):
        verify(media_dir / "reset.ts", mode=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["garbage.ts", "empty.ts", "does-not-exist.mp4"])
def test_unreadable_files_fail(media_dir: Path, name: str) -> None:
    with pytest.raises(VerifyFailed):
        verify(media_dir / name)


def test_audio_only_needs_permission(media_dir: Path) -> None:
    with pytest.raises(VerifyFailed, match="no video stream"):
        verify(media_dir / "audio.aac")
    assert verify(media_dir / "audio.aac", require_video=False).audio_frames > 80


def test_length_prefix_check() -> None:
    assert _framing_ok(b"\x00\x00\x00\x02ab\x00\x00\x00\x01c", 4)
    assert not _framing_ok(b"\x00\x00\x00\x01\x67abc", 4)  # Annex B start code in an MP4 sample
    assert not _framing_ok(b"\x00\x00\x00\x09ab", 4)
    assert not _framing_ok(b"", 4)


def test_probe_of_the_recording(recording: Path) -> None:
    info = probe(recording)
    assert info.format_name.startswith("mov,mp4")
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height) == (160, 96)
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(6.0, abs=0.15)
    assert info.size == recording.stat().st_size
    assert info.bit_rate > 0
    assert (info.sample_rate, info.channels) == (44100, 1)
    assert info.has_video
    assert info.has_audio


def test_probe_of_a_part(media_dir: Path) -> None:
    info = probe(media_dir / "vonly_1.ts")
    assert info.format_name == "mpegts"
    assert info.has_video
    assert not info.has_audio


@pytest.mark.parametrize("name", ["garbage.ts", "does-not-exist.mp4"])
def test_probe_of_unreadable_files_fails(media_dir: Path, name: str) -> None:
    with pytest.raises(VerifyFailed):
        probe(media_dir / name)


def _jpeg(path: Path) -> av.VideoFrame:
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"
    with av.open(str(path)) as container:
        assert container.format.name in {"jpeg_pipe", "image2"}
        return next(container.decode(video=0))


def test_thumbnail_defaults_to_ten_percent_in(recording: Path, tmp_path: Path) -> None:
    out = make_thumbnail(recording, tmp_path / "thumb.jpg")
    frame = _jpeg(out)
    assert (frame.width, frame.height) == (320, 192)
    assert 13 <= read_number(frame) <= 17  # 10 % of 150 frames


def test_thumbnail_at_a_time_and_width(recording: Path, tmp_path: Path) -> None:
    frame = _jpeg(make_thumbnail(recording, tmp_path / "t.jpg", at=2.0, width=120))
    assert (frame.width, frame.height) == (120, 72)
    assert read_number(frame) == 50
    frame = _jpeg(make_thumbnail(recording, tmp_path / "end.jpg", at=999.0))
    assert read_number(frame) == 149  # past the end: the last frame
    assert sorted(p.name for p in tmp_path.iterdir()) == ["end.jpg", "t.jpg"]


def test_thumbnail_needs_video(media_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(VerifyFailed, match="no video stream"):
        make_thumbnail(media_dir / "audio.aac", tmp_path / "t.jpg")
    assert not (tmp_path / "t.jpg").exists()


def test_keyframe_times(recording: Path, media_dir: Path) -> None:
    assert keyframe_times(recording) == pytest.approx([0, 1, 2, 3, 4, 5])
    assert keyframe_times(media_dir / "audio.aac") == ()
