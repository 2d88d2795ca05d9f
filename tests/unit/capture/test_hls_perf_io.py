"""Segment bodies are kept as the chunks they arrived in and written with one system call; index lines are
formatted without a deep copy. Nothing about the bytes or the index may change on the way.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from livevault.capture import appenders as capture_appenders
from livevault.capture import body as capture_body
from livevault.capture import http as capture_http
from livevault.capture import spool as capture_spool
from livevault.capture.base import CaptureOptions
from livevault.capture.http import Body, HttpClient, create_session
from livevault.capture.spool import Spool
from livevault.domain.capture import PartContainer, PartReason, SegmentRecord
from livevault.errors import DiskFull
from livevault.net.guard import UrlGuard
from tests.unit.capture.origin import Connection, Origin

PIECES = [b"\x47ab", b"cdefghijklmnopqrstuvwxyz" * 3, b"0123456789" * 50, b"tail"]


async def get_body(origin: Origin, path: str, spill_dir: Path | None = None) -> Body:
    session = create_session(CaptureOptions(), guard=UrlGuard(allow_private=True))
    try:
        return await HttpClient(session).get_body(origin.url(path), total=5.0, spill_dir=spill_dir)
    finally:
        await session.close()


async def test_a_body_sent_in_pieces_is_kept_as_its_chunks_without_a_copy(origin: Origin) -> None:
    origin.stream("body.ts", Connection(chunks=list(PIECES), every=0.02))
    body = await get_body(origin, "body.ts")
    assert len(body.parts) > 1
    assert b"".join(body.parts) == body.data == b"".join(PIECES)
    assert body.size == len(body.data)
    assert body.head == b"".join(PIECES)[:16]  # the first chunk alone is shorter than the head
    assert list(body.chunks()) == body.parts


async def test_a_large_body_of_unknown_length_still_spills_whole(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture_body, "SPILL_BYTES", 100)
    origin.stream("big.ts", Connection(chunks=list(PIECES), every=0.02))
    body = await get_body(origin, "big.ts", spill_dir=tmp_path)
    assert body.path is not None
    assert body.path.read_bytes() == b"".join(PIECES)
    assert (body.size, body.head) == (len(b"".join(PIECES)), b"".join(PIECES)[:16])
    body.discard()


def test_a_body_made_from_bytes_or_parts_knows_its_head() -> None:
    assert Body.of(b"x" * 40).head == b"x" * 16
    assert Body.of_parts([b"ab", b"cd" * 20], 42).head == b"abcdcdcdcdcdcdcd"
    assert Body.of_parts([], 0).data == b""


def test_timeouts_are_built_once_per_total() -> None:
    client = HttpClient(object(), timeout=3.0)  # type: ignore[arg-type]
    assert client._timeout_for(16.0) is client._timeout_for(16.0)
    assert client._timeout_for(None) is not client._timeout_for(6.0)
    timeout = client._timeout_for(6.0)
    assert (timeout.total, timeout.connect, timeout.sock_read) == (6.0, 3.0, 3.0)
    for total in range(20):
        client._timeout_for(float(total))
    assert len(client._timeouts) <= capture_http._TIMEOUTS_KEPT


@pytest.mark.parametrize("record", [
    SegmentRecord(part=1, sequence=7, duration=2.002, bytes=625100, offset=0, fetched_at=1763910000.123456),
    SegmentRecord(part=3, sequence=2**40, duration=float("inf"), bytes=0, offset=12, fetched_at=0.1,
                  discontinuity_sequence=4, discontinuity=True, program_date_time='2026-11-23T15:08:16.627Z "é"'),
])
def test_index_lines_are_what_json_dumps_of_the_record_gives(record: SegmentRecord) -> None:
    assert capture_spool._index_line(record) == json.dumps(asdict(record), separators=(",", ":")) + "\n"


def test_chunks_written_together_are_indexed_after_their_bytes(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    part = spool.open_part(PartContainer.TS, PartReason.START)
    part.write_parts([b"a" * 10, b"b" * 5])
    part.write_parts([b"c"])
    part.write_parts([])
    record = part.commit_segment(sequence=0, duration=2.0)
    part.write_parts([b"d", b"e"])
    second = part.commit_segment(sequence=1, duration=2.0)
    spool.close()
    assert (record.offset, record.bytes, second.offset, second.bytes) == (0, 16, 16, 2)
    assert part.path.read_bytes() == b"a" * 10 + b"b" * 5 + b"cde"
    assert Spool(tmp_path).segments() == [record, second]


def test_many_tiny_chunks_go_out_in_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    part = spool.open_part(PartContainer.TS, PartReason.START)
    chunks = [bytes([n % 256]) for n in range(3 * capture_appenders._IOV_BATCH + 5)]
    part.write_parts(chunks)
    part.commit_segment(sequence=0, duration=2.0)
    spool.close()
    assert part.path.read_bytes() == b"".join(chunks)
    assert part.bytes_written == len(chunks)


def test_a_short_write_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an OS that takes only the first chunk of each vectored write
    def first_only(fd: int, buffers: list[bytes]) -> int:
        return os.write(fd, buffers[0])

    monkeypatch.setattr(capture_appenders.os, "writev", first_only)
    spool = Spool(tmp_path)
    part = spool.open_part(PartContainer.TS, PartReason.START)
    part.write_parts([b"one", b"two", b"three"])
    record = part.commit_segment(sequence=0, duration=2.0)
    spool.close()
    assert part.path.read_bytes() == b"onetwothree"
    assert record.bytes == 11


def test_a_full_disk_during_a_vectored_write_is_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int, buffers: list[bytes]) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(capture_appenders.os, "writev", no_space)
    part = Spool(tmp_path).open_part(PartContainer.TS, PartReason.START)
    with pytest.raises(DiskFull):
        part.write_parts([b"a", b"b"])
    part.close()
    with pytest.raises(ValueError, match="closed"):
        part.write_parts([b"a", b"b"])
