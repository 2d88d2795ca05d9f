"""remux_parts: parts in, one MP4 out that holds every frame, in order, on one monotonic timeline."""

from __future__ import annotations

import errno
from pathlib import Path

import av
import pytest

from livevault.errors import DiskFull, NothingRecorded, RemuxFailed
from livevault.postprocess import probe, remux_parts, verify
from livevault.postprocess import remux as remux_module

SYNC_TOLERANCE = 0.05  # seconds between a beep and its picture


def _remux(kit, *names: str):
    output = kit.work / "out.mp4"
    result = remux_parts(kit.parts(*names), output)
    assert result.output == output
    assert output.is_file()
    assert not output.with_suffix(".partial.mp4").exists()
    kit.check_timestamps(output)
    return result, output


def _moov_first(kit, output: Path) -> None:
    boxes = kit.top_level_boxes(output)
    assert boxes.index("moov") < boxes.index("mdat"), boxes


def test_continuous_ts_parts_join_without_adjustment(kit) -> None:
    result, output = _remux(kit, "cont_1.ts", "cont_2.ts", "cont_3.ts")
    assert kit.numbers(output) == list(range(150))
    assert result.timestamp_adjustments == 0
    assert result.parts_used == (1, 2, 3)
    assert result.parts_skipped == ()
    assert result.video_packets == 150
    assert result.duration == pytest.approx(6.0, abs=0.15)
    _moov_first(kit, output)
    assert max(kit.sync_offsets(output)) < SYNC_TOLERANCE
    checked = verify(output)
    assert checked.video_frames == 150
    assert checked.errors_tolerated == 0
    assert checked.audio_frames == result.audio_packets


def test_timestamp_reset_and_forward_jump_are_closed_and_stay_in_sync(kit) -> None:
    names = ("cont_1.ts", "cont_2.ts", "reset.ts", "jump.ts")
    result, output = _remux(kit, *names)
    assert kit.numbers(output) == kit.expected(*names) == [*range(100), *range(150, 350)]
    # reset.ts starts 46 s late and restarts at 0 inside; jump.ts starts back at 10 s and leaps 88 s inside
    assert result.timestamp_adjustments >= 4
    assert result.duration == pytest.approx(12.0, abs=0.5)  # 2 + 2 + 4 + 4 seconds of clips
    offsets = kit.sync_offsets(output)
    assert len(offsets) == 12
    assert max(offsets) < SYNC_TOLERANCE
    _moov_first(kit, output)


@pytest.mark.parametrize(
    "names",
    [
        ("cont_1.ts", "part.flv", "part.mp4", "cont_2.ts"),
        ("part.flv", "cont_1.ts", "part.mp4"),
        ("part.mp4", "part.flv", "cont_3.ts"),
    ],
    ids=["ts-first", "flv-first", "fmp4-first"],
)
def test_containers_mix_and_every_sample_is_length_prefixed(kit, names) -> None:
    _result, output = _remux(kit, *names)
    assert kit.numbers(output) == kit.expected(*names)
    checked = verify(output)  # includes the length-prefixed NAL check of every video sample
    assert checked.errors_tolerated == 0
    assert max(kit.sync_offsets(output)) < SYNC_TOLERANCE
    with av.open(str(output)) as container:
        assert container.streams.video[0].codec_context.extradata[:1] == b"\x01"  # avcC
        assert container.streams.audio[0].codec_context.extradata  # AudioSpecificConfig


def test_damaged_parts_are_skipped_or_cut_and_the_rest_survives(kit) -> None:
    names = ("cont_1.ts", "garbage.ts", "empty.ts", "midgarbage.ts", "trunc.ts", "cont_2.ts")
    result, output = _remux(kit, *names)
    assert {(s.index, s.reason.split(" ")[0]) for s in result.parts_skipped} == {(2, "not"), (3, "file")}
    assert result.parts_used == (1, 4, 5, 6)
    got, want = kit.numbers(output), kit.expected(*names)
    assert got == [n for n in want if n in set(got)]  # same order, nothing repeated
    missing = sorted(set(want) - set(got))
    assert len(missing) <= 2
    assert all(480 <= n < 500 for n in missing)
    assert verify(output).video_frames == len(got)


def test_a_well_formed_part_full_of_noise_is_skipped(kit) -> None:
    result, output = _remux(kit, "cont_1.ts", "noise.ts", "cont_2.ts")
    assert [(s.index, s.reason) for s in result.parts_skipped] == [(2, "nothing in it decodes")]
    assert kit.numbers(output) == list(range(100))
    assert verify(output).errors_tolerated == 0


@pytest.mark.parametrize("last", ["trunc.flv", "trunc_frag.mp4"])
def test_truncated_last_part(kit, last: str) -> None:
    result, output = _remux(kit, "cont_1.ts", last)
    got, want = kit.numbers(output), kit.expected("cont_1.ts", last)
    assert len(got) > 70
    assert got[:50] == list(range(50))
    assert set(want) - set(got) <= {max(want)}
    assert result.parts_used == (1, 2)
    verify(output)


def test_resolution_change_keeps_every_frame(kit) -> None:
    """Documented result: the track header keeps the first size; the bigger part's frames decode at their
    own size because its parameter sets travel in-band. A warning says so."""
    result, output = _remux(kit, "cont_1.ts", "big.ts", "cont_2.ts")
    assert kit.numbers(output) == kit.expected("cont_1.ts", "big.ts", "cont_2.ts")
    sizes = kit.frame_sizes(output)
    assert sizes == [(160, 96)] * 50 + [(320, 192)] * 50 + [(160, 96)] * 50
    assert any("resolution changes to 320x192" in w for w in result.warnings)
    info = probe(output)
    assert (info.width, info.height) == (160, 96)


def test_video_only_parts(kit) -> None:
    result, output = _remux(kit, "vonly_1.ts", "vonly_2.ts")
    assert kit.numbers(output) == list(range(550, 650))
    assert result.audio_packets == 0
    info = probe(output)
    assert info.has_video
    assert not info.has_audio


def test_audio_comes_from_a_later_part_when_the_first_has_none(kit) -> None:
    result, output = _remux(kit, "vonly_1.ts", "cont_2.ts")
    assert kit.numbers(output) == list(range(550, 600)) + list(range(50, 100))
    assert result.audio_packets > 0
    assert probe(output).has_audio
    assert max(kit.sync_offsets(output)) < SYNC_TOLERANCE


def test_audio_only_recording(kit) -> None:
    result, output = _remux(kit, "audio.aac")
    assert result.video_packets == 0
    assert result.audio_packets > 80
    info = probe(output)
    assert info.audio_codec == "aac"
    assert not info.has_video
    assert verify(output, require_video=False).audio_frames == result.audio_packets


def test_hevc_from_ts_and_fragmented_mp4(kit) -> None:
    _result, output = _remux(kit, "hevc.ts", "hevc.mp4")
    assert kit.numbers(output) == list(range(700, 800))
    with av.open(str(output)) as container:
        assert container.streams.video[0].codec_context.codec_tag == "hvc1"
    assert verify(output).errors_tolerated == 0


def test_mp3_audio(kit) -> None:
    result, output = _remux(kit, "mp3.ts")
    assert probe(output).audio_codec == "mp3"
    assert verify(output).audio_frames == result.audio_packets


def test_part_with_other_video_codec_keeps_only_its_fitting_audio(kit) -> None:
    result, output = _remux(kit, "cont_1.ts", "hevc.ts")
    assert kit.numbers(output) == list(range(50))
    assert any("part 2: video" in w and "left out" in w for w in result.warnings)
    assert result.parts_used == (1, 2)


def test_audio_mp4_cannot_carry_is_left_out_and_the_video_kept(kit) -> None:
    result, output = _remux(kit, "alaw.flv")
    assert kit.numbers(output) == list(range(900, 950))
    assert result.audio_packets == 0
    assert any("pcm_alaw" in w and "left out" in w for w in result.warnings)


def test_nothing_usable_raises_nothing_recorded(kit) -> None:
    output = kit.work / "out.mp4"
    with pytest.raises(NothingRecorded):
        remux_parts([], output)
    with pytest.raises(NothingRecorded) as caught:
        remux_parts(kit.parts("garbage.ts", "empty.ts"), output)
    assert len(caught.value.details["skipped"]) == 2
    assert list(kit.work.iterdir()) == []


class _FailingOutput:
    """Stands in for the output container: passes calls through, then fails the n-th packet write."""

    def __init__(self, real, after: int, exc: Exception) -> None:
        self._real, self._after, self._exc, self._written = real, after, exc, 0

    def mux_one(self, packet) -> None:
        self._written += 1
        if self._written > self._after:
            raise self._exc
        self._real.mux_one(packet)

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def _fail_writes(monkeypatch, after: int, exc: Exception) -> None:
    real_init = remux_module._Remuxer.__init__

    def init(self, *args, **kwargs) -> None:
        real_init(self, *args, **kwargs)
        self._out = _FailingOutput(self._out, after, exc)

    monkeypatch.setattr(remux_module._Remuxer, "__init__", init)


def test_muxer_failure_raises_remux_failed_and_leaves_no_file(kit, monkeypatch) -> None:
    _fail_writes(monkeypatch, 40, av.error.FFmpegError(errno.EIO, "simulated I/O error"))
    with pytest.raises(RemuxFailed, match=r"out\.mp4"):
        remux_parts(kit.parts("cont_1.ts", "cont_2.ts"), kit.work / "out.mp4")
    assert list(kit.work.iterdir()) == []


def test_disk_full_is_reported_as_such(kit, monkeypatch) -> None:
    _fail_writes(monkeypatch, 10, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(DiskFull):
        remux_parts(kit.parts("cont_1.ts"), kit.work / "out.mp4")
    assert list(kit.work.iterdir()) == []


def test_a_muxer_that_rejects_everything_is_a_remux_failure(kit, monkeypatch) -> None:
    _fail_writes(monkeypatch, 0, av.error.InvalidDataError(1094995529, "rejected"))
    with pytest.raises(RemuxFailed, match="rejected all"):
        remux_parts(kit.parts("cont_1.ts"), kit.work / "out.mp4")
    assert list(kit.work.iterdir()) == []


def test_unwritable_destination_raises_remux_failed(kit) -> None:
    with pytest.raises(RemuxFailed):
        remux_parts(kit.parts("cont_1.ts"), kit.work / "missing-dir" / "out.mp4")


def test_existing_output_is_replaced_only_on_success(kit) -> None:
    output = kit.work / "out.mp4"
    output.write_bytes(b"old")
    with pytest.raises(NothingRecorded):
        remux_parts(kit.parts("garbage.ts"), output)
    assert output.read_bytes() == b"old"
    remux_parts(kit.parts("cont_1.ts"), output)
    assert kit.numbers(output) == list(range(50))
