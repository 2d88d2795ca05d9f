"""FileRepository on SQLite and PostgreSQL: names are claimed once, one uploader per file, the retry schedule's
view, the backlog."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from livevault.db.repositories import FileRepository, RecordingRepository
from livevault.domain.files import FileKind, FileState, Location, StoredFile
from livevault.errors import Conflict
from tests.dbfixtures import T0, make_recording
from tests.unit.db.test_files_index import _captured, _plan, _seed


def stored(n: int, recording_id: str, path: str, **fields: object) -> StoredFile:
    values: dict[str, object] = {
        "id": f"file-{n}", "recording_id": recording_id, "kind": FileKind.VIDEO, "piece": 0, "local_path": path,
        "location": Location.LOCAL, "state": FileState.CLAIMED, "created_at": T0, **fields,
    }
    return StoredFile(**values)  # type: ignore[arg-type]


def test_a_name_and_an_object_key_belong_to_one_file(db_session: Session) -> None:
    recordings = RecordingRepository(db_session)
    recordings.add(make_recording(1))
    recordings.add(make_recording(2))
    files = FileRepository(db_session)
    files.add(stored(1, make_recording(1).id, "same/name.mp4", bucket="b", key="k/same/name.mp4"))
    db_session.commit()
    with pytest.raises(Conflict):
        files.add(stored(2, make_recording(2).id, "same/name.mp4"))
    db_session.rollback()
    with pytest.raises(Conflict):
        files.add(stored(3, make_recording(2).id, "other/name.mp4", bucket="b", key="k/same/name.mp4"))
    db_session.rollback()
    files.add(stored(4, make_recording(2).id, "same/name-1.mp4", bucket="b", key="k/same/name-1.mp4"))
    db_session.commit()
    assert [f.local_path for f in files.for_recordings([make_recording(1).id, make_recording(2).id])[
        make_recording(2).id]] == ["same/name-1.mp4"]


def test_one_uploader_per_file_and_takeover_after_the_claim_lapses(db_session: Session) -> None:
    RecordingRepository(db_session).add(make_recording(1))
    files = FileRepository(db_session)
    files.add(stored(1, make_recording(1).id, "a.mp4", size=100))
    files.update("file-1", state=FileState.PENDING, parts=[(1, "etag1")], upload_id="u1", part_size=5)
    db_session.commit()
    assert files.backlog() == (1, 100)
    until = T0 + timedelta(seconds=30)
    assert files.claim_upload("file-1", "w1", until, T0)
    assert not files.claim_upload("file-1", "w2", until, T0 + timedelta(seconds=10))
    assert files.renew("file-1", "w1", until + timedelta(seconds=30), parts=[(1, "etag1"), (2, "etag2")])
    assert not files.renew("file-1", "w2", until)
    db_session.commit()
    got = files.get("file-1")
    assert got is not None
    assert (got.upload_id, got.parts) == ("u1", [(1, "etag1"), (2, "etag2")])
    later = until + timedelta(seconds=31)
    assert [f.id for f in files.due(later)] == ["file-1"]  # its uploader stopped renewing
    assert files.claim_upload("file-1", "w2", later + timedelta(seconds=30), later)
    assert not files.renew("file-1", "w1", later)  # the first uploader lost it
    assert files.update_if("file-1", [FileState.UPLOADING], state=FileState.UPLOADED, location=Location.BOTH)
    assert not files.update_if("file-1", [FileState.UPLOADING], state=FileState.FAILED)
    db_session.commit()
    assert files.backlog() == (0, 0)
    assert files.due(later + timedelta(days=1)) == []


def test_where_each_file_is_is_read_per_page_fast_at_100k(
    db_engine: Engine, db_session_factory: sessionmaker[Session]
) -> None:
    with db_session_factory() as session:
        _seed(session)
        parts = "CAST('{\"parts\": []}' AS jsonb)" if db_engine.dialect.name == "postgresql" else "'{\"parts\": []}'"
        session.execute(text(
            "INSERT INTO recording_files (id, recording_id, kind, piece, local_path, location, state, parts, "
            "created_at, updated_at) SELECT 'f-' || id, id, 'video', 0, file_path || '/' || id, 's3', 'uploaded', "
            f"{parts}, created_at, updated_at FROM recordings WHERE file_path IS NOT NULL"
        ))
        session.commit()
        if db_engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE recording_files"))
            session.commit()
    with db_session_factory() as session, _captured(db_engine) as statements:
        started = time.perf_counter()
        page, _total = RecordingRepository(session).files(limit=50, offset=100)
        where = FileRepository(session).for_recordings([r.id for r in page])
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"a page with its files took {elapsed:.3f}s"
    assert all(len(where[r.id]) == 1 and where[r.id][0].location is Location.S3 for r in page)
    statement, parameters = statements[-1]
    assert "ix_recording_files_recording_id" in _plan(db_engine, statement, parameters)
