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
