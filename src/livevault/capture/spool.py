"""Append-only part files plus a segment index and a gap ledger, laid out so a SIGKILL loses nothing written.

Layout of one recording's spool directory::

    parts.jsonl            one PartInfo per line, written when a part opens
    part-0001.ts           media bytes, appended and flushed segment by segment
    part-0001.idx.jsonl    one SegmentRecord per line, written after its bytes are flushed
    gaps.jsonl             one GapRecord per line
    pieces.jsonl           split recordings only: finished pieces and where the next starts
                           (written by `services.pieces`, not by the spool)

Index lines are written only after the bytes they describe are flushed, so the index never claims
media that is not on disk; a torn last line (killed mid-write) is ignored on read. With `Spool.direct_io`
(what recordings use, `LIVEVAULT_SPOOL_DIRECT_IO`) media bytes go out with O_DIRECT (`capture.appenders`);
"flushed" then means written to the file by the time the index line is.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from livevault.capture.appenders import open_appender
from livevault.domain.capture import (
    GapCause,
    GapRecord,
    IntegrityReport,
    PartContainer,
    PartInfo,
    PartReason,
    SegmentRecord,
    build_integrity_report,
)
from livevault.errors import DiskFull

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

PARTS_FILE = "parts.jsonl"
GAPS_FILE = "gaps.jsonl"


def append_jsonl(path: Path, record: dict[str, Any], *, fsync: bool = False) -> None:
    """One compact JSON line appended to `path` (created when missing); with `fsync`, on disk when it returns."""
    data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _index_line(record: SegmentRecord) -> str:
    """`json.dumps(asdict(record))` (compact) and a newline, without asdict's deep copy: one per segment."""
    return _COMPACT.encode({
        "part": record.part, "sequence": record.sequence, "duration": record.duration, "bytes": record.bytes,
        "offset": record.offset, "fetched_at": record.fetched_at,
        "discontinuity_sequence": record.discontinuity_sequence, "discontinuity": record.discontinuity,
        "program_date_time": record.program_date_time,
    }) + "\n"


def _disk(call: Callable[..., None], *args: Any) -> None:
    try:
        call(*args)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFull("no space left on the recordings disk") from exc
        raise


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of `path` ([] when it is missing); a torn line (a crash mid-append) is skipped."""
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("ignoring torn index line in %s", path)
    return rows


class PartWriter:
    """One growing part file, appended through `capture.appenders`. Every write checks `fence` first, and
    bytes an O_DIRECT buffer still holds at close go out only if the fence still allows it, so a process that
    lost its lease cannot write after the fact."""

    def __init__(self, info: PartInfo, directory: Path, fence: Callable[[], None] | None = None, *,
                 direct_io: bool = False) -> None:
        self.info = info
        self._fence = fence
        self.path = directory / info.path
        self._index_path = self.path.with_name(self.path.stem + ".idx.jsonl")
        self._out = open_appender(self.path, direct=direct_io)
        self._open = True
        self._index: IO[str] | None = self._index_path.open("a", encoding="utf-8")
        self.bytes_written = self._out.size
        self.segments = 0
        self._segment_start = self.bytes_written

    @property
    def index(self) -> int:
        return self.info.index

    @property
    def closed(self) -> bool:
        return not self._open

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes to the part (not yet described by the index)."""
        self._check()
        _disk(self._out.write, data)
        self.bytes_written += len(data)

    def write_parts(self, parts: Sequence[bytes | bytearray | memoryview]) -> None:
        """Append chunks as they arrived (not joined into one buffer first)."""
        self._check()
        _disk(self._out.write_all, parts)
        self.bytes_written += sum(map(len, parts))

    def flush(self) -> None:
        """Make every byte written so far part of the file (it survives the death of this process)."""
        if self._open:
            _disk(self._out.sync)

    def _check(self) -> None:
        if self._fence is not None:
            self._fence()
        if not self._open:
            raise ValueError(f"part {self.info.index} is closed")

    def commit_segment(
        self,
        *,
        sequence: int,
        duration: float,
        discontinuity_sequence: int = 0,
        discontinuity: bool = False,
        program_date_time: str | None = None,
    ) -> SegmentRecord:
        """Flush the bytes written since the last commit and record them in the index."""
        if self._fence is not None:
            self._fence()
        self.flush()
        record = SegmentRecord(
            part=self.info.index,
            sequence=sequence,
            duration=round(duration, 6),
            bytes=self.bytes_written - self._segment_start,
            offset=self._segment_start,
            fetched_at=time.time(),
            discontinuity_sequence=discontinuity_sequence,
            discontinuity=discontinuity,
            program_date_time=program_date_time,
        )
        if self._index is None:
            raise ValueError(f"part {self.info.index} is closed")
        self._index.write(_index_line(record))
        self._index.flush()
        self._segment_start = self.bytes_written
        self.segments += 1
        return record

    def append_segment(self, data: bytes | bytearray | memoryview, **fields: Any) -> SegmentRecord:
        self.write(data)
        return self.commit_segment(**fields)

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        allowed = True
        if self._fence is not None:
            try:  # bytes still in an O_DIRECT buffer go out only while this process may write
                self._fence()
            except Exception as exc:
                log.warning("part %s closed without its unsynced tail: %s", self.path.name, exc)
                allowed = False
        self._out.close(sync=allowed)
        if self._index is not None:
            self._index.close()
            self._index = None
        log.info("part closed", extra={"part": self.info.index, "reason": self.info.reason.value,
                                       "container": self.info.container.value, "size": self.bytes_written,
                                       "segments": self.segments,
                                       "duration": round(time.time() - self.info.started_at, 3)})

    def segment_records(self) -> list[SegmentRecord]:
        return [SegmentRecord(**row) for row in read_jsonl(self._index_path)]


class Spool:
    """A recording's working directory: parts, their segment indexes and the gap ledger."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._parts: list[PartInfo] = [self._part_from_row(r) for r in read_jsonl(directory / PARTS_FILE)]
        self._gaps: list[GapRecord] = [self._gap_from_row(r) for r in read_jsonl(directory / GAPS_FILE)]
        self.current: PartWriter | None = None
        self.fence: Callable[[], None] | None = None
        """Called before every write; raises when this process may no longer write (a lost lease)."""
        self.direct_io = False
        """Append media with O_DIRECT (`capture.appenders`) where the filesystem allows it."""
        self.bytes_total = sum(self._part_size(p) for p in self._parts)
        self.segment_count = sum(len(self._segments_of(p)) for p in self._parts)
        self.media_seconds = sum(s.duration for p in self._parts for s in self._segments_of(p))
        """Seconds of media indexed so far (what a `duration` limit counts)."""
        self.last_sequence: int | None = None  # of the newest segment appended by this process

    @staticmethod
    def _part_from_row(row: dict[str, Any]) -> PartInfo:
        return PartInfo(
            index=int(row["index"]),
            path=str(row["path"]),
            container=PartContainer(row["container"]),
            reason=PartReason(row["reason"]),
            started_at=float(row["started_at"]),
        )

    @staticmethod
    def _gap_from_row(row: dict[str, Any]) -> GapRecord:
        row = dict(row)
        row["cause"] = GapCause(row["cause"])
        return GapRecord(**row)

    def _part_size(self, part: PartInfo) -> int:
        path = self.directory / part.path
        return path.stat().st_size if path.exists() else 0

    def _segments_of(self, part: PartInfo) -> list[SegmentRecord]:
        idx = self.directory / (Path(part.path).stem + ".idx.jsonl")
        return [SegmentRecord(**row) for row in read_jsonl(idx)]

    def open_part(self, container: PartContainer, reason: PartReason) -> PartWriter:
        """Close the current part (if any) and start the next one."""
        if self.fence is not None:
            self.fence()
        self.close_part()
        index = (self._parts[-1].index + 1) if self._parts else 1
        info = PartInfo(
            index=index,
            path=f"part-{index:04d}.{container.value}",
            container=container,
            reason=reason,
            started_at=time.time(),
        )
        writer = PartWriter(info, self.directory, self.fence, direct_io=self.direct_io)
        append_jsonl(self.directory / PARTS_FILE, {**asdict(info), "container": container.value,
                                                   "reason": reason.value})
        self._parts.append(info)
        self.current = writer
        return writer

    def adopt_part(self, source: Path, container: PartContainer, reason: PartReason, *, sequence: int,
                   duration: float = 0.0, started_at: float | None = None, extension: str | None = None) -> PartInfo:
        """Make a finished file that another program wrote (an external recorder's output) the next part.

        The file is moved into the spool (a rename on the same disk; an existing part is never overwritten),
        then its line in `parts.jsonl` and one index record covering all its bytes are written, so finalize,
        the ledger and progress treat it like a part livevault wrote itself. `extension` names the file when
        it differs from the container's (a Matroska file kept as ``.mkv``).
        """
        if self.fence is not None:
            self.fence()
        self.close_part()
        index = (self._parts[-1].index + 1) if self._parts else 1
        size = source.stat().st_size
        info = PartInfo(
            index=index,
            path=f"part-{index:04d}.{extension or container.value}",
            container=container,
            reason=reason,
            started_at=time.time() if started_at is None else started_at,
        )
        target = self.directory / info.path
        if target.exists():
            raise FileExistsError(target)
        shutil.move(source, target)
        append_jsonl(self.directory / PARTS_FILE, {**asdict(info), "container": container.value,
                                                   "reason": reason.value})
        self._parts.append(info)
        record = SegmentRecord(part=index, sequence=sequence, duration=round(max(0.0, duration), 6), bytes=size,
                               offset=0, fetched_at=time.time())
        append_jsonl(self.directory / (target.stem + ".idx.jsonl"), asdict(record))
        self.note_segment(record)
        log.info("part adopted", extra={"part": index, "reason": reason.value, "container": container.value,
                                        "size": size, "duration": round(max(0.0, duration), 3)})
        return info

    def ensure_part(self, container: PartContainer, reason: PartReason) -> PartWriter:
        """The current part if it has this container, else a new one."""
        if self.current is not None and not self.current.closed and self.current.info.container == container:
            return self.current
        return self.open_part(container, reason)

    def close_part(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def add_gap(self, gap: GapRecord) -> None:
        if self.fence is not None:
            self.fence()
        append_jsonl(self.directory / GAPS_FILE, {**asdict(gap), "cause": gap.cause.value})
        self._gaps.append(gap)
        log.warning("gap recorded", extra={"cause": gap.cause.value, "duration": round(gap.duration, 3),
                                           "missing_segments": gap.missing_segments, "from_sequence": gap.from_sequence,
                                           "to_sequence": gap.to_sequence})

    def note_segment(self, record: SegmentRecord) -> None:
        """Keep running totals (for progress) after a writer committed a segment."""
        self.segment_count += 1
        self.bytes_total += record.bytes
        self.media_seconds += record.duration
        self.last_sequence = record.sequence

    def parts(self) -> list[PartInfo]:
        return list(self._parts)

    def gaps(self) -> list[GapRecord]:
        return list(self._gaps)

    def segments(self) -> list[SegmentRecord]:
        out: list[SegmentRecord] = []
        for part in self._parts:
            out.extend(self._segments_of(part))
        return out

    def committed_bytes(self, part: PartInfo) -> int:
        """How many bytes of a part its index describes (all of it once closed; less while being written)."""
        return max((r.offset + r.bytes for r in self._segments_of(part)), default=0)

    def segments_of(self, part: PartInfo) -> list[SegmentRecord]:
        """The indexed segments of one part, in the order they were written."""
        return self._segments_of(part)

    def part_paths(self) -> list[tuple[PartInfo, Path]]:
        """Parts that hold bytes, in order, with their absolute paths."""
        return [(p, self.directory / p.path) for p in self._parts if self._part_size(p) > 0]

    def report(self) -> IntegrityReport:
        return build_integrity_report(self.segments(), self.gaps(), self.parts())

    def close(self) -> None:
        self.close_part()
