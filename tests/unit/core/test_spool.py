"""The spool: append-only parts, an index that never claims unwritten bytes, a gap ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livevault.capture.spool import Spool
from livevault.domain.capture import GapCause, GapRecord, PartContainer, PartReason


@pytest.fixture(params=[False, True], ids=["page-cache", "direct-io"])
def direct(request: pytest.FixtureRequest) -> bool:
    """Every spool test runs with both ways of appending media (`capture.appenders`)."""
    return bool(request.param)


def make_spool(path: Path, direct: bool) -> Spool:
    spool = Spool(path)
    spool.direct_io = direct
    return spool


def test_segments_are_appended_and_indexed_in_order(tmp_path: Path, direct: bool) -> None:
    spool = make_spool(tmp_path / "rec", direct)
    part = spool.open_part(PartContainer.TS, PartReason.START)
    for seq in range(5):
        record = part.append_segment(bytes([seq]) * (100 + seq), sequence=seq, duration=1.0)
        spool.note_segment(record)
    spool.close()
    data = (tmp_path / "rec" / "part-0001.ts").read_bytes()
    segments = spool.segments()
    assert [s.sequence for s in segments] == [0, 1, 2, 3, 4]
    for seg in segments:
        assert data[seg.offset : seg.offset + seg.bytes] == bytes([seg.sequence]) * (100 + seg.sequence)
    assert spool.segment_count == 5
    assert spool.bytes_total == len(data)


def test_a_reopened_spool_continues_numbering_and_keeps_the_ledger(tmp_path: Path, direct: bool) -> None:
    spool = make_spool(tmp_path, direct)
    spool.open_part(PartContainer.FLV, PartReason.START).append_segment(b"FLV1", sequence=0, duration=1)
    spool.add_gap(GapRecord(part=1, started_at=1.0, ended_at=3.0, cause=GapCause.STALL, duration=2.0))
    spool.close()
    again = make_spool(tmp_path, direct)
    part = again.open_part(PartContainer.FLV, PartReason.RECONNECT)
    assert part.index == 2
    assert part.path.name == "part-0002.flv"
    part.append_segment(b"FLV2", sequence=1, duration=1)
    again.close()
    report = Spool(tmp_path).report()
    assert report.parts == 2
    assert report.segments_captured == 2
    assert report.gaps[0].cause is GapCause.STALL
    assert [p.reason for p in Spool(tmp_path).parts()] == [PartReason.START, PartReason.RECONNECT]


def test_ensure_part_reuses_a_matching_open_part(tmp_path: Path, direct: bool) -> None:
    spool = make_spool(tmp_path, direct)
    first = spool.ensure_part(PartContainer.TS, PartReason.START)
    assert spool.ensure_part(PartContainer.TS, PartReason.START) is first
    second = spool.ensure_part(PartContainer.FMP4, PartReason.INIT_CHANGE)
    assert second.index == 2
    assert first.closed


def test_a_torn_index_line_is_ignored(tmp_path: Path, direct: bool) -> None:
    spool = make_spool(tmp_path, direct)
    spool.open_part(PartContainer.TS, PartReason.START).append_segment(b"x" * 10, sequence=7, duration=2)
    spool.close()
    with (tmp_path / "part-0001.idx.jsonl").open("a") as fh:
        fh.write('{"part": 1, "seq')
    assert [s.sequence for s in Spool(tmp_path).segments()] == [7]


WRITER = """
import sys, time
from pathlib import Path
from livevault.capture.spool import Spool
from livevault.domain.capture import PartContainer, PartReason
spool = Spool(Path(sys.argv[1]))
spool.direct_io = sys.argv[2] == "1"
part = spool.open_part(PartContainer.TS, PartReason.START)
seq = 0
while True:
    part.append_segment(bytes([seq % 256]) * 188 * 50, sequence=seq, duration=0.1)
    seq += 1
    if seq == 20:
        print("ready", flush=True)
"""


def test_sigkill_mid_write_leaves_every_indexed_byte_on_disk(tmp_path: Path, direct: bool) -> None:
    argv = [sys.executable, "-c", WRITER, str(tmp_path), "1" if direct else "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    spool = Spool(tmp_path)
    segments = spool.segments()
    assert len(segments) >= 20
    data = (tmp_path / "part-0001.ts").read_bytes()
    assert len(data) >= sum(s.bytes for s in segments)
    for seg in segments:
        assert data[seg.offset : seg.offset + seg.bytes] == bytes([seg.sequence % 256]) * 188 * 50
