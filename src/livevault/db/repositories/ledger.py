"""The capture ledger of one recording (parts, segment index, gaps): bulk replace and read back.

Writes are Core `executemany` inserts (batched into multi-row statements by SQLAlchemy), and
reads select plain columns, so tens of thousands of segments take well under a second.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, insert, select

from livevault.db.tables import GapRow, PartRow, SegmentRow
from livevault.domain.capture import GapCause, GapRecord, PartContainer, PartInfo, PartReason, SegmentRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

Ledger = tuple[list[PartInfo], list[SegmentRecord], list[GapRecord]]

PARTS: Table = PartRow.__table__  # type: ignore[assignment]
SEGMENTS: Table = SegmentRow.__table__  # type: ignore[assignment]
GAPS: Table = GapRow.__table__  # type: ignore[assignment]

# Column names equal the dataclass fields, in field order, so rows map positionally.
_SEGMENT_COLUMNS = tuple(f.name for f in fields(SegmentRecord))
_GAP_COLUMNS = tuple(f.name for f in fields(GapRecord))
_GAP_CAUSE = _GAP_COLUMNS.index("cause")


def replace_ledger(
    session: Session,
    recording_id: str,
    parts: Sequence[PartInfo],
    segments: Sequence[SegmentRecord],
    gaps: Sequence[GapRecord],
) -> None:
    """Replace whatever ledger the recording had with these rows (idempotent, one transaction)."""
    for table in (PARTS, SEGMENTS, GAPS):
        session.execute(delete(table).where(table.c.recording_id == recording_id))
    part_bytes: dict[int, int] = defaultdict(int)
    for segment in segments:
        part_bytes[segment.part] += segment.bytes
    _insert(session, PARTS, [_part_row(recording_id, p, part_bytes[p.index]) for p in parts])
    _insert(session, SEGMENTS, [_segment_row(recording_id, s) for s in segments])
    _insert(session, GAPS, [_gap_row(recording_id, g) for g in gaps])


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(table), rows)


def _part_row(recording_id: str, part: PartInfo, size: int) -> dict[str, Any]:
    return {
        "recording_id": recording_id,
        "idx": part.index,
        "path": part.path,
        "container": PartContainer(part.container).value,
        "reason": PartReason(part.reason).value,
        "started_at": part.started_at,
        "bytes": size,
    }


def _segment_row(recording_id: str, segment: SegmentRecord) -> dict[str, Any]:
    row = {name: getattr(segment, name) for name in _SEGMENT_COLUMNS}
    row["recording_id"] = recording_id
    return row


def _gap_row(recording_id: str, gap: GapRecord) -> dict[str, Any]:
    row = {name: getattr(gap, name) for name in _GAP_COLUMNS}
    row["cause"] = GapCause(gap.cause).value
    row["recording_id"] = recording_id
    return row


def read_parts(session: Session, recording_id: str) -> list[PartInfo]:
    query = (
        select(PARTS.c.idx, PARTS.c.path, PARTS.c.container, PARTS.c.reason, PARTS.c.started_at)
        .where(PARTS.c.recording_id == recording_id)
        .order_by(PARTS.c.idx)
    )
    return [
        PartInfo(
            index=idx, path=path, container=PartContainer(container), reason=PartReason(reason), started_at=started_at
        )
        for idx, path, container, reason, started_at in session.execute(query)
    ]


def read_segments(session: Session, recording_id: str) -> list[SegmentRecord]:
    """Segments in the order they were written (the spool's order)."""
    columns = [SEGMENTS.c[name] for name in _SEGMENT_COLUMNS]
    query = select(*columns).where(SEGMENTS.c.recording_id == recording_id).order_by(SEGMENTS.c.id)
    return [SegmentRecord(*row) for row in session.execute(query).all()]


def read_gaps(session: Session, recording_id: str) -> list[GapRecord]:
    columns = [GAPS.c[name] for name in _GAP_COLUMNS]
    query = select(*columns).where(GAPS.c.recording_id == recording_id).order_by(GAPS.c.id)
    gaps: list[GapRecord] = []
    for row in session.execute(query).all():
        values = list(row)
        values[_GAP_CAUSE] = GapCause(values[_GAP_CAUSE])
        gaps.append(GapRecord(*values))
    return gaps


def read_ledger(session: Session, recording_id: str) -> Ledger:
    return read_parts(session, recording_id), read_segments(session, recording_id), read_gaps(session, recording_id)
