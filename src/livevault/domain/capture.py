"""The hand-off types between capture engines, the spool, finalization and the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PartContainer(StrEnum):
    """The container of a part file; the value is its file extension."""

    TS = "ts"
    FLV = "flv"
    FMP4 = "mp4"
    AAC = "aac"


class PartReason(StrEnum):
    """Why a new part was opened."""

    START = "start"
    DISCONTINUITY = "discontinuity"
    SEQUENCE_RESET = "sequence_reset"
    INIT_CHANGE = "init_change"
    RECONNECT = "reconnect"
    RESUME = "resume"


class GapCause(StrEnum):
    SEGMENT_FAILED = "segment_failed"
    SEGMENT_EXPIRED = "segment_expired"
    PLAYLIST_UNREACHABLE = "playlist_unreachable"
    CONNECTION_DROPPED = "connection_dropped"
    STALL = "stall"
    PROCESS_RESTART = "process_restart"


class EndReason(StrEnum):
    END_OF_STREAM = "end_of_stream"
    DURATION = "duration"
    STOPPED = "stopped"
    UNREACHABLE = "unreachable"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class PartInfo:
    index: int
    path: str
    container: PartContainer
    reason: PartReason
    started_at: float


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """One media unit appended to a part: an HLS segment, or a chunk run of a progressive body."""

    part: int
    sequence: int
    duration: float
    bytes: int
    offset: int
    fetched_at: float
    discontinuity_sequence: int = 0
    discontinuity: bool = False
    program_date_time: str | None = None


@dataclass(frozen=True, slots=True)
class GapRecord:
    """A stretch of the broadcast that is not in the recording, and why."""

    part: int
    started_at: float
    ended_at: float
    cause: GapCause
    from_sequence: int | None = None
    to_sequence: int | None = None
    missing_segments: int = 0
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class CaptureOutcome:
    reason: EndReason
    error_code: str | None = None
    error_message: str | None = None
    explicit_end: bool = False
    """The stream itself said it is over (an HLS playlist with EXT-X-ENDLIST): no reconnect is tried."""


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """What was captured and what is missing: part of every recording's JSON."""

    segments_captured: int
    segments_missing: int
    bytes_captured: int
    captured_duration: float
    missing_duration: float
    parts: int
    discontinuities: int
    sequence_resets: int
    gaps: tuple[GapRecord, ...] = field(default_factory=tuple)

    @property
    def completeness_pct(self) -> float:
        total = self.captured_duration + self.missing_duration
        if total <= 0:
            seg_total = self.segments_captured + self.segments_missing
            return 100.0 if seg_total == 0 else round(100.0 * self.segments_captured / seg_total, 2)
        return round(100.0 * self.captured_duration / total, 2)


def build_integrity_report(
    segments: list[SegmentRecord], gaps: list[GapRecord], parts: list[PartInfo]
) -> IntegrityReport:
    """Summarise a segment index and gap ledger."""
    return IntegrityReport(
        segments_captured=len(segments),
        segments_missing=sum(g.missing_segments for g in gaps),
        bytes_captured=sum(s.bytes for s in segments),
        captured_duration=round(sum(s.duration for s in segments), 3),
        missing_duration=round(sum(g.duration for g in gaps), 3),
        parts=len(parts),
        discontinuities=sum(1 for s in segments if s.discontinuity),
        sequence_resets=sum(1 for p in parts if p.reason is PartReason.SEQUENCE_RESET),
        gaps=tuple(gaps),
    )
