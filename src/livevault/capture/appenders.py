"""How a part file is appended: `PlainAppender` through the page cache, or `DirectAppender` with O_DIRECT, so
media goes from a pooled, page-aligned buffer to the disk. `open_appender` picks one; both have `write`,
`write_all`, `sync` (after it, every byte written is in the file) and `close(sync=...)`.

A recorder writes every byte once and reads it back once, at finalize. Through the page cache, each
byte is copied into a freshly allocated cache page: with hundreds of streams that is most of the kernel
time of a capture, and on virtual machines whose host backs guest memory lazily, touching those new pages
costs several times the copy itself (measured on the CI machine: 3.6 s of system CPU per GB written to
new files). With O_DIRECT the block layer reads the data straight from a staging buffer that is allocated
once and stays resident. The appender keeps what it is handed until it drains (at `sync()`, a segment
boundary, or once `DRAIN_BYTES` are pending); a drain copies it into a staging buffer borrowed from a
process-wide pool and writes the whole blocks in one request. A drain never awaits, so a process recording
hundreds of HLS streams from one event loop stages them all through one buffer, and a segment of up to
`BUFFER_BYTES` costs one O_DIRECT request.

O_DIRECT needs offsets, lengths and memory aligned to the device's block; media is not. So whole blocks
go out with O_DIRECT at each drain, and at each `sync()` (a segment boundary) the unaligned rest is
written through a second, ordinary descriptor, so the file always holds every byte handed to `write()`
before the last `sync()`, exactly as a buffered append would, and a SIGKILL loses nothing that was
synced. The bytes that complete that block later go through the ordinary descriptor too, and O_DIRECT
resumes at the next block: a block is written one way only, so an O_DIRECT write never has to flush and
drop a cached copy first (that synchronous write-back, once per segment, cost a tenth of a capture's CPU).

Filesystems without O_DIRECT (some network filesystems, older tmpfs) refuse the open with EINVAL:
`open_appender` then returns a `PlainAppender`. One that
opens but refuses the writes makes the appender switch to its ordinary descriptor for good.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import threading
from io import FileIO
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["ALIGN", "Appender", "DirectAppender", "PlainAppender", "open_appender"]

log = logging.getLogger(__name__)

ALIGN = 4096  # a multiple of every common logical block size (512, 4096); what ext4/XFS accept
BUFFER_BYTES = 1024 * 1024  # the pooled staging buffer: one O_DIRECT write per segment of up to 1 MiB
DRAIN_BYTES = 512 * 1024  # pending data that is drained before `sync` (a progressive stream between commits)
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_IOV_BATCH = 512  # chunks per writev, well below IOV_MAX


class Appender(Protocol):
    size: int

    def write(self, data: bytes | bytearray | memoryview) -> None: ...
    def write_all(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None: ...
    def sync(self) -> None: ...
    def close(self, *, sync: bool = True) -> None: ...


class PlainAppender:
    """Unbuffered appends through the page cache: every write goes straight to the OS, so `sync` has nothing
    to do; `close` fsyncs."""

    def __init__(self, path: Path) -> None:
        self._fh = FileIO(path, "ab")
        self.size = os.fstat(self._fh.fileno()).st_size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._write_fully(memoryview(data))
        self.size += len(data)

    def write_all(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """The chunks in one system call (a segment as it arrived, not joined into one buffer first)."""
        for start in range(0, len(chunks), _IOV_BATCH):
            batch = chunks[start : start + _IOV_BATCH]
            wanted = sum(map(len, batch))
            done = os.writev(self._fh.fileno(), batch)
            if done < wanted:  # a short write: the rest one write at a time
                self._write_fully(memoryview(b"".join(batch))[done:])
            self.size += wanted

    def _write_fully(self, view: memoryview) -> None:
        while view:
            written = self._fh.write(view)
            view = view[written or 0 :]

    def sync(self) -> None:
        """Nothing is buffered here."""

    def close(self, *, sync: bool = True) -> None:
        try:
            if sync:
                os.fsync(self._fh.fileno())
        finally:
            self._fh.close()


class _BufferPool:
    """Page-aligned O_DIRECT staging buffers, shared by every appender of the process. An appender holds one
    only while it drains (a synchronous copy and write, no await in between), so a process recording hundreds
    of segmented streams from one event loop uses one buffer, not one per stream."""

    def __init__(self, size: int, keep: int) -> None:
        self.size = size
        self._keep = keep
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def take(self) -> mmap.mmap:
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, self.size)

    def give(self, buffer: mmap.mmap) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buffer)
                return
        buffer.close()


_POOL = _BufferPool(BUFFER_BYTES, keep=4)


class DirectAppender:
    """Append-only writer of one file. `write` keeps the data it is handed (not a copy: callers hand over
    buffers they no longer change); a drain copies it into a pooled aligned buffer and writes whole blocks with
    O_DIRECT, at `sync` or once `DRAIN_BYTES` are pending; the rest of the last block (under `ALIGN` bytes)
    stays with the appender. `sync` then makes every written byte part of the file."""

    def __init__(self, path: Path, direct_fd: int) -> None:
        self.path = path
        self._direct = direct_fd
        self._plain = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        size = os.fstat(direct_fd).st_size
        self._base = size - size % ALIGN  # file offset of `_tail`'s first byte (block aligned)
        # reopened after a restart: the partial last block is rewritten with what follows it
        self._tail = _read_at(path, self._base, size % ALIGN) if size % ALIGN else b""
        self._pending: list[bytes | bytearray | memoryview] = []
        self._pending_bytes = 0
        self.size = size
        self._cached = bool(self._tail)  # the block at `_base` went (in part) through the page cache
        self._cached_tail_current = False  # the page cache holds exactly `_tail`: nothing drained since the sync

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.write_all((data,))

    def write_all(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """The chunks as one write: a segment handed over whole drains once, in one O_DIRECT request."""
        for chunk in chunks:
            if chunk:
                self._pending.append(chunk)
                self._pending_bytes += len(chunk)
                self.size += len(chunk)
        if self._pending_bytes >= DRAIN_BYTES:
            self._drain()

    def sync(self) -> None:
        """Write whole blocks with O_DIRECT and the partial rest through the ordinary descriptor."""
        self._drain()
        if self._tail and not self._cached_tail_current:
            _pwrite_all(self._plain, memoryview(self._tail), self._base)
            self._cached = True
            self._cached_tail_current = True

    def close(self, *, sync: bool = True) -> None:
        """Write what is pending (unless `sync` is False: it is dropped) and release the file."""
        try:
            if sync:
                self.sync()
                os.fsync(self._plain)
        finally:
            self._pending.clear()
            if self._direct != self._plain:
                os.close(self._direct)
            os.close(self._plain)

    def _drain(self) -> None:
        """Pending data after `_tail`, through a pooled buffer: whole blocks out, the partial rest kept."""
        if not self._pending:
            return
        self._cached_tail_current = False
        buffer = _POOL.take()
        try:
            view = memoryview(buffer)
            try:
                self._fill_and_write(view)
            finally:
                view.release()
        finally:
            _POOL.give(buffer)
        self._pending.clear()
        self._pending_bytes = 0

    def _fill_and_write(self, view: memoryview) -> None:
        capacity = len(view)
        fill = len(self._tail)
        view[:fill] = self._tail
        for data in self._pending:
            chunk = memoryview(data).cast("B") if not isinstance(data, bytes) else data
            size, offset = len(chunk), 0
            while offset < size:
                take = min(capacity - fill, size - offset)
                view[fill : fill + take] = chunk[offset : offset + take]
                fill += take
                offset += take
                if fill == capacity:
                    self._write_blocks(view, capacity)
                    fill = 0
        whole = fill - fill % ALIGN
        if whole:
            self._write_blocks(view, whole)
        self._tail = bytes(view[whole:fill])

    def _write_blocks(self, view: memoryview, whole: int) -> None:
        """`view[:whole]` (whole blocks) to the file at `_base`; the first one through the page cache when the
        last sync left that block there."""
        start = 0
        if self._cached:  # complete the block the last sync left in the page cache the same way
            _pwrite_all(self._plain, view[:ALIGN], self._base)
            self._cached = False
            start = ALIGN
        if start < whole:
            self._write_direct(view, start, whole)
        self._base += whole

    def _write_direct(self, view: memoryview, start: int, end: int) -> None:
        try:
            _pwrite_all(self._direct, view[start:end], self._base + start)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP) or self._direct == self._plain:
                raise
            # The filesystem opened the file with O_DIRECT but refuses such writes: go through the page cache.
            log.info("%s: O_DIRECT writes refused (%s); appending through the page cache", self.path, exc)
            os.close(self._direct)
            self._direct = self._plain
            _pwrite_all(self._direct, view[start:end], self._base + start)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        done = os.pwrite(fd, view, offset)
        if done <= 0:
            raise OSError(errno.EIO, f"write returned {done}")
        view, offset = view[done:], offset + done


def _read_at(path: Path, offset: int, length: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def open_appender(path: Path, *, direct: bool) -> Appender:
    """An appender for `path` (created if missing): O_DIRECT when `direct` and the filesystem allows it."""
    if not direct or not _O_DIRECT:
        return PlainAppender(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | _O_DIRECT, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return PlainAppender(path)
        raise
    try:
        return DirectAppender(path, fd)
    except BaseException:
        os.close(fd)
        raise
