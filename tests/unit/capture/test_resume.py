"""Resuming on a spool that already holds segments (livevault was restarted): the engine owns the gap."""

from __future__ import annotations

import json
import time
from pathlib import Path

from livevault.capture.spool import Spool
from livevault.domain.capture import EndReason, GapCause, PartContainer, PartReason, SegmentRecord
from livevault.domain.stream import StreamFormat
from tests.unit.capture.harness import part_bytes, record
from tests.unit.capture.origin import TD, Connection, Origin, media, seg_bytes

FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"


def serve(origin: Origin, seqs: range | list[int], prefix: str = "s") -> dict[int, bytes]:
    return {n: origin.add(f"{prefix}{n}.ts", seg_bytes(f"{prefix}{n}")) for n in seqs}


def seed(directory: Path, data: dict[int, bytes], seqs: range, *, disc: int = 0, age: float = 0.0) -> SegmentRecord:
    """A spool left behind by a killed capture: `seqs` recorded, the last `age` seconds ago; returns the last."""
    spool = Spool(directory)
    part = spool.open_part(PartContainer.TS, PartReason.START)
    for n in seqs:
        part.append_segment(data[n], sequence=n, duration=TD, discontinuity_sequence=disc)
    spool.close()
    if age:
        index = directory / "part-0001.idx.jsonl"
        rows = [json.loads(line) for line in index.read_text().splitlines()]
        index.write_text("".join(json.dumps({**r, "fetched_at": r["fetched_at"] - age}) + "\n" for r in rows))
    return Spool(directory).segments()[-1]


def flv_chunks(tag: str, count: int = 5) -> list[bytes]:
    return [FLV_HEADER] + [f"<{tag}:{n}>".encode() * 50 for n in range(count)]


def resumed(spool: Spool, count: int) -> list[int]:
    """Sequences written by the resumed capture (after the first `count` seeded ones)."""
    return [s.sequence for s in spool.segments()[count:]]


# ---- HLS -------------------------------------------------------------------------------------------------


async def test_hls_resume_with_the_last_sequence_in_the_window_has_no_gap(origin: Origin, tmp_path: Path) -> None:
    data = serve(origin, range(10))
    seed(tmp_path, data, range(3, 6), age=30)
    origin.script("live.m3u8", media(2, 7), media(4, 6, endlist=True))
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert resumed(spool, 3) == [6, 7, 8, 9]
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.RESUME]
    assert spool.gaps() == []


async def test_hls_resume_at_the_window_end_or_just_after_it_has_no_gap(origin: Origin, tmp_path: Path) -> None:
    data = serve(origin, range(10))
    seed(tmp_path / "a", data, range(3, 6))
    origin.script("edge.m3u8", media(2, 4), media(3, 5, endlist=True))
    _outcome, spool = await record(origin.url("edge.m3u8"), tmp_path / "a")
    assert resumed(spool, 3) == [6, 7]
    assert spool.gaps() == []
    seed(tmp_path / "b", data, range(3, 6))
    origin.script("next.m3u8", media(6, 4, endlist=True))
    _outcome, spool = await record(origin.url("next.m3u8"), tmp_path / "b")
    assert resumed(spool, 3) == [6, 7, 8, 9]
    assert spool.gaps() == []


async def test_hls_resume_after_the_next_sequences_left_the_window_counts_them(
    origin: Origin, tmp_path: Path
) -> None:
    data = serve(origin, range(14))
    last = seed(tmp_path, data, range(3, 6), age=5)
    origin.script("live.m3u8", media(9, 5, endlist=True))
    before = time.time()
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert resumed(spool, 3) == list(range(9, 14))
    assert part_bytes(spool)[1] == b"".join(data[n] for n in range(9, 14))
    (gap,) = spool.gaps()
    assert gap.cause is GapCause.PROCESS_RESTART
    assert (gap.from_sequence, gap.to_sequence, gap.missing_segments) == (6, 8, 3)
    assert abs(gap.duration - 3 * TD) < 1e-6
    assert gap.started_at == last.fetched_at
    assert before <= gap.ended_at <= spool.segments()[3].fetched_at
    assert gap.part == 1
    assert spool.report().segments_missing == 3


async def test_hls_resume_far_behind_the_live_edge_counts_the_skipped_sequences(
    origin: Origin, tmp_path: Path
) -> None:
    data = serve(origin, [*range(3, 6), *range(100, 107)])
    seed(tmp_path, data, range(3, 6), age=60)
    origin.script("live.m3u8", media(100, 7), media(101, 6, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert resumed(spool, 3) == list(range(100, 107))  # the whole window: as much as is still offered
    (gap,) = spool.gaps()
    assert (gap.cause, gap.from_sequence, gap.to_sequence, gap.missing_segments) == (
        GapCause.PROCESS_RESTART, 6, 99, 94)
    assert abs(gap.duration - 94 * TD) < 1e-6


async def test_hls_resume_on_a_renumbered_stream_is_a_gap_of_wall_time(origin: Origin, tmp_path: Path) -> None:
    old = serve(origin, range(50, 53))
    new = serve(origin, range(10), prefix="n")
    last = seed(tmp_path, old, range(50, 53), age=40)
    origin.script("live.m3u8", media(0, 4, prefix="n"), media(0, 5, prefix="n", endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool)[1] == b"".join(new[n] for n in range(1, 5))
    (gap,) = spool.gaps()
    assert gap.cause is GapCause.PROCESS_RESTART
    assert (gap.from_sequence, gap.to_sequence, gap.missing_segments) == (None, None, 0)
    assert gap.started_at == last.fetched_at
    assert abs(gap.duration - (gap.ended_at - gap.started_at)) < 0.01
    assert 40 <= gap.duration < 45


async def test_hls_resume_on_other_numbering_or_an_implausible_jump_is_of_unknown_extent(
    origin: Origin, tmp_path: Path
) -> None:
    data = serve(origin, [*range(3, 9), *range(900000, 900004)])
    seed(tmp_path / "a", data, range(3, 6), disc=2)
    origin.script("disc.m3u8", media(4, 5, disc_seq=0, endlist=True))  # seq 5 now has another numbering
    _outcome, spool = await record(origin.url("disc.m3u8"), tmp_path / "a")
    (gap,) = spool.gaps()
    assert (gap.cause, gap.missing_segments, gap.from_sequence) == (GapCause.PROCESS_RESTART, 0, None)
    seed(tmp_path / "b", data, range(3, 6))
    origin.script("jump.m3u8", media(900000, 4, endlist=True))
    _outcome, spool = await record(origin.url("jump.m3u8"), tmp_path / "b")
    assert resumed(spool, 3) == list(range(900000, 900004))
    (gap,) = spool.gaps()
    assert (gap.cause, gap.missing_segments, gap.from_sequence) == (GapCause.PROCESS_RESTART, 0, None)
    assert gap.duration < 5


async def test_hls_resume_on_a_spool_without_segments_is_a_plain_start(origin: Origin, tmp_path: Path) -> None:
    serve(origin, range(6))
    empty = Spool(tmp_path)
    empty.open_part(PartContainer.TS, PartReason.START)  # killed before the first segment
    empty.close()
    origin.script("live.m3u8", media(0, 6, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert resumed(spool, 0) == list(range(6))
    assert spool.gaps() == []


# ---- progressive -----------------------------------------------------------------------------------------


async def test_progressive_resume_is_a_restart_gap_until_the_first_new_byte(origin: Origin, tmp_path: Path) -> None:
    first, second = flv_chunks("a"), flv_chunks("b")
    origin.stream("live.flv", Connection(first), Connection(status=404))
    await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV)
    last = Spool(tmp_path).segments()[-1]
    origin.stream("live.flv", Connection(second), Connection(status=404))
    origin.hits.clear()
    outcome, spool = await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [b"".join(first), b"".join(second)]
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.RESUME]
    (gap,) = spool.gaps()
    assert gap.cause is GapCause.PROCESS_RESTART
    assert gap.part == last.part == 1
    assert gap.started_at == last.fetched_at
    new_records = [r for r in spool.segments() if r.part == 2]
    assert gap.started_at <= gap.ended_at <= new_records[0].fetched_at
    assert abs(gap.duration - (gap.ended_at - gap.started_at)) < 0.01
    assert (gap.from_sequence, gap.missing_segments) == (None, 0)


async def test_progressive_resume_then_a_drop_gives_restart_and_drop_gaps(origin: Origin, tmp_path: Path) -> None:
    origin.stream("live.ts", Connection([b"\x47" * 188] * 3), Connection(status=404))
    await record(origin.url("live.ts"), tmp_path, fmt=StreamFormat.TS)
    origin.stream("live.ts", Connection([b"\x47" * 188] * 3, end="abort"), Connection([b"\x47" * 188] * 3),
                  Connection(status=404))
    origin.hits.clear()
    _outcome, spool = await record(origin.url("live.ts"), tmp_path, fmt=StreamFormat.TS)
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.RESUME, PartReason.RECONNECT]
    assert [(g.cause, g.part) for g in spool.gaps()] == [
        (GapCause.PROCESS_RESTART, 1), (GapCause.CONNECTION_DROPPED, 2)]


async def test_progressive_resume_that_gets_no_bytes_adds_no_gap(origin: Origin, tmp_path: Path) -> None:
    origin.stream("live.flv", Connection(flv_chunks("a")), Connection(status=404))
    await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV)
    origin.stream("live.flv", Connection(status=404))
    origin.hits.clear()
    outcome, spool = await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV)
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "STREAM_ENDED")
    assert spool.gaps() == []
    assert len(spool.parts()) == 1
