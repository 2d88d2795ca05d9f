"""The capture ledger: bulk replace and read back, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from livevault.db.repositories import RecordingRepository
from livevault.db.tables import GapRow, PartRow, SegmentRow
from livevault.domain.capture import GapCause, GapRecord, PartContainer, PartInfo, PartReason, SegmentRecord
from livevault.errors import NotFound
from tests.dbfixtures import make_recording

RID = make_recording(1).id
BASE = 1_700_000_000.0


def _parts() -> list[PartInfo]:
    return [
        PartInfo(1, "part-0001.ts", PartContainer.TS, PartReason.START, BASE),
        PartInfo(2, "part-0002.mp4", PartContainer.FMP4, PartReason.DISCONTINUITY, BASE + 600.5),
    ]


def _segments(count: int) -> list[SegmentRecord]:
    half = count // 2
    return [
        SegmentRecord(
            part=1 if i < half else 2,
            sequence=3_000_000_000 + i,  # beyond 32 bits, as some servers number them
            duration=2.002,
            bytes=188 * (1000 + i % 7),
            offset=i * 200_000,
            fetched_at=BASE + i * 2.002,
            discontinuity_sequence=0 if i < half else 1,
            discontinuity=i == half,
            program_date_time="2024-01-01T00:00:00.000Z" if i % 1000 == 0 else None,
        )
        for i in range(count)
    ]


def _gaps() -> list[GapRecord]:
    return [
        GapRecord(1, BASE + 10, BASE + 14, GapCause.SEGMENT_FAILED, 3_000_000_005, 3_000_000_006, 2, 4.004),
        GapRecord(2, BASE + 700, BASE + 760, GapCause.PROCESS_RESTART, duration=60.0),
    ]


@pytest.fixture
def repo(db_session: Session) -> RecordingRepository:
    repository = RecordingRepository(db_session)
    repository.add(make_recording(1))
    repository.add(make_recording(2))
    return repository


def test_round_trip(repo: RecordingRepository, db_session: Session) -> None:
    segments = _segments(10)
    repo.replace_ledger(RID, _parts(), segments, _gaps())
    db_session.commit()
    assert repo.ledger(RID) == (_parts(), segments, _gaps())
    assert repo.gaps(RID) == _gaps()
    assert repo.ledger(make_recording(2).id) == ([], [], [])
    sizes = dict(db_session.execute(select(PartRow.idx, PartRow.bytes).where(PartRow.recording_id == RID)).all())
    assert sizes == {p: sum(s.bytes for s in segments if s.part == p) for p in (1, 2)}


def test_replace_is_a_replacement(repo: RecordingRepository) -> None:
    repo.replace_ledger(RID, _parts(), _segments(10), _gaps())
    repo.replace_ledger(RID, _parts()[:1], _segments(2)[:1], [])
    assert repo.ledger(RID) == (_parts()[:1], _segments(2)[:1], [])


def test_replace_for_missing_recording(repo: RecordingRepository) -> None:
    with pytest.raises(NotFound):
        repo.replace_ledger("missing", _parts(), [], [])


def test_twenty_thousand_segments_quickly(repo: RecordingRepository, db_session: Session) -> None:
    segments = _segments(20_000)
    started = time.perf_counter()
    repo.replace_ledger(RID, _parts(), segments, _gaps())
    db_session.commit()
    written = time.perf_counter()
    parts, read, gaps = repo.ledger(RID)
    done = time.perf_counter()
    assert (parts, gaps) == (_parts(), _gaps())
    assert read == segments
    assert written - started < 5.0, f"write took {written - started:.2f}s"
    assert done - written < 5.0, f"read took {done - written:.2f}s"


def test_delete_cascades_to_the_ledger(repo: RecordingRepository, db_session: Session) -> None:
    repo.replace_ledger(RID, _parts(), _segments(100), _gaps())
    repo.replace_ledger(make_recording(2).id, _parts(), _segments(3), [])
    db_session.commit()
    repo.delete(RID)
    db_session.commit()

    def count(model: type[PartRow] | type[SegmentRow] | type[GapRow], rid: str) -> int:
        return db_session.scalar(select(func.count()).select_from(model).where(model.recording_id == rid)) or 0

    assert [count(m, RID) for m in (PartRow, SegmentRow, GapRow)] == [0, 0, 0]
    assert [count(m, make_recording(2).id) for m in (PartRow, SegmentRow, GapRow)] == [2, 3, 0]
