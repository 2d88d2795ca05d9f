"""Value types of a remux (its options and result) and the output-file helpers it uses."""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livevault.domain.capture import PartContainer
from livevault.errors import DiskFull, RemuxFailed

if TYPE_CHECKING:
    from pathlib import Path

    from livevault.domain.capture import PartInfo

TS_PACKET = 188
SEEK_BACK = 32 * 1024 * 1024  # far more than any PES that ends after a keyframe can start before it


class _StartNotFound(Exception):
    """The keyframe a piece starts at was not met where it was looked for."""


@dataclass(frozen=True, slots=True)
class SkippedPart:
    index: int
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Cut:
    """A piece boundary: before the ``packet``-th packet (0-based, demux order of the part's picked streams,
    empty packets not counted) of part ``part``, a video keyframe; ``pos`` is that packet's byte offset in
    the part. In an MPEG-TS part the keyframe is found by ``pos`` when ``packet`` is -1 (the cut was found
    in a read that began inside the part, so its count from the start is unknown)."""

    part: int
    packet: int
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Split:
    """Copy one piece: from ``start`` (None: the beginning) up to the first clean keyframe once ``seconds``
    of media or ``size`` bytes of packets were written (neither: to the end). ``growing`` is the index of a
    part still being written: a cut found at its end is not final yet."""

    start: Cut | None = None
    seconds: float | None = None
    size: int | None = None
    growing: int | None = None
    seek_back: int | None = SEEK_BACK  # an MPEG-TS part is read from this many bytes before `start` (None: whole)

    @property
    def bounded(self) -> bool:
        return self.seconds is not None or self.size is not None

    def read_from(self, part: PartInfo) -> int:
        """Where to begin reading a part a piece starts inside: well before the cut in an MPEG-TS part (so a
        long part is not read again from its start for every piece), else at its start."""
        start, back = self.start, self.seek_back
        if start is None or start.part != part.index or back is None:
            return 0
        if part.container is not PartContainer.TS or start.pos - back <= 0:
            return 0
        base = start.pos - back
        return base - base % TS_PACKET


@dataclass(frozen=True, slots=True)
class RemuxResult:
    output: Path
    duration: float
    video_packets: int
    audio_packets: int
    parts_used: tuple[int, ...]
    parts_skipped: tuple[SkippedPart, ...]
    timestamp_adjustments: int
    timestamps_repaired: int
    packets_dropped: int
    warnings: tuple[str, ...]
    overlap_packets_dropped: int = 0  # packets a reconnect/resume part resent, dropped as duplicates
    cut: Cut | None = None  # with a bounded Split: where this piece ended (the next one starts there)


def _write_error(exc: Exception, name: str) -> DiskFull | RemuxFailed:
    if getattr(exc, "errno", None) == errno.ENOSPC:
        return DiskFull(f"no space left while writing {name}")
    return RemuxFailed(f"writing {name} failed: {exc}", details={"output": name})


def _fsync_and_rename(tmp: Path, output: Path) -> None:
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(output)
    with contextlib.suppress(OSError):  # make the rename durable too, where the OS allows
        dir_fd = os.open(output.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
