"""A reconnect/resume part that starts by resending the end of the previous part (a server's GOP cache):
every frame once, in order, in sync; a part on a new clock, or after a discontinuity, is appended.

(Sync is not measured where frames repeat: ``Kit.sync_offsets`` pairs a beep with one showing per frame.)"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import pytest

from livevault.domain.capture import PartContainer, PartInfo, PartReason
from livevault.postprocess import remux_parts, verify
from livevault.postprocess._timeline import OutTrack, Timeline, Track

if TYPE_CHECKING:
    from pathlib import Path

    from livevault.postprocess import RemuxResult

SYNC_TOLERANCE = 0.05
CONTAINERS = {"flv": PartContainer.FLV, "ts": PartContainer.TS}


def _remux(kit, resent, ext: str, first: str, second: str, reason: PartReason) -> tuple[RemuxResult, Path]:
    directory, _repeats = resent
    parts = [(PartInfo(i, f"{name}.{ext}", CONTAINERS[ext], why, 0.0), directory / f"{name}.{ext}")
             for i, (name, why) in enumerate([(first, PartReason.START), (second, reason)], start=1)]
    output = kit.work / "out.mp4"
    result = remux_parts(parts, output)
    kit.check_timestamps(output)
    assert result.parts_used == (1, 2)
    return result, output


def _numbers(kit, resent, ext: str, *names: str) -> list[int]:
    return [n for name in names for n in kit.numbers(resent[0] / f"{name}.{ext}")]


@pytest.mark.parametrize("reason", [PartReason.RECONNECT, PartReason.RESUME])
@pytest.mark.parametrize("first", ["a_end", "a_mid"])
@pytest.mark.parametrize("ext", ["flv", "ts"])
def test_resent_gop_is_dropped_and_every_frame_kept_once(kit, resent, ext: str, first: str, reason) -> None:
    assert _numbers(kit, resent, ext, "b")[0] == 96  # the part really repeats the previous one's end
    assert _numbers(kit, resent, ext, first)[-1] >= 100
    result, output = _remux(kit, resent, ext, first, "b", reason)
    assert kit.numbers(output) == list(range(201))
    assert result.overlap_packets_dropped == resent[1][ext][first]
    assert result.timestamp_adjustments == 0
    assert result.packets_dropped == 0
    assert result.duration == pytest.approx(201 / 25, abs=0.15)
    assert max(kit.sync_offsets(output)) < SYNC_TOLERANCE
    assert len(kit.sync_offsets(output)) == 9  # one beep a second: none repeated, none lost
    assert verify(output).errors_tolerated == 0
    assert not any("part 2" in w for w in result.warnings)


@pytest.mark.parametrize("ext", ["flv", "ts"])
def test_a_part_rebased_to_zero_is_a_new_timeline_and_appended(kit, resent, ext: str) -> None:
    result, output = _remux(kit, resent, ext, "a_end", "b_zero", PartReason.RECONNECT)
    assert kit.numbers(output) == _numbers(kit, resent, ext, "a_end", "b_zero") == [*range(120), *range(96, 201)]
    assert result.overlap_packets_dropped == 0
    assert result.timestamp_adjustments >= 1
    assert any("part 2 (reconnect)" in w and "content differs" in w for w in result.warnings)


@pytest.mark.parametrize("ext", ["flv", "ts"])
def test_a_discontinuity_part_is_appended_even_when_its_timestamps_overlap(kit, resent, ext: str) -> None:
    result, output = _remux(kit, resent, ext, "a_end", "b", PartReason.DISCONTINUITY)
    assert kit.numbers(output) == [*range(120), *range(96, 201)]
    assert result.overlap_packets_dropped == 0
    assert result.timestamp_adjustments >= 1
    assert result.warnings == ()


@pytest.mark.parametrize("ext", ["flv", "ts"])
def test_overlapping_timestamps_with_other_content_are_appended_not_dropped(kit, resent, ext: str) -> None:
    """Same clock numbers but other bytes (re-encoded, or a clock restarted nearby): dropping would lose
    media if it is not a repeat, so the part is appended, with a warning when the overlap is plain."""
    result, output = _remux(kit, resent, ext, "a_end", "b_fresh", PartReason.RECONNECT)
    assert kit.numbers(output) == [*range(120), *range(96, 201)]
    assert result.overlap_packets_dropped == 0
    assert result.timestamp_adjustments >= 1
    assert any("part 2 (reconnect)" in w and "content differs" in w for w in result.warnings)


@pytest.mark.parametrize("ext", ["flv", "ts"])
def test_a_part_right_after_the_previous_one_keeps_its_clock(kit, resent, ext: str) -> None:
    """Nothing resent (the server went on where the cut was): no shift, nothing dropped."""
    result, output = _remux(kit, resent, ext, "a_end", "c", PartReason.RECONNECT)
    assert kit.numbers(output) == list(range(201))
    assert result.timestamp_adjustments == 0
    assert result.overlap_packets_dropped == 0
    assert max(kit.sync_offsets(output)) < SYNC_TOLERANCE


# The timeline on its own, with stand-in packets whose bytes name their frame.

TB, STEP = Fraction(1, 90000), 3600


@dataclass
class _Stream:
    time_base: Fraction


class _Packet(bytes):
    dts: int
    pts: int
    duration: int
    is_keyframe: bool
    time_base: Fraction | None = None
    stream: object = None

    @property
    def size(self) -> int:
        return len(self)


def _packet(frame: int, raw: int, *, key: bool, content: bytes = b"") -> _Packet:
    packet = _Packet(content or b"frame %d" % frame)
    packet.dts = packet.pts = raw
    packet.duration, packet.is_keyframe = STEP, key
    return packet


class _Rig:
    def __init__(self, kind: str = "video") -> None:
        self.written: list[bytes] = []
        self.timeline = Timeline(self._mux, remember=True)
        self.out = OutTrack(_Stream(TB), kind, tb=TB)  # type: ignore[arg-type]

    def _mux(self, packet: _Packet) -> bool:
        self.written.append(bytes(packet))
        return True

    def part(self, frames: range, start: int, *, rejoin: bool = False, key_every: int = 10,
             odd: dict[int, bytes] | None = None) -> None:
        """Frames ``frames`` whose raw DTS begins at ``start`` ticks; ``odd`` replaces some frames' bytes."""
        track = Track(_Stream(TB), self.out)  # type: ignore[arg-type]
        self.timeline.begin_part([track], rejoin=rejoin)
        for i, frame in enumerate(frames):
            packet = _packet(frame, start + i * STEP, key=frame % key_every == 0, content=(odd or {}).get(frame, b""))
            self.timeline.feed(track, packet)  # type: ignore[arg-type]
        self.timeline.end_part()

    def frames(self) -> list[int]:
        return [int(data.split()[1]) for data in self.written]


def test_resent_video_that_stops_matching_waits_for_the_next_keyframe() -> None:
    rig = _Rig()
    rig.part(range(28), 0)
    rig.part(range(20, 40), 20 * STEP, rejoin=True, odd={25: b"frame 25 encoded otherwise"})
    assert rig.frames() == [*range(28), *range(30, 40)]  # 28, 29 would decode against other references
    assert (rig.timeline.stats.overlap, rig.timeline.stats.overlap_cut) == (8, 2)
    assert rig.timeline.stats.dropped == 2
    assert rig.timeline.stats.adjustments == 0


def test_resent_video_that_matches_goes_on_mid_gop() -> None:
    rig = _Rig()
    rig.part(range(28), 0)
    rig.part(range(20, 40), 20 * STEP, rejoin=True)
    assert rig.frames() == list(range(40))
    assert rig.timeline.stats.overlap == 8


def test_an_audio_only_part_is_judged_on_its_audio() -> None:
    rig = _Rig("audio")
    rig.part(range(100), 0)
    rig.part(range(80, 150), 80 * STEP, rejoin=True)
    assert rig.frames() == list(range(150))
    assert rig.timeline.stats.overlap == 20


@pytest.mark.parametrize(("start", "label"), [(200 * STEP, "far after"), (-(2**33) + 5 * STEP, "wrapped"),
                                              (5 * STEP, "restarted near 0")])
def test_a_part_elsewhere_on_the_clock_is_appended(start: int, label: str) -> None:
    rig = _Rig()
    rig.part(range(100), 0)
    rig.part(range(200, 250), start, rejoin=True)
    assert rig.frames() == [*range(100), *range(200, 250)], label
    assert rig.timeline.stats.overlap == 0
    assert rig.timeline.stats.adjustments == 1
    assert rig.out.last_dts == 149 * STEP  # right after the first part: no gap, no overlap
