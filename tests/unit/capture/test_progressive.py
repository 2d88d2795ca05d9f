"""The progressive engine: FLV/TS bodies, a part per connection, outages in the gap ledger."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from pathlib import Path

from livevault.capture._aio import TICK as READ_TICK
from livevault.capture.base import CaptureControl
from livevault.capture.http import create_session
from livevault.capture.progressive import ProgressiveCapture
from livevault.capture.spool import Spool
from livevault.domain.capture import EndReason, GapCause, PartContainer, PartReason
from livevault.domain.stream import StreamFormat, StreamInfo
from livevault.net.guard import UrlGuard
from tests.unit.capture.harness import FAST, part_bytes, record
from tests.unit.capture.origin import Connection, Origin

FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"


def flv_chunks(tag: str, count: int = 5) -> list[bytes]:
    return [FLV_HEADER] + [f"<{tag}:{n}>".encode() * 50 for n in range(count)]


async def test_a_dropped_flv_connection_gives_two_parts_and_a_gap(origin: Origin, tmp_path: Path) -> None:
    first, second = flv_chunks("a"), flv_chunks("b")
    origin.stream("live.flv", Connection(first, end="abort"), Connection(second, end="close"),
                  Connection(status=404))
    outcome, spool = await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [b"".join(first), b"".join(second)]
    assert all(data.startswith(b"FLV") for data in part_bytes(spool))
    assert [(p.container, p.reason) for p in spool.parts()] == [
        (PartContainer.FLV, PartReason.START), (PartContainer.FLV, PartReason.RECONNECT)]
    (gap,) = spool.gaps()
    assert gap.cause is GapCause.CONNECTION_DROPPED
    assert gap.part == 1
    assert gap.ended_at >= gap.started_at
    assert abs(gap.duration - (gap.ended_at - gap.started_at)) < 0.01
    records = spool.segments()
    assert sum(r.bytes for r in records) == len(b"".join(first + second))
    assert [r.sequence for r in records] == list(range(len(records)))
    assert {r.part for r in records} == {1, 2}


async def test_a_stall_is_detected_and_reconnected(origin: Origin, tmp_path: Path) -> None:
    first = [b"\x47" * 188 * 10 for _ in range(3)]
    second = [b"\x47" + b"x" * 187 for _ in range(3)]
    origin.stream("live.ts", Connection(first, end="stall"), Connection(second), Connection(status=410))
    started = time.monotonic()
    outcome, spool = await record(origin.url("live.ts"), tmp_path, fmt=StreamFormat.TS)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [b"".join(first), b"".join(second)]
    assert spool.parts()[0].container is PartContainer.TS
    (gap,) = spool.gaps()
    assert gap.cause is GapCause.STALL
    assert gap.duration >= FAST.stall_timeout * 0.9
    assert time.monotonic() - started < 5


async def test_index_records_cover_the_body_about_every_interval(origin: Origin, tmp_path: Path) -> None:
    chunks = [bytes([n]) * 1000 for n in range(30)]
    origin.stream("live.ts", Connection(chunks, every=0.02), Connection(status=404))
    progress = []
    _outcome, spool = await record(origin.url("live.ts"), tmp_path, fmt=StreamFormat.TS,
                                  control=CaptureControl(on_progress=progress.append))
    records = spool.segments()
    assert len(records) >= 5
    assert all(r.duration >= 0 for r in records)
    assert sum(r.bytes for r in records) == 30000
    assert [r.offset for r in records] == [sum(r.bytes for r in records[:i]) for i in range(len(records))]
    assert progress
    assert progress[-1].bytes == 30000


async def test_a_trickling_body_is_read_on_the_shared_tick_and_arrives_whole(origin: Origin, tmp_path: Path) -> None:
    # The server writes every 20 ms; the capture reads what arrived once per tick (0.25 s), so the index
    # records, committed at reads, span whole ticks.
    chunks = [bytes([n]) * 1000 for n in range(80)]
    origin.stream("live.ts", Connection(chunks, every=0.02), Connection(status=404))
    options = dataclasses.replace(FAST, progressive_index_interval=0.35, stall_timeout=1.0)
    _outcome, spool = await record(origin.url("live.ts"), tmp_path, fmt=StreamFormat.TS, options=options)
    assert part_bytes(spool) == [b"".join(chunks)]
    # the first record begins at the first byte and the last ends with the body: both off the tick
    spans = [r.duration for r in spool.segments()[1:-1]]
    assert len(spans) >= 2
    off_tick = [round(d % READ_TICK, 3) for d in spans]
    assert all(t < 0.06 or t > READ_TICK - 0.06 for t in off_tick), (spans, off_tick)


async def test_initial_failures_are_errors(origin: Origin, tmp_path: Path) -> None:
    origin.stream("gone.flv", Connection(status=404))
    origin.stream("blocked.flv", Connection(status=403))
    outcome, spool = await record(origin.url("gone.flv"), tmp_path / "a", fmt=StreamFormat.FLV)
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "STREAM_ENDED")
    assert spool.parts() == []
    outcome, _ = await record(origin.url("blocked.flv"), tmp_path / "b", fmt=StreamFormat.FLV)
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "SOURCE_BLOCKED")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome, _ = await record(f"http://127.0.0.1:{port}/x.flv", tmp_path / "c", fmt=StreamFormat.FLV)
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "SOURCE_UNREACHABLE")
    session = create_session(FAST, guard=UrlGuard(allow_private=True))
    try:
        stream = StreamInfo(url=origin.url("x.m3u8"), format=StreamFormat.HLS)
        outcome = await ProgressiveCapture(session, FAST).run(stream, Spool(tmp_path / "d"), CaptureControl())
    finally:
        await session.close()
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "VALIDATION_ERROR")


async def test_an_exhausted_reconnect_window_is_unreachable(origin: Origin, tmp_path: Path) -> None:
    data = flv_chunks("a")
    origin.stream("live.flv", Connection(data), Connection(status=503))
    options = dataclasses.replace(FAST, reconnect_window=0.8)
    started = time.monotonic()
    outcome, spool = await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV, options=options)
    assert (outcome.reason, outcome.error_code) == (EndReason.UNREACHABLE, "SOURCE_UNREACHABLE")
    assert 0.8 <= time.monotonic() - started < 3
    assert part_bytes(spool) == [b"".join(data)]
    assert spool.gaps() == []


async def test_empty_answers_until_the_window_ends_mean_the_stream_ended(origin: Origin, tmp_path: Path) -> None:
    data = flv_chunks("a")
    origin.stream("live.flv", Connection(data), Connection([]))
    options = dataclasses.replace(FAST, reconnect_window=0.6)
    outcome, spool = await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV, options=options)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [b"".join(data)]


async def test_stop_is_prompt_and_everything_written_is_indexed(origin: Origin, tmp_path: Path) -> None:
    origin.stream("live.ts", Connection(end="forever", every=0.01))
    control = CaptureControl()

    async def stop_later() -> float:
        await asyncio.sleep(0.5)
        control.stop.set()
        return time.monotonic()

    stopper = asyncio.create_task(stop_later())
    outcome, spool = await record(origin.url("live.ts"), tmp_path, fmt=StreamFormat.TS, control=control)
    assert time.monotonic() - await stopper < 0.5
    assert outcome.reason is EndReason.STOPPED
    (data,) = part_bytes(spool)
    assert len(data) > 188 * 10
    assert sum(r.bytes for r in spool.segments()) == len(data)


async def test_duration_limit(origin: Origin, tmp_path: Path) -> None:
    origin.stream("live.ts", Connection(end="forever", every=0.01))
    started = time.monotonic()
    outcome, spool = await record(origin.url("live.ts"), tmp_path, fmt=StreamFormat.TS,
                                  control=CaptureControl(max_duration=0.5))
    assert outcome.reason is EndReason.DURATION
    assert time.monotonic() - started < 1.2
    assert len(spool.parts()) == 1


async def test_resumed_capture_continues_sequence_numbers(origin: Origin, tmp_path: Path) -> None:
    origin.stream("live.flv", Connection(flv_chunks("a")), Connection(status=404))
    await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV)
    origin.hits.clear()
    _, spool = await record(origin.url("live.flv"), tmp_path, fmt=StreamFormat.FLV)
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.RESUME]
    sequences = [r.sequence for r in spool.segments()]
    assert sequences == list(range(len(sequences)))
