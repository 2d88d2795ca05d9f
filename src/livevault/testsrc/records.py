"""What the test source remembers: segments produced and served, progressive connections, faults, requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livevault.testsrc.config import SegmentInfo


@dataclass(frozen=True, slots=True)
class ProducedSegment:
    """A segment that exists (became available) on the live clock."""

    global_index: int
    sequence: int
    epoch: int
    first_frame: int
    frame_count: int
    duration: float
    available_at: float  # wall clock (time.time())
    discontinuity: bool
    discontinuity_sequence: int

    @property
    def frames(self) -> range:
        return range(self.first_frame, self.first_frame + self.frame_count)

    @classmethod
    def of(cls, info: SegmentInfo, available_at: float) -> ProducedSegment:
        return cls(info.index, info.sequence, info.epoch.number, info.first_frame, info.frame_count,
                   info.duration, available_at, info.discontinuity, info.epoch.discontinuity_sequence)


@dataclass(frozen=True, slots=True)
class ServedSegment:
    """One answer to a segment request (.ts, .m4s or a byte range of a chunk)."""

    variant: str
    sequence: int
    global_index: int
    epoch: int
    first_frame: int
    frame_count: int
    duration: float
    bytes: int
    status: int
    completed: bool
    at: float  # wall clock
    path: str = ""

    @property
    def frames(self) -> range:
        return range(self.first_frame, self.first_frame + self.frame_count)


@dataclass(slots=True)
class ProgressiveConnection:
    """One endless FLV or TS body: which segments (frame ranges) went out, and how it ended."""

    id: int
    kind: str  # "flv" or "ts"
    opened_at: float
    closed_at: float | None = None
    reason: str | None = None  # end | dropped | offline | client_gone | server_stop | max_segments
    bytes: int = 0
    segments: list[tuple[int, int, int]] = field(default_factory=list)  # (global_index, first_frame, count)
    interrupted: int | None = None  # global index of a segment cut off mid-write (it is in ``segments``)

    @property
    def frame_ranges(self) -> list[range]:
        return [range(first, first + count) for _, first, count in self.segments]

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def snapshot(self) -> ProgressiveConnection:
        return ProgressiveConnection(
            self.id,
            self.kind,
            self.opened_at,
            self.closed_at,
            self.reason,
            self.bytes,
            list(self.segments),
            self.interrupted,
        )


@dataclass(frozen=True, slots=True)
class FaultRecord:
    kind: str
    at: float  # wall clock
    applies_to: int | None  # global index of the first segment affected, if any
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    path: str
    status: int
    at: float  # wall clock
    method: str = "GET"
