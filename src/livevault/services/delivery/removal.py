"""Removing a recording's files: its S3 objects and local files, then their rows, and dropping local copies
whose remote copy is verified. What cannot be removed now stays marked `deleting`; the retry schedule
(`schedule.py`) finishes it and then removes the recording itself."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import FileRepository, RecordingRepository
from livevault.domain.files import FileState, Location, StoredFile
from livevault.domain.recording import ACTIVE_RECORDING_STATUSES, Recording
from livevault.errors import StorageUnavailable
from livevault.services.recording.record import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from livevault.config import Settings
    from livevault.services.uow import Database
    from livevault.storage.base import Store
    from livevault.storage.local import LocalStore


class FileRemoval:
    def __init__(self, settings: Settings, db: Database, local: LocalStore, remote: Store | None, *,
                 files_changed: Callable[[], None] | None = None) -> None:
        self._settings = settings
        self._db = db
        self._local = local
        self._remote = remote
        self._files_changed = files_changed

    def drop_local_copies(self, files: Sequence[StoredFile]) -> int:
        """Remove the local copy of each of `files` that has a verified remote copy; returns the bytes freed."""
        freed = 0
        for file in files:
            if file.state is not FileState.UPLOADED or file.location is not Location.BOTH:
                continue
            marked = self._db.run(partial(_to_remote_only, file_id=file.id))
            if marked:  # only a file still uploaded (not being deleted) loses its local copy
                self._local.delete(file.local_path)
                freed += file.size
        if self._files_changed is not None:
            self._files_changed()
        return freed

    def delete_files(self, recording: Recording) -> None:
        """Mark every file `deleting`, then remove each (object, local file, row). Blocking.

        Raises:
            StorageUnavailable: something could not be removed; the retry schedule finishes it.
        """
        now = utcnow()
        retry_at = now + timedelta(seconds=self._settings.s3_retry_interval)

        def mark(session: Any) -> list[StoredFile]:
            repo = FileRepository(session)
            files = repo.for_recording(recording.id)
            for file in files:
                repo.update(file.id, state=FileState.DELETING, next_attempt_at=retry_at, claimed_by=None)
            return files

        files = self._db.run(mark)
        failures: list[str] = []
        for file in files:
            try:
                self.delete_file(file)
            except StorageUnavailable as exc:
                failures.append(exc.message)
        for legacy in (recording.file_path, recording.thumbnail_path):
            if legacy and not any(f.local_path == legacy for f in files):
                self._local.delete(legacy)
        if failures:
            raise StorageUnavailable(
                "some files could not be deleted yet; the deletion is retried automatically",
                details={"recording_id": recording.id, "errors": failures[:5]},
            )

    def delete_file(self, file: StoredFile) -> None:
        """The object (and any unfinished multipart upload), the local file, then the row."""
        if file.key or file.upload_id:
            if self._remote is None:
                raise StorageUnavailable(f"{file.key} is in S3 but S3 is not configured", details={"key": file.key})
            if file.upload_id:
                self._remote.abort(file.local_path, file.upload_id)
            self._remote.delete(file.local_path)
        self._local.delete(file.local_path)
        self._db.run(lambda s: FileRepository(s).delete(file.id))

    def postpone(self, file_ids: list[str], until: datetime) -> None:
        self._db.run(partial(_postpone, file_ids=file_ids, until=until))

    def drop_if_empty(self, session: Any, recording_id: str) -> None:
        """A recording whose deletion had to wait for its files goes once the last one is gone."""
        if FileRepository(session).for_recording(recording_id):
            return
        recordings = RecordingRepository(session)
        recording = recordings.get(recording_id)
        if recording is not None and recording.status not in ACTIVE_RECORDING_STATUSES:
            recordings.delete(recording_id)
            shutil.rmtree(self._settings.spool_dir / recording_id, ignore_errors=True)


def _postpone(session: Any, *, file_ids: list[str], until: datetime) -> None:
    FileRepository(session).postpone(file_ids, until)


def _to_remote_only(session: Any, *, file_id: str) -> bool:
    """An uploaded file that still has its local copy becomes remote-only (retention drops the local copy)."""
    return FileRepository(session).update_if(file_id, [FileState.UPLOADED], location=Location.S3)
