"""How a part file is appended: `PlainAppender` through the page cache, or `DirectAppender` with O_DIRECT, so
media goes from a small reused buffer to the disk. `open_appender` picks one; both have `write`,
`write_all`, `sync` (after it, every byte written is in the file) and `close(sync=...)`.

A recorder writes every byte once and reads it back once, at finalize. Through the page cache, each
byte is copied into a freshly allocated cache page: with hundreds of streams that is most of the kernel
time of a capture, and on virtual machines whose host backs guest memory lazily, touching those new pages
costs several times the copy itself (measured on the CI machine: 3.6 s of system CPU per GB written to
new files). With O_DIRECT the block layer reads the data straight from this process's buffer, which is
allocated once and stays resident.

O_DIRECT needs offsets, lengths and memory aligned to the device's block; media is not. So whole blocks
go out with O_DIRECT as the buffer fills, and at each `sync()` (a segment boundary) the unaligned rest is
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
from io import FileIO
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["ALIGN", "Appender", "DirectAppender", "PlainAppender", "open_appender"]

log = logging.getLogger(__name__)

ALIGN = 4096  # a multiple of every common logical block size (512, 4096); what ext4/XFS accept
BUFFER_BYTES = 256 * 1024  # one O_DIRECT write per 256 KiB: fewer, larger requests cost less CPU per byte
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_IOV_BATCH = 512  # chunks per writev, well below IOV_MAX


class Appender(Protocol):
    size: int

    def write(self, data: bytes | memoryview) -> None: ...
    def write_all(self, chunks: Sequence[bytes]) -> None: ...
    def sync(self) -> None: ...
    def close(self, *, sync: bool = True) -> None: ...


class PlainAppender:
    """Unbuffered appends through the page cache: every write goes straight to the OS, so `sync` has nothing
    to do; `close` fsyncs."""

    def __init__(self, path: Path) -> None:
        self._fh = FileIO(path, "ab")
        self.size = os.fstat(self._fh.fileno()).st_size

    def write(self, data: bytes | memoryview) -> None:
        self._write_fully(memoryview(data))
        self.size += len(data)

    def write_all(self, chunks: Sequence[bytes]) -> None:
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


class DirectAppender:
    """Append-only writer of one file; `write` buffers, whole blocks go out with O_DIRECT, `sync` makes all
    written bytes part of the file."""

    def __init__(self, path: Path, direct_fd: int) -> None:
        self.path = path
        self._direct = direct_fd
        self._plain = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        self._buffer = mmap.mmap(-1, BUFFER_BYTES)  # page aligned, reused for the life of the file
        self._view = memoryview(self._buffer)
        size = os.fstat(direct_fd).st_size
        self._base = size - size % ALIGN  # file offset of the buffer's first byte
        self._fill = size % ALIGN
        if self._fill:  # reopened after a restart: the partial last block is rewritten with what follows it
            self._view[: self._fill] = _read_at(path, self._base, self._fill)
        self.size = size
        self._cached = bool(self._fill)  # the block at `_base` went (in part) through the page cache

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            room = BUFFER_BYTES - self._fill
            take = min(room, len(view))
            self._view[self._fill : self._fill + take] = view[:take]
            self._fill += take
            self.size += take
            view = view[take:]
            if self._fill == BUFFER_BYTES:
                self._write_blocks()

    def write_all(self, chunks: Sequence[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def sync(self) -> None:
        """Write whole blocks with O_DIRECT and the partial rest through the ordinary descriptor."""
        self._write_blocks()
        if self._fill:
            _pwrite_all(self._plain, self._view[: self._fill], self._base)
            self._cached = True

    def close(self, *, sync: bool = True) -> None:
        """Write what is buffered (unless `sync` is False: it is dropped) and release the file."""
        try:
            if sync:
                self.sync()
                os.fsync(self._plain)
        finally:
            if self._direct != self._plain:
                os.close(self._direct)
            os.close(self._plain)
            self._view.release()
            self._buffer.close()

    def _write_blocks(self) -> None:
        whole = self._fill - self._fill % ALIGN
        if not whole:
            return
        start = 0
        if self._cached:  # complete the block the last sync left in the page cache the same way
            _pwrite_all(self._plain, self._view[:ALIGN], self._base)
            self._cached = False
            start = ALIGN
        if start < whole:
            self._write_direct(start, whole)
        rest = self._fill - whole
        if rest:
            self._view[:rest] = self._view[whole : self._fill]
        self._base += whole
        self._fill = rest

    def _write_direct(self, start: int, end: int) -> None:
        try:
            _pwrite_all(self._direct, self._view[start:end], self._base + start)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP) or self._direct == self._plain:
                raise
            # The filesystem opened the file with O_DIRECT but refuses such writes: go through the page cache.
            log.info("%s: O_DIRECT writes refused (%s); appending through the page cache", self.path, exc)
            os.close(self._direct)
            self._direct = self._plain
            _pwrite_all(self._direct, self._view[start:end], self._base + start)


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
