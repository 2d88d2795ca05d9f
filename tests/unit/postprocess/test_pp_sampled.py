"""verify(mode="sampled"): the MP4's structure is checked for every sample, a few GOPs are decoded.

The damaged files are made from a remuxed recording with byte edits located through PyAV (packet
positions) and a small box walker of this file's own, not through the code under test.
"""

from __future__ import annotations

import importlib
import shutil
import struct
from pathlib import Path

import av
import pytest
from tests.unit.postprocess.test_pp_checks import read_number

from livevault.errors import VerifyFailed
from livevault.postprocess import remux_parts, verify
from livevault.postprocess._timeline import Timeline

verify_module = importlib.import_module("livevault.postprocess.verify")  # the package exports the function

# the part combinations the remux tests verify (damaged inputs the remux repairs or drops)
SCENARIOS = [
    ("cont_1.ts", "cont_2.ts", "cont_3.ts"),
    ("cont_1.ts", "cont_2.ts", "reset.ts", "jump.ts"),
    ("part.flv", "part.mp4", "cont_1.ts"),
    ("trunc.ts", "cont_1.ts"),
    ("midgarbage.ts",),
    ("cont_1.ts", "noise.ts", "cont_2.ts"),
    ("trunc.flv", "cont_1.ts"),
    ("trunc_frag.mp4", "cont_2.ts"),
    ("hevc.ts", "hevc.mp4"),
    ("vonly_1.ts", "vonly_2.ts"),
    ("big.ts", "cont_1.ts"),
]


def _video_samples(path: Path) -> list[tuple[int, int]]:
    """(file offset, size) of every video sample, as PyAV reads them."""
    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(video=0) if p.size and p.pos is not None]


def _copy(recording: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.mp4"
    shutil.copyfile(recording, target)
    return target


@pytest.mark.parametrize("names", SCENARIOS, ids=lambda names: "+".join(names))
def test_sampled_agrees_with_full_on_every_remux_scenario(kit, names: tuple[str, ...]) -> None:
    output = kit.work / "out.mp4"
    remux_parts(kit.parts(*names), output)
    full = verify(output, mode="full")
    sampled = verify(output, mode="sampled")
    assert sampled.mode == "sampled"
    assert (sampled.video_packets, sampled.audio_packets) == (full.video_packets, full.audio_packets)
    assert sampled.duration == pytest.approx(full.duration, abs=0.1)
    assert 0 < sampled.video_frames <= full.video_frames


def test_sampled_decodes_the_first_and_last_gop(recording: Path) -> None:
    seen: list[int] = []
    result = verify(recording, mode="sampled", on_video_frame=lambda frame: seen.append(read_number(frame)))
    assert seen == list(range(25)) + list(range(125, 150))
    assert result.video_packets == 150
    assert result.video_frames == 50
    assert result.audio_frames > 0
    assert result.duration == pytest.approx(6.0, abs=0.15)
    assert result.errors_tolerated == 0


def test_sampled_decodes_one_gop_every_few_minutes(recording: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "SAMPLE_EVERY", 2.0)  # the six-second file stands in for hours
    seen: list[int] = []
    verify(recording, mode="sampled", on_video_frame=lambda frame: seen.append(read_number(frame)))
    assert seen == [*range(25), *range(50, 75), *range(100, 125), *range(125, 150)]


def test_a_flipped_byte_in_a_nal_length_is_found(recording: Path, tmp_path: Path) -> None:
    damaged = _copy(recording, tmp_path)
    pos, _size = _video_samples(recording)[60]  # inside a GOP that sampled mode does not decode
    data = bytearray(damaged.read_bytes())
    data[pos + 2] ^= 0x10  # the first NAL's length prefix, 4096 off
    damaged.write_bytes(bytes(data))
    with pytest.raises(VerifyFailed, match="length-prefixed NAL units") as caught:
        verify(damaged, mode="sampled")
    assert "sample 60" in str(caught.value.details)


def test_a_truncated_last_sample_is_found(recording: Path, tmp_path: Path) -> None:
    damaged = _copy(recording, tmp_path)
    data = damaged.read_bytes()
    damaged.write_bytes(data[:-100])  # faststart: the last sample ends the file
    with pytest.raises(VerifyFailed, match="cut off"):
        verify(damaged, mode="sampled")


def test_an_empty_sample_is_found(recording: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "empty-sample.mp4"
    _rewrite_stsz(recording, damaged, sample=70)
    with pytest.raises(VerifyFailed, match="empty"):
        verify(damaged, mode="sampled")


def test_a_dts_that_goes_back_is_found(recording: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "backwards.mp4"
    _rewrite_stts(recording, damaged, sample=80)
    with pytest.raises(VerifyFailed, match="backwards") as caught:
        verify(damaged, mode="sampled")
    assert caught.value.details["track"] == "video"


def test_other_containers_are_read_packet_by_packet(media_dir: Path) -> None:
    result = verify(media_dir / "cont_1.ts", mode="sampled")
    assert result.mode == "quick"
    with pytest.raises(VerifyFailed, match="backwards"):
        verify(media_dir / "reset.ts", mode="sampled")


@pytest.mark.parametrize("name", ["garbage.ts", "empty.ts", "does-not-exist.mp4"])
def test_unreadable_files_fail_sampled(media_dir: Path, name: str) -> None:
    with pytest.raises(VerifyFailed):
        verify(media_dir / name, mode="sampled")


# --- a minimal box editor: rewrite one table of the video track, fixing the sizes of its parents -------


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    out, pos = [], start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos:pos + 4], "big")
        out.append((data[pos + 4:pos + 8], pos, pos + size))
        pos += size
    return out


def _video_table(data: bytes, name: bytes) -> tuple[list[int], int, int]:
    """Offsets of moov/trak/mdia/minf/stbl of the video track, and the table box's start and end."""
    (_, moov, moov_end), = [b for b in _boxes(data, 0, len(data)) if b[0] == b"moov"]
    for kind, trak, trak_end in _boxes(data, moov + 8, moov_end):
        if kind != b"trak":
            continue
        path, start, end = [moov, trak], trak + 8, trak_end
        for level in (b"mdia", b"minf", b"stbl"):
            (_, start, end), = [b for b in _boxes(data, start, end) if b[0] == level]
            path.append(start)
            start, end = start + 8, end
        if b"vmhd" not in data[path[3]:path[4]]:
            continue
        (_, box, box_end), = [b for b in _boxes(data, start, end) if b[0] == name]
        return path, box, box_end
    raise AssertionError("no video track")


def _replace(data: bytes, parents: list[int], box: int, box_end: int, new_box: bytes) -> bytes:
    """Swap a box; only valid when nothing after it is addressed by offset (moov at the end)."""
    grow = len(new_box) - (box_end - box)
    out = bytearray(data[:box] + new_box + data[box_end:])
    for parent in parents:
        size = int.from_bytes(out[parent:parent + 4], "big")
        out[parent:parent + 4] = (size + grow).to_bytes(4, "big")
    return bytes(out)


def _moov_last(recording: Path, target: Path) -> bytes:
    with av.open(str(recording)) as src, av.open(str(target), "w", format="mp4") as out:
        streams = {s.index: out.add_stream_from_template(s, opaque=True) for s in (src.streams.video[0],
                                                                                   src.streams.audio[0])}
        for packet in src.demux(*src.streams.video[:1], *src.streams.audio[:1]):
            if packet.size:
                packet.stream = streams[packet.stream_index]
                out.mux(packet)
    data = target.read_bytes()
    names = [b[0] for b in _boxes(data, 0, len(data))]
    assert names.index(b"mdat") < names.index(b"moov")
    return data


def _rewrite_stts(recording: Path, target: Path, sample: int) -> None:
    """The video DTS of ``sample`` goes back below the one before it."""
    data = _moov_last(recording, target)
    parents, box, end = _video_table(data, b"stts")
    count = int.from_bytes(data[box + 12:box + 16], "big")
    deltas = []
    for i in range(count):
        n, delta = struct.unpack_from(">II", data, box + 16 + 8 * i)
        deltas += [delta] * n
    deltas[sample - 1] = (-2 * deltas[sample - 1]) & 0xFFFFFFFF
    runs: list[list[int]] = []
    for delta in deltas:
        if runs and runs[-1][1] == delta:
            runs[-1][0] += 1
        else:
            runs.append([1, delta])
    body = b"\x00\x00\x00\x00" + len(runs).to_bytes(4, "big") + b"".join(struct.pack(">II", *r) for r in runs)
    target.write_bytes(_replace(data, parents, box, end, (8 + len(body)).to_bytes(4, "big") + b"stts" + body))


def _rewrite_stsz(recording: Path, target: Path, sample: int) -> None:
    """The video sample ``sample`` becomes empty (its bytes stay in mdat: the next sample's offset is off,
    which framing may also report)."""
    data = _moov_last(recording, target)
    _parents, box, _end = _video_table(data, b"stsz")
    assert int.from_bytes(data[box + 12:box + 16], "big") == 0  # one size per sample
    out = bytearray(data)
    at = box + 20 + 4 * sample
    out[at:at + 4] = b"\x00\x00\x00\x00"
    target.write_bytes(bytes(out))


@pytest.mark.parametrize("names", SCENARIOS[:4], ids=lambda names: "+".join(names))
def test_the_remux_fast_path_writes_the_same_file(kit, names: tuple[str, ...],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Timeline._steady (one step for a packet that simply continues its track) changes nothing in the output."""
    fast, slow = kit.work / "fast.mp4", kit.work / "slow.mp4"
    fast_result = remux_parts(kit.parts(*names), fast)
    monkeypatch.setattr(Timeline, "_steady", lambda *_args: False)
    slow_result = remux_parts(kit.parts(*names), slow)
    assert fast.read_bytes() == slow.read_bytes()
    assert fast_result.timestamp_adjustments == slow_result.timestamp_adjustments
    assert fast_result.timestamps_repaired == slow_result.timestamps_repaired
