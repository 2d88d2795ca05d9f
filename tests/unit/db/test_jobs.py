"""JobRepository on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from livevault.db.repositories import JobRepository, RecordingRepository
from livevault.domain.recording import JobStatus
from livevault.errors import Conflict, NotFound
from tests.dbfixtures import T0, make_job, make_recording


def test_add_get_update(db_session: Session) -> None:
    RecordingRepository(db_session).add(make_recording(1))
    jobs = JobRepository(db_session)
    job = make_job("task-1", make_recording(1).id, correlation_id="c")
    assert jobs.add(job) == job
    db_session.commit()
    db_session.expire_all()
    assert jobs.get("task-1") == job
    assert jobs.get("missing") is None
    ended = T0 + timedelta(minutes=5)
    result = {"returncode": 0, "files": ["a.mp4"], "s3": []}
    updated = jobs.update("task-1", status=JobStatus.SUCCESS, result=result, ended_at=ended, attempts=2)
    db_session.commit()
    db_session.expire_all()
    got = jobs.get("task-1")
    assert got == updated
    assert got is not None
    assert (got.status, got.result, got.ended_at, got.attempts) == (JobStatus.SUCCESS, result, ended, 2)
    assert got.ended_at is not None
    assert got.ended_at.tzinfo is not None


def test_errors(db_session: Session) -> None:
    jobs = JobRepository(db_session)
    jobs.add(make_job("task-1"))
    with pytest.raises(NotFound):
        jobs.update("missing", status=JobStatus.STARTED)
    with pytest.raises(ValueError):
        jobs.update("task-1", bogus=1)
    db_session.commit()
    with pytest.raises(Conflict):
        jobs.add(make_job("task-1"))


def test_for_recording_oldest_first(db_session: Session) -> None:
    RecordingRepository(db_session).add(make_recording(1))
    RecordingRepository(db_session).add(make_recording(2))
    jobs = JobRepository(db_session)
    rid = make_recording(1).id
    jobs.add(make_job("b-finalize", rid, kind="finalize", created_at=T0 + timedelta(minutes=1)))
    jobs.add(make_job("a-record", rid))
    jobs.add(make_job("other", make_recording(2).id))
    assert [j.id for j in jobs.for_recording(rid)] == ["a-record", "b-finalize"]
    assert jobs.for_recording("missing") == []
