"""The partial unique index on capturing recordings' source keys, on both databases."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm import Session, sessionmaker

from livevault.db.repositories import RecordingRepository
from livevault.domain.recording import RecordingStatus
from livevault.errors import AlreadyRecording
from tests.dbfixtures import make_recording

KEY = "url:https://example.com/live.m3u8"


def test_a_second_capturing_recording_of_a_source_names_the_first(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    first = repo.add(make_recording(1, source_key=KEY, job_id="job-1"))
    with pytest.raises(AlreadyRecording) as caught:
        repo.add(make_recording(2, source_key=KEY))
    assert caught.value.details["recording_id"] == first.id
    assert caught.value.details["task_id"] == "job-1"


@pytest.mark.parametrize("status", [RecordingStatus.COMPLETED, RecordingStatus.FAILED, RecordingStatus.PROCESSING])
def test_a_recording_that_no_longer_captures_does_not_block(db_session: Session, status: RecordingStatus) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1, source_key=KEY))
    if status is RecordingStatus.COMPLETED:
        repo.set_status(make_recording(1).id, RecordingStatus.PROCESSING)
    repo.set_status(make_recording(1).id, status)
    repo.add(make_recording(2, source_key=KEY))
    assert repo.capturing(KEY) is not None


def test_rows_without_a_key_never_conflict(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1))
    repo.add(make_recording(2))


def test_the_index_refuses_a_concurrent_insert(db_session_factory: sessionmaker[Session]) -> None:
    """Two transactions that both saw no capturing recording: the database lets only one insert."""
    first = db_session_factory()
    RecordingRepository(first).add(make_recording(1, source_key=KEY))  # inserted, not committed
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            with db_session_factory.begin() as session:
                RecordingRepository(session).add(make_recording(2, source_key=KEY))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)  # it waits on the first transaction's row (PostgreSQL) or write lock (SQLite)
    first.commit()
    first.close()
    thread.join(10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], AlreadyRecording), outcome
