"""Stored files (`recording_files`): claims of file names, upload state, and where each file is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from livevault.db.tables import RecordingFileRow, utcnow
from livevault.domain.files import UPLOAD_BACKLOG_STATES, FileKind, FileState, Location, StoredFile
from livevault.errors import Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

_UPDATABLE = frozenset({
    "size", "checksum", "location", "state", "keep_local", "attempts", "next_attempt_at", "claimed_by",
    "claimed_until", "upload_id", "part_size", "parts", "error_code", "error_message", "uploaded_at", "bucket",
    "key", "kind", "piece",
})
FileMap = dict[str, list[StoredFile]]


def _to_file(row: RecordingFileRow) -> StoredFile:
    parts = [(int(n), str(etag)) for n, etag in (row.parts or {}).get("parts", [])]
    return StoredFile(
        id=row.id, recording_id=row.recording_id, kind=FileKind(row.kind), piece=row.piece,
        local_path=row.local_path, location=Location(row.location), state=FileState(row.state),
        created_at=row.created_at, size=row.size, checksum=row.checksum, bucket=row.bucket, key=row.key,
        keep_local=row.keep_local, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        upload_id=row.upload_id, part_size=row.part_size, parts=parts, error_code=row.error_code,
        error_message=row.error_message, uploaded_at=row.uploaded_at,
    )


def _values(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable on a stored file: {sorted(unknown)}")
    values = {k: (v.value if hasattr(v, "value") else v) for k, v in changes.items()}
    if "parts" in values:
        values["parts"] = {"parts": [[int(n), str(e)] for n, e in values["parts"]]}
    return values


class FileRepository:
    """Stored files as `domain.files.StoredFile`; never commits (the caller's transaction does)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, file: StoredFile) -> StoredFile:
        """Insert; a `local_path` (or bucket + key) another file holds is a Conflict (the transaction is then
        unusable: claim each name in a transaction of its own)."""
        row = RecordingFileRow(
            id=file.id, recording_id=file.recording_id, kind=file.kind.value, piece=file.piece,
            local_path=file.local_path, bucket=file.bucket, key=file.key, size=file.size, checksum=file.checksum,
            location=file.location.value, state=file.state.value, keep_local=file.keep_local,
            parts={"parts": []}, created_at=file.created_at, updated_at=utcnow(),
        )
        try:
            self._session.add(row)
            self._session.flush()
        except IntegrityError as exc:
            raise Conflict("that file name is taken", details={"path": file.local_path}) from exc
        return _to_file(row)

    def get(self, file_id: str) -> StoredFile | None:
        row = self._session.get(RecordingFileRow, file_id, populate_existing=True)
        return None if row is None else _to_file(row)

    def by_path(self, local_path: str) -> StoredFile | None:
        row = self._session.scalars(select(RecordingFileRow).where(RecordingFileRow.local_path == local_path)).first()
        return None if row is None else _to_file(row)

    def update(self, file_id: str, **changes: Any) -> StoredFile:
        row = self._session.get(RecordingFileRow, file_id)
        if row is None:
            raise NotFound("stored file not found", details={"id": file_id})
        for name, value in _values(changes).items():
            setattr(row, name, value)
        self._session.flush()
        return _to_file(row)

    def update_if(self, file_id: str, states: Sequence[FileState], **changes: Any) -> bool:
        """Set `changes` only while the file is in one of `states`; False when it is not (or is gone)."""
        result = self._session.execute(
            update(RecordingFileRow)
            .where(RecordingFileRow.id == file_id, RecordingFileRow.state.in_([s.value for s in states]))
            .values(**_values(changes), updated_at=utcnow()),
            execution_options={"synchronize_session": False},
        )
        self._session.expire_all()
        return bool(getattr(result, "rowcount", 0) == 1)

    def delete(self, file_id: str) -> None:
        self._session.execute(delete(RecordingFileRow).where(RecordingFileRow.id == file_id),
                              execution_options={"synchronize_session": False})
        self._session.expire_all()

    def for_recording(self, recording_id: str) -> list[StoredFile]:
        query = (select(RecordingFileRow).where(RecordingFileRow.recording_id == recording_id)
                 .order_by(RecordingFileRow.piece, RecordingFileRow.kind))
        return [_to_file(r) for r in self._session.scalars(query)]

    def for_recordings(self, recording_ids: Sequence[str]) -> FileMap:
        """The files of a page of recordings, in one query."""
        found: FileMap = {rid: [] for rid in recording_ids}
        if not recording_ids:
            return found
        query = (select(RecordingFileRow).where(RecordingFileRow.recording_id.in_(list(recording_ids)))
                 .order_by(RecordingFileRow.piece, RecordingFileRow.kind))
        for row in self._session.scalars(query):
            found[row.recording_id].append(_to_file(row))
        return found

    def claim_upload(self, file_id: str, owner: str, until: datetime, now: datetime) -> bool:
        """Make the caller the uploader of a file waiting for one (pending, failed, or uploading with a lapsed
        claim: its uploader died). False when someone else holds it, or it is uploaded or gone."""
        r = RecordingFileRow
        free = or_(
            r.state.in_([FileState.PENDING.value, FileState.FAILED.value]),
            and_(r.state == FileState.UPLOADING.value, or_(r.claimed_until.is_(None), r.claimed_until < now)),
        )
        result = self._session.execute(
            update(r).where(r.id == file_id, free).values(
                state=FileState.UPLOADING.value, claimed_by=owner, claimed_until=until, updated_at=now,
            ),
            execution_options={"synchronize_session": False},
        )
        self._session.expire_all()
        return bool(getattr(result, "rowcount", 0) == 1)

    def renew(self, file_id: str, owner: str, until: datetime, **changes: Any) -> bool:
        """Extend the caller's claim (and save `changes`, e.g. finished parts); False when it lost the claim."""
        r = RecordingFileRow
        result = self._session.execute(
            update(r).where(r.id == file_id, r.claimed_by == owner, r.state == FileState.UPLOADING.value)
            .values(claimed_until=until, updated_at=utcnow(), **_values(changes)),
            execution_options={"synchronize_session": False},
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def due(self, now: datetime, limit: int = 200) -> list[StoredFile]:
        """Files the retry schedule must act on: waiting uploads past their next attempt, uploads whose
        uploader stopped renewing, deletes that did not finish, and claims a crash left behind."""
        r = RecordingFileRow
        waiting = and_(r.state.in_([FileState.PENDING.value, FileState.FAILED.value, FileState.DELETING.value,
                                    FileState.CLAIMED.value]),
                       or_(r.next_attempt_at.is_(None), r.next_attempt_at <= now))
        lapsed = and_(r.state == FileState.UPLOADING.value, or_(r.claimed_until.is_(None), r.claimed_until < now))
        query = select(r).where(or_(waiting, lapsed)).order_by(r.next_attempt_at, r.id).limit(limit)
        return [_to_file(row) for row in self._session.scalars(query)]

    def postpone(self, file_ids: Sequence[str], until: datetime) -> None:
        if file_ids:
            self._session.execute(
                update(RecordingFileRow).where(RecordingFileRow.id.in_(list(file_ids)))
                .values(next_attempt_at=until),
                execution_options={"synchronize_session": False},
            )

    def backlog(self) -> tuple[int, int]:
        """(files, bytes) waiting to be uploaded."""
        r = RecordingFileRow
        row = self._session.execute(
            select(func.count(), func.coalesce(func.sum(r.size), 0))
            .where(r.state.in_([s.value for s in UPLOAD_BACKLOG_STATES]))
        ).one()
        return int(row[0]), int(row[1])
