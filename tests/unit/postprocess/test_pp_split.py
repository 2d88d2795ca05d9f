"""remux_parts with a Split: consecutive pieces cut at keyframes hold every frame exactly once."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from livevault.postprocess import Cut, Split, remux_parts, verify


def _pieces(kit, names: tuple[str, ...], **split: float) -> list[Path]:
    parts, start, out = kit.parts(*names), None, []
    for n in range(1, 50):
        target = kit.work / f"piece{n}.mp4"
        result = remux_parts(parts, target, Split(start=start, **split))
        if result.cut is None:
            result = remux_parts(parts, target, Split(start=start))
            out.append(target)
            return out
        assert target.is_file()
        assert result.cut != start
        start = result.cut
        out.append(target)
    raise AssertionError("no end")


def _audio_packets(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(audio=0) if p.size)


def _first_packet_is_keyframe(path: Path) -> bool:
    with av.open(str(path)) as container:
        packet = next(p for p in container.demux(video=0) if p.size)
        return bool(packet.is_keyframe)


@pytest.mark.parametrize("names", [("cont_1.ts", "cont_2.ts", "cont_3.ts"), ("whole.flv",), ("part.mp4",)])
def test_pieces_by_duration_hold_every_frame_once(kit, names: tuple[str, ...]) -> None:
    pieces = _pieces(kit, names, seconds=0.5)
    numbers = [kit.numbers(p) for p in pieces]
    assert [n for piece in numbers for n in piece] == kit.expected(*names)
    assert len(pieces) >= 2
    for piece in pieces:
        verify(piece)
        kit.check_timestamps(piece)
    assert all(_first_packet_is_keyframe(p) for p in pieces[1:])
    whole = remux_parts(kit.parts(*names), kit.work / "whole.mp4")
    assert sum(_audio_packets(p) for p in pieces) == whole.audio_packets, "audio is split, not lost or repeated"


def test_pieces_by_size_cut_inside_a_part(kit) -> None:
    names = ("cont_1.ts", "cont_2.ts", "cont_3.ts")
    size = (kit.media / "cont_1.ts").stat().st_size // 8
    pieces = _pieces(kit, names, size=size)
    assert len(pieces) >= 3
    assert [n for p in pieces for n in kit.numbers(p)] == list(range(150))


def test_a_cut_at_the_end_of_a_growing_part_waits_for_more(kit, tmp_path: Path) -> None:
    whole = (kit.media / "cont_1.ts").read_bytes()
    grown = tmp_path / "grown.ts"
    grown.write_bytes(whole)
    parts = [(kit.parts("cont_1.ts")[0][0], grown)]
    early = remux_parts(parts, tmp_path / "a.mp4", Split(seconds=0.5, growing=1), limits={1: len(whole) * 3 // 4})
    later = remux_parts(parts, tmp_path / "b.mp4", Split(seconds=0.5, growing=1))
    assert early.cut is not None
    assert later.cut is not None
    assert early.cut == later.cut
    assert later.cut.part == 1
    assert isinstance(later.cut, Cut)
    tail = remux_parts(parts, tmp_path / "c.mp4", Split(seconds=5.0, growing=1))
    assert tail.cut is None
    assert not (tmp_path / "c.mp4").exists()


@pytest.mark.parametrize("seek_back", [None, 4000, 188 * 40])
def test_pieces_of_one_long_ts_part_read_from_near_the_cut(kit, tmp_path: Path, seek_back: int | None) -> None:
    """A long MPEG-TS part is read from a little before each cut, not from its start: same frames, once."""
    whole = tmp_path / "long.ts"
    whole.write_bytes(b"".join((kit.media / f"cont_{i}.ts").read_bytes() for i in (1, 2, 3)))
    parts = [(kit.parts("cont_1.ts")[0][0], whole)]
    start, numbers, cuts = None, [], []
    for n in range(1, 20):
        target = tmp_path / f"p{n}.mp4"
        result = remux_parts(parts, target, Split(start=start, seconds=0.5, seek_back=seek_back))
        if result.cut is None:
            remux_parts(parts, target, Split(start=start, seek_back=seek_back))
            numbers.append(kit.numbers(target))
            break
        numbers.append(kit.numbers(target))
        cuts.append(result.cut)
        start = result.cut
    assert [f for piece in numbers for f in piece] == list(range(150))
    assert len(numbers) >= 4
    if seek_back is not None:
        assert any(c.packet == -1 for c in cuts[1:]), "later cuts were found in reads that began inside the part"
