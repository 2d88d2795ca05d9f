"""The timestamp rewriting on its own, with stand-in packets (no media needed)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

from livevault.postprocess._timeline import PENDING_LIMIT, OutTrack, Timeline, Track

VIDEO_TB, AUDIO_TB = Fraction(1, 90000), Fraction(1, 44100)
FRAME, AFRAME = 3600, 1024  # 25 fps video; 1024-sample AAC frames


@dataclass
class FakeStream:
    time_base: Fraction


@dataclass
class FakePacket:
    dts: int | None
    pts: int | None
    duration: int | None = None
    time_base: Fraction | None = None
    stream: object = None
    kind: str = ""


class Rig:
    def __init__(self) -> None:
        self.written: list[FakePacket] = []
        self.timeline = Timeline(self._mux)
        self.vout = OutTrack(FakeStream(VIDEO_TB), "video", tb=VIDEO_TB)
        self.aout = OutTrack(FakeStream(AUDIO_TB), "audio", tb=AUDIO_TB)

    def _mux(self, packet: FakePacket) -> bool:
        self.written.append(packet)
        return True

    def part(self, *, audio: bool = True) -> tuple[Track, Track | None]:
        video = Track(FakeStream(VIDEO_TB), self.vout)  # type: ignore[arg-type]
        sound = Track(FakeStream(AUDIO_TB), self.aout) if audio else None  # type: ignore[arg-type]
        self.timeline.begin_part([t for t in (video, sound) if t is not None])
        return video, sound

    def play(self, video: Track, audio: Track | None, start: float, seconds: float) -> None:
        """Feed interleaved packets whose raw clock starts at ``start`` seconds."""
        v0, a0 = round(start * 90000), round(start * 44100)
        frames, aframes = round(seconds * 25), round(seconds * 44100 / AFRAME)
        vi = ai = 0
        while vi < frames or (audio is not None and ai < aframes):
            if audio is None or (vi < frames and vi * FRAME / 90000 <= ai * AFRAME / 44100):
                dts = v0 + vi * FRAME
                self.timeline.feed(video, FakePacket(dts, dts + 2 * FRAME, FRAME, kind="v"))  # type: ignore[arg-type]
                vi += 1
            else:
                dts = a0 + ai * AFRAME
                self.timeline.feed(audio, FakePacket(dts, dts, AFRAME, kind="a"))  # type: ignore[arg-type]
                ai += 1

    def times(self, kind: str) -> list[float]:
        tb = VIDEO_TB if kind == "v" else AUDIO_TB
        return [float((p.dts or 0) * tb) for p in self.written if p.kind == kind]

    def dts(self, kind: str) -> list[int | None]:
        return [p.dts for p in self.written if p.kind == kind]

    def assert_monotonic(self) -> None:
        for kind in ("v", "a"):
            dts = [p.dts for p in self.written if p.kind == kind]
            assert all(b > a for a, b in itertools.pairwise(dts)), kind  # type: ignore[operator]
            assert all((p.pts or 0) >= (p.dts or 0) for p in self.written)


def _first_after(times: list[float], after: float) -> float:
    return min(t for t in times if t > after)


def test_a_single_part_starts_at_zero_and_keeps_its_spacing() -> None:
    rig = Rig()
    video, audio = rig.part()
    rig.play(video, audio, start=1000.0, seconds=2)
    rig.timeline.end_part()
    assert rig.times("v")[:3] == [0.0, 0.04, 0.08]
    assert rig.timeline.stats.adjustments == 0
    rig.assert_monotonic()


def test_a_gap_between_parts_is_closed_with_one_shift_for_both_streams() -> None:
    rig = Rig()
    rig.play(*rig.part(), start=0.0, seconds=2)
    rig.timeline.end_part()
    rig.play(*rig.part(), start=30.0, seconds=2)  # 28 s later: reconnect
    rig.timeline.end_part()
    assert rig.timeline.stats.adjustments == 1
    v2, a2 = _first_after(rig.times("v"), 1.97), _first_after(rig.times("a"), 2.0)
    assert v2 < 2.1
    assert abs(v2 - a2) < 0.03
    rig.assert_monotonic()


def test_continuing_parts_keep_their_timestamps() -> None:
    rig = Rig()
    rig.play(*rig.part(), start=5.0, seconds=2)
    rig.timeline.end_part()
    rig.play(*rig.part(), start=7.0, seconds=2)
    rig.timeline.end_part()
    assert rig.timeline.stats.adjustments == 0
    assert rig.dts("v") == [i * FRAME for i in range(100)]


def test_backward_reset_inside_a_part() -> None:
    rig = Rig()
    video, audio = rig.part()
    rig.play(video, audio, start=50.0, seconds=2)
    rig.play(video, audio, start=0.0, seconds=2)  # encoder restart: clock back to zero
    rig.timeline.end_part()
    assert rig.timeline.stats.adjustments == 1
    vt = rig.times("v")
    assert len(vt) == 100
    assert vt[-1] < 4.0
    rig.assert_monotonic()


def test_forward_jump_inside_a_part() -> None:
    rig = Rig()
    video, audio = rig.part()
    rig.play(video, audio, start=0.0, seconds=2)
    rig.play(video, audio, start=8000.0, seconds=2)
    rig.timeline.end_part()
    assert rig.times("v")[-1] < 4.0
    assert rig.timeline.stats.adjustments == 1
    rig.assert_monotonic()


def test_an_audio_dropout_keeps_audio_on_the_video_clock() -> None:
    """Only audio jumps (5 s of it missing) while video carries on: no shift, the audio gap stays."""
    rig = Rig()
    video, audio = rig.part()
    assert audio is not None
    rig.play(video, audio, start=0.0, seconds=2)
    for i in range(125):  # 5 s of video alone
        dts = 180000 + i * FRAME
        rig.timeline.feed(video, FakePacket(dts, dts, FRAME, kind="v"))  # type: ignore[arg-type]
    rig.play(video, audio, start=7.0, seconds=PENDING_LIMIT * AFRAME / 44100 + 2)
    rig.timeline.end_part()
    assert rig.timeline.stats.adjustments == 0
    assert _first_after(rig.times("a"), 2.5) >= 6.9
    rig.assert_monotonic()


def test_missing_timestamps_are_derived_and_counted() -> None:
    rig = Rig()
    video, _ = rig.part(audio=False)
    for i in range(10):
        dts = i * FRAME
        packet = FakePacket(None if i == 5 else dts, None if i in (5, 6) else dts, FRAME, kind="v")
        rig.timeline.feed(video, packet)  # type: ignore[arg-type]
    rig.timeline.end_part()
    assert rig.dts("v") == [i * FRAME for i in range(10)]
    assert rig.timeline.stats.repaired == 3


def test_a_packet_without_any_timestamp_before_the_first_is_dropped() -> None:
    rig = Rig()
    video, _ = rig.part(audio=False)
    rig.timeline.feed(video, FakePacket(None, None, FRAME, kind="v"))  # type: ignore[arg-type]
    rig.play(video, None, start=0.0, seconds=1)
    rig.timeline.end_part()
    assert rig.timeline.stats.dropped == 1
    assert len(rig.times("v")) == 25
