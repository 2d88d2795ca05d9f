"""Writing HLS segments and gaps to the spool, in sequence order, splitting parts where timestamps break.

EXT-X-DISCONTINUITY, a media-sequence reset and a changed EXT-X-MAP (or container) each open a new part,
so every part has continuous timestamps; a new part starts with its init section.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from livevault.capture.hls_window import segment_gap
from livevault.capture.progressive import notify_progress
from livevault.domain.capture import GapCause, GapRecord, PartContainer, PartReason

if TYPE_CHECKING:
    import asyncio

    from livevault.capture.base import CaptureControl
    from livevault.capture.hls_fetch import Fetched
    from livevault.capture.hls_window import PendingGap
    from livevault.capture.http import Body
    from livevault.capture.m3u8 import Segment
    from livevault.capture.spool import PartWriter, Spool

log = logging.getLogger(__name__)

_FMP4_BOXES = {b"ftyp", b"styp", b"moof", b"sidx", b"moov"}
_EXTENSIONS = {".ts": PartContainer.TS, ".aac": PartContainer.AAC, ".m4s": PartContainer.FMP4,
               ".mp4": PartContainer.FMP4, ".m4a": PartContainer.FMP4, ".m4v": PartContainer.FMP4,
               ".cmfv": PartContainer.FMP4, ".cmfa": PartContainer.FMP4}


def detect_container(segment: Segment, head: bytes) -> PartContainer:
    """The container of a segment: fMP4 when it has a map, else from its first bytes, else its extension."""
    if segment.init is not None:
        return PartContainer.FMP4
    if head[:1] == b"\x47":
        return PartContainer.TS
    if head[4:8] in _FMP4_BOXES:
        return PartContainer.FMP4
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xF0 == 0xF0):
        return PartContainer.AAC
    return _EXTENSIONS.get(PurePosixPath(urlsplit(segment.uri).path).suffix.lower(), PartContainer.TS)


@dataclass(slots=True, eq=False)
class QueueItem:
    """One entry of a capture's in-order queue: a segment to fetch and write, or a gap to record."""

    segment: Segment | None = None
    gap: PendingGap | None = None
    epoch: int = 0
    reset: bool = False
    task: asyncio.Task[Fetched] | None = None


class HlsSpoolWriter:
    """Appends one capture's segments and gaps to its spool; `open_reason` names its first part."""

    def __init__(self, spool: Spool, control: CaptureControl, open_reason: PartReason) -> None:
        self._spool = spool
        self._control = control
        self._open_reason = open_reason
        self._part_disc: int | None = None
        self._part_init: tuple[str, object] | None = None
        self._reset_pending = False
        self._reconnect_pending = False

    def write(self, segment: Segment | None, gap: PendingGap | None, fetched: Fetched | None, *,
              reset: bool = False) -> None:
        """Write the next queue entry: a gap, or a fetched segment (a failed fetch becomes a gap).

        `reset` marks the first entry after a media-sequence reset; the next segment opens a new part.
        """
        self._reset_pending = self._reset_pending or reset
        if gap is not None:
            self.add_gap(gap)
            return
        assert segment is not None
        assert fetched is not None
        if fetched.body is None:
            cause = GapCause.SEGMENT_EXPIRED if fetched.expired else GapCause.SEGMENT_FAILED
            self.add_gap(segment_gap(segment, cause, fetched.started))
            return
        try:
            self._write_segment(segment, fetched.body, fetched.init)
        finally:
            fetched.body.discard()

    def _write_segment(self, seg: Segment, body: Body, init: bytes | None) -> None:
        part, reason = self._part_for(seg, detect_container(seg, body.head))
        if reason is not None and init is not None:
            part.write(init)
        if body.path is None:
            part.write_parts(body.parts)
        else:
            for chunk in body.chunks():
                part.write(chunk)
        record = part.commit_segment(
            sequence=seg.sequence, duration=seg.duration, discontinuity_sequence=seg.discontinuity_sequence,
            discontinuity=reason is PartReason.DISCONTINUITY, program_date_time=seg.program_date_time,
        )
        self._spool.note_segment(record)
        notify_progress(self._spool, self._control)

    def _part_for(self, seg: Segment, container: PartContainer) -> tuple[PartWriter, PartReason | None]:
        """The part this segment goes to, opening a new one (with its init section) when needed."""
        init = (seg.init.uri, seg.init.byterange) if seg.init is not None else None
        current = self._spool.current
        reason: PartReason | None = None
        if current is None or current.closed:
            reason = self._open_reason
        elif self._reset_pending:
            reason = PartReason.SEQUENCE_RESET
        elif self._reconnect_pending:
            reason = PartReason.RECONNECT
        elif seg.discontinuity_sequence != self._part_disc:
            reason = PartReason.DISCONTINUITY
        elif init != self._part_init or container is not current.info.container:
            reason = PartReason.INIT_CHANGE
        self._part_disc, self._part_init, self._reset_pending = seg.discontinuity_sequence, init, False
        self._reconnect_pending = False
        if reason is None and current is not None:
            return current, None
        log.debug("HLS part opened (%s, %s)", reason, container.value)  # logged with its size when it closes
        return self._spool.open_part(container, reason or PartReason.START), reason

    def add_gap(self, gap: PendingGap) -> None:
        """Record a gap against the open part, else the last part (0 when there is none yet).

        Media after an unreachable playlist goes into a new part (RECONNECT): its timestamps jumped.
        """
        if gap.cause is GapCause.PLAYLIST_UNREACHABLE:
            self._reconnect_pending = True
        current = self._spool.current
        parts = self._spool.parts()
        part = current.index if current is not None else (parts[-1].index if parts else 0)
        self._spool.add_gap(GapRecord(
            part=part, started_at=gap.started, ended_at=max(gap.ended, gap.started), cause=gap.cause,
            from_sequence=gap.from_seq, to_sequence=gap.to_seq, missing_segments=gap.missing,
            duration=round(gap.duration, 3),
        ))
