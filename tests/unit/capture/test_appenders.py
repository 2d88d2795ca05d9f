"""O_DIRECT appends (`capture.appenders`): the file always holds every synced byte, in order, whatever the
chunk sizes, across reopenings, and a writer that lost its lease leaves its unsynced bytes out."""

from __future__ import annotations

import ctypes
import mmap
import os
import random
from pathlib import Path

import pytest

from livevault.capture.appenders import ALIGN, BUFFER_BYTES, DirectAppender, open_appender
from livevault.capture.spool import Spool
from livevault.domain.capture import PartContainer, PartReason
from livevault.errors import LeaseLost as Lost

SHM = Path("/dev/shm")


def appender(path: Path) -> DirectAppender:
    opened = open_appender(path, direct=True)
    if not isinstance(opened, DirectAppender):
        pytest.skip(f"{path.parent} does not take O_DIRECT")
    return opened


def chunks(rng: random.Random, total: int) -> list[bytes]:
    out: list[bytes] = []
    while total > 0:
        size = min(total, rng.choice([1, 7, 188, 4095, 4096, 4097, 65536, BUFFER_BYTES - 3, BUFFER_BYTES + 5]))
        out.append(rng.randbytes(size))
        total -= size
    return out


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "plain"])
def test_every_synced_byte_is_in_the_file_in_order(tmp_path: Path, direct: bool) -> None:
    rng = random.Random(7)
    path = tmp_path / "part.ts"
    writer = appender(path) if direct else open_appender(path, direct=False)
    expected = b""
    for _segment in range(12):
        pieces = chunks(rng, rng.randint(1, 3 * BUFFER_BYTES))
        writer.write_all(pieces)
        expected += b"".join(pieces)
        writer.sync()
        assert path.stat().st_size == len(expected)  # exactly: no padding, nothing held back
        assert path.read_bytes() == expected
        assert writer.size == len(expected)
    writer.close()
    assert path.read_bytes() == expected


def test_a_reopened_file_continues_after_its_partial_last_block(tmp_path: Path) -> None:
    path = tmp_path / "part.ts"
    first = appender(path)
    first.write(b"a" * (ALIGN + 100))
    first.close()
    second = appender(path)
    assert second.size == ALIGN + 100
    second.write(b"b" * (2 * ALIGN))
    second.close()
    assert path.read_bytes() == b"a" * (ALIGN + 100) + b"b" * (2 * ALIGN)


def test_closing_without_sync_drops_only_the_unsynced_bytes(tmp_path: Path) -> None:
    path = tmp_path / "part.ts"
    writer = appender(path)
    writer.write(b"x" * 5000)
    writer.sync()
    writer.write(b"y" * 3 * ALIGN)  # still in the buffer: whole blocks go out when it fills or on sync
    writer.close(sync=False)
    assert path.read_bytes() == b"x" * 5000


@pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm")
def test_tmpfs_either_takes_direct_writes_or_falls_back(tmp_path: Path) -> None:
    directory = SHM / f"lv-{os.getpid()}-{tmp_path.name}"
    directory.mkdir()
    try:
        spool = Spool(directory)
        spool.direct_io = True
        part = spool.open_part(PartContainer.TS, PartReason.START)
        for seq in range(3):
            part.append_segment(bytes([seq]) * 70_000, sequence=seq, duration=1.0)
        spool.close()
        data = (directory / "part-0001.ts").read_bytes()
        assert data == b"".join(bytes([seq]) * 70_000 for seq in range(3))
    finally:
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def test_a_part_whose_lease_was_lost_keeps_only_committed_segments(tmp_path: Path) -> None:
    allowed = True

    def fence() -> None:
        if not allowed:
            raise Lost("lease lost")

    spool = Spool(tmp_path)
    spool.direct_io = True
    spool.fence = fence
    part = spool.open_part(PartContainer.TS, PartReason.START)
    part.append_segment(b"1" * 10_000, sequence=1, duration=1.0)
    part.write(b"2" * 3 * ALIGN)  # a segment arriving when the lease lapses: never committed
    allowed = False
    with pytest.raises(Lost):
        part.commit_segment(sequence=2, duration=1.0)
    spool.close()
    assert (tmp_path / "part-0001.ts").read_bytes() == b"1" * 10_000
    assert [s.sequence for s in Spool(tmp_path).segments()] == [1]



def _resident_pages(path: Path) -> list[int]:
    """Offsets of the pages of `path` that are in the page cache (mincore(2) on a mapping of it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    with path.open("r+b") as fh, mmap.mmap(fh.fileno(), 0) as mapped:
        pages = -(-len(mapped) // mmap.PAGESIZE)
        vec = (ctypes.c_ubyte * pages)()
        anchor = ctypes.c_char.from_buffer(mapped)
        try:
            if libc.mincore(ctypes.addressof(anchor), len(mapped), vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
        finally:
            del anchor  # the mapping cannot close while a ctypes object points into it
        return [n * mmap.PAGESIZE for n in range(pages) if vec[n] & 1]


def test_a_block_the_page_cache_holds_is_never_rewritten_with_o_direct(tmp_path: Path) -> None:
    # Given a segment whose last, partial block went through the page cache at sync
    path = tmp_path / "part.ts"
    writer = appender(path)
    writer.write(b"a" * (ALIGN + 904))
    writer.sync()
    # When the next segment fills the buffer and whole blocks go out
    writer.write(b"b" * BUFFER_BYTES)
    # Then that block was completed through the page cache (an O_DIRECT write over it would have made the
    # kernel write it back and drop it first), and every byte is in place
    assert ALIGN in _resident_pages(path)
    writer.close()
    assert path.read_bytes() == b"a" * (ALIGN + 904) + b"b" * BUFFER_BYTES


def test_a_segment_handed_over_whole_is_one_o_direct_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    # Given a hundred appenders, as for a hundred HLS streams, and a record of every write the OS is asked for
    writers = [appender(tmp_path / f"part-{n}.ts") for n in range(100)]
    real_pwrite = os.pwrite
    requests: list[tuple[int, int]] = []

    def recording_pwrite(fd: int, data: bytes | memoryview, offset: int) -> int:
        requests.append((fd, len(data)))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", recording_pwrite)
    rng = random.Random(3)
    expected: dict[int, bytes] = {}
    for _round in range(3):
        for n, writer in enumerate(writers):
            # When each gets a ~700 KB segment in the chunks it arrived in, then a sync (a segment boundary)
            pieces = [rng.randbytes(rng.choice([1400, 16384, 65536])) for _ in range(20)]
            requests.clear()
            writer.write_all(pieces)
            writer.sync()
            expected[n] = expected.get(n, b"") + b"".join(pieces)
            # Then the whole blocks went out in one O_DIRECT request; the rest of the last block, and at most
            # the block a previous sync left in the page cache, through the ordinary descriptor
            direct = [size for fd, size in requests if fd == writer._direct]
            assert len(direct) == 1
            assert direct[0] % ALIGN == 0
            assert all(size <= ALIGN for fd, size in requests if fd != writer._direct)
    for n, writer in enumerate(writers):
        writer.close()
        assert (tmp_path / f"part-{n}.ts").read_bytes() == expected[n]
