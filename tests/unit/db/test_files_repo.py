"""FileRepository on SQLite and PostgreSQL: names are claimed once, one uploader per file, the retry schedule's
view, the backlog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from livevault.db.repositories import FileRepository, RecordingRepository
from livevault.domain.files import FileKind, FileState, Location, StoredFile
from livevault.errors import Conflict
from tests.dbfixtures import T0, make_recording


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
