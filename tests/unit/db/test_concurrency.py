"""Many threads writing at once (progress updates of parallel recordings) never see "database is locked"."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from livevault.db.repositories import JobRepository, RecordingRepository
from livevault.domain.recording import RecordingStatus
from tests.dbfixtures import make_job, make_recording

THREADS = 8
ROUNDS = 25


def test_parallel_short_transactions(db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory.begin() as session:
        for n in range(THREADS):
            RecordingRepository(session).add(make_recording(n))
            JobRepository(session).add(make_job(f"job-{n}", make_recording(n).id))
    errors: list[BaseException] = []

    def work(n: int) -> None:
        rid = make_recording(n).id
        try:
            with db_session_factory.begin() as session:
                RecordingRepository(session).set_status(rid, RecordingStatus.RECORDING)
            for i in range(ROUNDS):
                with db_session_factory.begin() as session:
                    recordings = RecordingRepository(session)
                    current = recordings.get(rid)
                    assert current is not None
                    recordings.update(rid, segments_captured=current.segments_captured + 1, bytes_captured=i)
                    JobRepository(session).update(f"job-{n}", attempts=i)
                with db_session_factory() as session:
                    RecordingRepository(session).list(limit=5)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db_session_factory() as session:
        counts = {r.segments_captured for r in RecordingRepository(session).active()}
    assert counts == {ROUNDS}
