"""The HLS engine against a scripted origin: every byte where it belongs, every loss in the ledger."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from livevault.capture._aio import TICK as RELOAD_TICK
from livevault.capture.base import CaptureControl
from livevault.capture.hls import HlsCapture
from livevault.capture.http import create_session
from livevault.capture.spool import Spool
from livevault.domain.capture import EndReason, GapCause, PartContainer, PartReason
from livevault.domain.stream import StreamFormat, StreamInfo
from livevault.net.guard import UrlGuard
from tests.unit.capture.harness import FAST, part_bytes, record
from tests.unit.capture.origin import TD, Origin, media, seg_bytes


def serve_segments(origin: Origin, seqs: range, prefix: str = "s", **kw: object) -> dict[int, bytes]:
    return {seq: origin.add(f"{prefix}{seq}.ts", seg_bytes(f"{prefix}{seq}"), **kw) for seq in seqs}


def joined(data: dict[int, bytes], seqs: range | list[int]) -> bytes:
    return b"".join(data[s] for s in seqs)


async def test_live_reload_dedupes_and_starts_at_the_live_edge(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(8))
    origin.script("live.m3u8", media(0, 4), media(1, 4), media(1, 4), media(3, 4), media(5, 3, endlist=True))
    progress = []
    control = CaptureControl(on_progress=progress.append)
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path, control=control)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert [s.sequence for s in spool.segments()] == [1, 2, 3, 4, 5, 6, 7]
    assert part_bytes(spool) == [joined(data, range(1, 8))]
    assert spool.parts()[0].container is PartContainer.TS
    assert spool.parts()[0].reason is PartReason.START
    assert all(origin.hits[f"s{n}.ts"] == 1 for n in range(1, 8))
    assert origin.hits["s0.ts"] == 0
    assert spool.gaps() == []
    assert [p.segments for p in progress] == list(range(1, 8))
    assert progress[-1].bytes == len(joined(data, range(1, 8)))


async def test_captures_of_the_process_reload_their_playlists_together(origin: Origin, tmp_path: Path) -> None:
    # Two live streams whose reloads would fall at different moments: both reload on the shared tick, so
    # the event loop wakes once for both.
    for name in ("a", "b"):
        serve_segments(origin, range(12), prefix=name)
        origin.script(f"{name}.m3u8", *[media(n, 4, prefix=name) for n in range(8)],
                      media(8, 4, prefix=name, endlist=True))

    async def late(delay: float, name: str) -> None:
        await asyncio.sleep(delay)
        outcome, _spool = await record(origin.url(f"{name}.m3u8"), tmp_path / name)
        assert outcome.reason is EndReason.END_OF_STREAM

    await asyncio.gather(late(0.0, "a"), late(0.1, "b"))
    reloads = origin.times["a.m3u8"][1:] + origin.times["b.m3u8"][1:]
    assert len(reloads) == 16
    after_tick = [round(t % RELOAD_TICK, 3) for t in reloads]
    # at most 60 ms after a tick (the event loop may lag on a busy machine: two may come later)
    assert sum(t < 0.06 for t in after_tick) >= 14, after_tick


async def test_live_edge_starts_at_the_newest_segment(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(8))
    origin.script("live.m3u8", media(0, 4), media(3, 4), media(5, 3, endlist=True))
    options = dataclasses.replace(FAST, start_from="live_edge")
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path, options=options)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert outcome.explicit_end, "EXT-X-ENDLIST is the stream saying it is over"
    assert [s.sequence for s in spool.segments()] == [3, 4, 5, 6, 7]
    assert part_bytes(spool) == [joined(data, range(3, 8))]
    assert all(origin.hits[f"s{n}.ts"] == 0 for n in range(3))


async def test_a_media_limit_counts_media_seconds_and_not_the_back_filled_window(
    origin: Origin, tmp_path: Path
) -> None:
    serve_segments(origin, range(12))
    origin.script("live.m3u8", media(0, 4), *[media(n, 4) for n in range(1, 9)])
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir)
    control = CaptureControl(max_media=3 * TD, media=lambda: spool.media_seconds, start="window_start")
    options = dataclasses.replace(FAST, start_from="live_edge")
    session = create_session(options, guard=UrlGuard(allow_private=True))
    try:
        outcome = await HlsCapture(session, options).run(
            StreamInfo(url=origin.url("live.m3u8"), format=StreamFormat.HLS), spool, control)
    finally:
        await session.close()
    assert outcome.reason is EndReason.DURATION
    assert control.backfill == pytest.approx(3 * TD), "the three segments before the newest are back-fill"
    sequences = [s.sequence for s in Spool(spool_dir).segments()]
    assert sequences[:4] == [0, 1, 2, 3]
    assert len(sequences) == 6, "the window (four) plus three segments' worth, counting the newest"


async def test_window_start_takes_the_whole_first_window(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(6))
    origin.script("live.m3u8", media(0, 4), media(2, 4, endlist=True))
    options = dataclasses.replace(FAST, start_from="window_start")
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path, options=options)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(data, range(6))]


async def test_sequences_that_left_the_window_unseen_are_an_expired_gap(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(14))
    origin.script("live.m3u8", media(0, 4), media(10, 4, endlist=True))
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(data, [1, 2, 3, *range(10, 14)])]
    (gap,) = spool.gaps()
    assert gap.cause is GapCause.SEGMENT_EXPIRED
    assert (gap.from_sequence, gap.to_sequence, gap.missing_segments) == (4, 9, 6)
    assert abs(gap.duration - 6 * TD) < 1e-6
    assert gap.ended_at >= gap.started_at
    assert gap.part == 1


async def test_server_errors_are_retried_without_loss(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(5))
    origin.resources["s2.ts"].fail = [503, 500]
    origin.resources["s3.ts"].fail = [502]
    origin.script("vod.m3u8", media(0, 5, endlist=True))
    outcome, spool = await record(origin.url("vod.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(data, range(5))]
    assert spool.gaps() == []
    assert origin.hits["s2.ts"] == 3


async def test_a_segment_that_keeps_failing_becomes_a_gap_and_capture_goes_on(
    origin: Origin, tmp_path: Path
) -> None:
    data = serve_segments(origin, range(6))
    origin.resources["s2.ts"].always = 500
    origin.script("vod.m3u8", media(0, 6, endlist=True))
    options = dataclasses.replace(FAST, segment_retries=2)
    progress = []
    outcome, spool = await record(origin.url("vod.m3u8"), tmp_path, options=options,
                                  control=CaptureControl(on_progress=progress.append))
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(data, [0, 1, 3, 4, 5])]
    (gap,) = spool.gaps()
    assert (gap.cause, gap.from_sequence, gap.to_sequence, gap.missing_segments) == (
        GapCause.SEGMENT_FAILED, 2, 2, 1)
    assert abs(gap.duration - TD) < 1e-6
    assert origin.hits["s2.ts"] == 3
    assert [p.segments for p in progress] == [1, 2, 3, 4, 5]
    assert progress[-1].gaps == 1


async def test_a_404_segment_that_leaves_the_window_is_expired(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(10))
    origin.resources["s3.ts"].always = 404
    origin.script("live.m3u8", media(1, 3), media(2, 3), media(3, 3), media(4, 3), media(5, 3),
                  media(6, 4, endlist=True))
    options = dataclasses.replace(FAST, segment_retries=50)
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path, options=options)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(data, [1, 2, *range(4, 10)])]
    (gap,) = spool.gaps()
    assert (gap.cause, gap.from_sequence, gap.missing_segments) == (GapCause.SEGMENT_EXPIRED, 3, 1)


async def test_server_declared_gaps_are_not_fetched(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(4))
    origin.script("vod.m3u8", media(0, 4, endlist=True, before={2: "#EXT-X-GAP"}))
    _outcome, spool = await record(origin.url("vod.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, [0, 1, 3])]
    assert origin.hits["s2.ts"] == 0
    (gap,) = spool.gaps()
    assert (gap.from_sequence, gap.missing_segments) == (2, 1)


async def test_discontinuity_opens_a_new_part(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(6))
    origin.script("vod.m3u8", media(0, 6, endlist=True, disc_seq=3, before={3: "#EXT-X-DISCONTINUITY"}))
    _outcome, spool = await record(origin.url("vod.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, range(3)), joined(data, range(3, 6))]
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.DISCONTINUITY]
    records = spool.segments()
    assert [(r.part, r.discontinuity_sequence, r.discontinuity) for r in records] == [
        (1, 3, False), (1, 3, False), (1, 3, False), (2, 4, True), (2, 4, False), (2, 4, False)]
    assert spool.report().discontinuities == 1


async def test_a_server_without_discontinuity_sequence_is_not_a_reset(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(8))
    tag = {2: "#EXT-X-DISCONTINUITY"}
    origin.script("live.m3u8", media(0, 4, before=tag), media(2, 4, before=tag), media(3, 4), media(4, 4, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, [1]), joined(data, range(2, 8))]
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.DISCONTINUITY]
    assert {r.discontinuity_sequence for r in spool.segments()[1:]} == {1}


async def test_a_discontinuity_inside_skipped_segments_still_splits(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(20))
    origin.script("live.m3u8", media(0, 4), media(10, 4, disc_seq=1, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, [1, 2, 3]), joined(data, range(10, 14))]
    assert spool.parts()[1].reason is PartReason.DISCONTINUITY


async def test_media_sequence_reset_opens_a_new_part_without_loss_or_duplicates(
    origin: Origin, tmp_path: Path
) -> None:
    old = serve_segments(origin, range(100, 105))
    new = serve_segments(origin, range(6), prefix="b")
    origin.script("live.m3u8", media(100, 4), media(101, 4), media(0, 3, prefix="b"), media(0, 4, prefix="b"),
                  media(1, 4, prefix="b"), media(2, 4, prefix="b", endlist=True))
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(old, range(101, 105)), joined(new, range(6))]
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.SEQUENCE_RESET]
    assert [s.sequence for s in spool.segments()] == [101, 102, 103, 104, 0, 1, 2, 3, 4, 5]
    assert spool.gaps() == []
    assert spool.report().sequence_resets == 1


async def test_a_stale_playlist_copy_is_ignored(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(10))
    origin.script("live.m3u8", media(2, 4), media(4, 4), media(3, 4), media(5, 4), media(6, 4, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, range(3, 10))]
    assert len(spool.parts()) == 1
    assert spool.gaps() == []


async def test_a_huge_sequence_jump_is_a_reset_not_a_gap(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, [*range(4), *range(900000, 900004)])  # type: ignore[arg-type]
    origin.script("live.m3u8", media(0, 4), media(900000, 4, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, [1, 2, 3]), joined(data, range(900000, 900004))]
    assert spool.parts()[1].reason is PartReason.SEQUENCE_RESET
    assert spool.gaps() == []


async def test_discontinuity_sequence_going_back_is_a_reset(origin: Origin, tmp_path: Path) -> None:
    old = serve_segments(origin, range(10, 14))
    new = serve_segments(origin, range(14, 18), prefix="n")
    origin.script("live.m3u8", media(10, 4, disc_seq=5), media(14, 4, prefix="n", disc_seq=0, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(old, range(11, 14)), joined(new, range(14, 18))]
    assert spool.parts()[1].reason is PartReason.SEQUENCE_RESET


async def test_master_playlist_follows_the_chosen_variant(origin: Origin, tmp_path: Path) -> None:
    origin.script("master.m3u8", "\n".join([
        "#EXTM3U",
        "#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=640x360", "v360/index.m3u8?s=a%2Fb",
        "#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720", "v720/index.m3u8?s=c%2Fd",
        "#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080", "v1080/index.m3u8?s=e",
    ]))
    origin.script("v720/index.m3u8", media(0, 3, endlist=True, query="?seg=x%2Fy"))
    data = {n: origin.add(f"v720/s{n}.ts", seg_bytes(f"720-{n}")) for n in range(3)}
    outcome, spool = await record(origin.url("master.m3u8?who=me"), tmp_path, quality="720p")
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(data, range(3))]
    assert origin.queries["v720/index.m3u8"] == ["s=c%2Fd"]
    assert origin.queries["v720/s0.ts"] == ["seg=x%2Fy"]
    assert origin.hits["v1080/index.m3u8"] == 0


async def test_endlist_on_the_first_playlist_records_it_whole(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(8))
    origin.script("vod.m3u8", media(0, 8, endlist=True))
    outcome, spool = await record(origin.url("vod.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(data, range(8))]


async def test_a_stream_that_starts_empty_is_recorded_from_its_first_segment(
    origin: Origin, tmp_path: Path
) -> None:
    data = serve_segments(origin, range(6))
    origin.script("live.m3u8", media(0, 0), media(0, 6, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, range(6))]


async def test_unreachable_playlist_ends_after_the_grace_period(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(4))
    origin.script("live.m3u8", media(0, 4), 503)
    started = time.monotonic()
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    elapsed = time.monotonic() - started
    assert outcome.reason is EndReason.UNREACHABLE
    assert outcome.error_code == "SOURCE_UNREACHABLE"
    assert part_bytes(spool) == [joined(data, range(1, 4))]
    assert FAST.playlist_grace <= elapsed < FAST.playlist_grace + 2.5


async def test_an_outage_then_skipped_sequences_blames_the_playlist(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(12))
    origin.script("live.m3u8", media(0, 4), 503, 503, media(8, 4, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, [1, 2, 3]), joined(data, range(8, 12))]
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.RECONNECT], "timestamps jumped"
    (gap,) = spool.gaps()
    assert (gap.cause, gap.from_sequence, gap.to_sequence) == (GapCause.PLAYLIST_UNREACHABLE, 4, 7)


async def test_a_playlist_that_stops_advancing_is_a_stall(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(4))
    origin.script("live.m3u8", media(0, 4))  # answered on every reload, never a new segment
    started = time.monotonic()
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "STREAM_STALLED")
    assert FAST.playlist_grace <= time.monotonic() - started < FAST.playlist_grace + 2
    assert part_bytes(spool) == [joined(data, range(1, 4))], "what came before the stall is kept"


async def test_first_playlist_errors(origin: Origin, tmp_path: Path) -> None:
    origin.script("blocked.m3u8", 403)
    origin.script("html.m3u8", "<html>hi</html>")
    origin.script("gone.m3u8", 404)
    outcome, _ = await record(origin.url("blocked.m3u8"), tmp_path / "a")
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "SOURCE_BLOCKED")
    outcome, _ = await record(origin.url("html.m3u8"), tmp_path / "b")
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "PLAYLIST_INVALID")
    started = time.monotonic()
    outcome, spool = await record(origin.url("gone.m3u8"), tmp_path / "c")
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "STREAM_ENDED")
    assert time.monotonic() - started >= FAST.playlist_grace
    assert origin.hits["gone.m3u8"] >= 2
    assert spool.parts() == []
    origin.script("master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n")
    outcome, _ = await record(origin.url("master.m3u8"), tmp_path / "d", quality="huge")
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "VALIDATION_ERROR")


async def test_a_playlist_coming_back_within_grace_loses_nothing(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(7))
    origin.script("live.m3u8", 500, media(0, 4), 502, media(1, 4), media(3, 4, endlist=True))
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [joined(data, range(1, 7))]


async def test_stop_is_prompt_and_keeps_what_arrived(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(12))
    origin.resources["s6.ts"].delay = 30
    origin.script("live.m3u8", media(0, 4), media(2, 4), media(4, 4), media(6, 4))
    control = CaptureControl()

    async def stop_soon() -> float:
        while origin.hits["s6.ts"] == 0:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        control.stop.set()
        return time.monotonic()

    stopper = asyncio.create_task(stop_soon())
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path, control=control)
    assert time.monotonic() - await stopper < 1.2
    assert outcome.reason is EndReason.STOPPED
    written = [s.sequence for s in spool.segments()]
    assert written[:5] == [1, 2, 3, 4, 5]
    assert 6 not in written
    assert part_bytes(spool)[0] == joined(data, written)
    assert list(tmp_path.glob(".hls-tmp")) == []


async def test_duration_limit_ends_the_capture(origin: Origin, tmp_path: Path) -> None:
    serve_segments(origin, range(4))
    origin.script("live.m3u8", media(0, 4))
    started = time.monotonic()
    outcome, spool = await record(origin.url("live.m3u8"), tmp_path, control=CaptureControl(max_duration=0.7))
    assert outcome.reason is EndReason.DURATION
    assert 0.6 < time.monotonic() - started < 1.7
    assert [s.sequence for s in spool.segments()] == [1, 2, 3]


async def test_fetches_are_bounded_by_segment_concurrency(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(12), delay=0.05)
    origin.script("vod.m3u8", media(0, 12, endlist=True))
    options = dataclasses.replace(FAST, segment_concurrency=3)
    _outcome, spool = await record(origin.url("vod.m3u8"), tmp_path, options=options)
    assert part_bytes(spool) == [joined(data, range(12))]
    assert origin.max_in_flight == 3


async def test_a_later_segment_arriving_first_is_still_written_in_order(origin: Origin, tmp_path: Path) -> None:
    data = serve_segments(origin, range(5))
    origin.resources["s1.ts"].delay = 0.3
    origin.script("vod.m3u8", media(0, 5, endlist=True))
    _outcome, spool = await record(origin.url("vod.m3u8"), tmp_path)
    assert part_bytes(spool) == [joined(data, range(5))]
    assert [s.sequence for s in spool.segments()] == list(range(5))
