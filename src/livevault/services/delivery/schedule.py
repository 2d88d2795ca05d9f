"""The durable retry schedule of storage: one pass (`sweep`) acts on every file row that is due. Uploads that
failed or whose uploader stopped renewing its claim are queued again, unfinished deletes are retried, and names
claimed by a finalize that never reported back are registered (the file is there) or given back. Embedded mode
runs it in the process (`start`); workers get it from Celery beat."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import FileRepository, RecordingRepository
from livevault.domain.files import FileState, FinalizedFile, StoredFile
from livevault.domain.recording import ACTIVE_RECORDING_STATUSES
from livevault.errors import StorageUnavailable
from livevault.services.background import RepeatingPass
from livevault.services.recording.record import utcnow

if TYPE_CHECKING:
    from livevault.config import Settings
    from livevault.services.delivery.storage import StorageService
    from livevault.services.uow import Database

log = logging.getLogger(__name__)

UPLOAD_STATES = (FileState.PENDING, FileState.FAILED, FileState.UPLOADING)
CLAIM_GRACE = timedelta(hours=3)  # a claimed name whose finalize never reported back (finalize's hard limit)


class RetrySchedule:
    def __init__(self, storage: StorageService, settings: Settings, db: Database) -> None:
        self._storage = storage
        self._settings = settings
        self._db = db
        self._passes = RepeatingPass("storage-sweep", self._pass, self._sleep, stop_timeout=10.0)

    async def sweep(self) -> int:
        """One pass; returns how many files it acted on."""
        storage, removal = self._storage, self._storage.removal
        now = utcnow()
        due = await self._db.run_async(lambda s: FileRepository(s).due(now))
        uploads: set[str] = set()
        deleted: set[str] = set()
        for file in due:
            if file.state in UPLOAD_STATES:
                uploads.add(file.recording_id)
            elif file.state is FileState.DELETING:
                try:
                    await asyncio.to_thread(removal.delete_file, file)
                    deleted.add(file.recording_id)
                except StorageUnavailable as exc:
                    log.warning("delete of %s failed again: %s", file.local_path, exc.message)
                    retry = utcnow() + timedelta(seconds=self._settings.s3_retry_interval)
                    await asyncio.to_thread(removal.postpone, [file.id], retry)
            elif file.state is FileState.CLAIMED:
                await self._abandoned_claim(file)
        if uploads:
            later = now + timedelta(seconds=self._settings.s3_upload_claim_ttl)
            ids = [f.id for f in due if f.recording_id in uploads and f.state in UPLOAD_STATES]
            await self._db.run_async(partial(_requeue, ids=ids, later=later))
            for recording_id in sorted(uploads):
                log.info("retry schedule: uploading the files of recording %s", recording_id)
                storage.schedule_upload(recording_id)
        for recording_id in deleted:
            await self._db.run_async(partial(removal.drop_if_empty, recording_id=recording_id))
        if deleted and storage.files_changed is not None:
            await asyncio.to_thread(storage.files_changed)
        return len(due)

    async def _abandoned_claim(self, file: StoredFile) -> None:
        """A name claimed by a finalize that never reported back: register the file if it was finished,
        else give the name back."""
        recording = await self._db.run_async(lambda s: RecordingRepository(s).get(file.recording_id))
        if recording is not None and recording.status in ACTIVE_RECORDING_STATUSES:
            later = utcnow() + CLAIM_GRACE
            await self._db.run_async(lambda s: FileRepository(s).postpone([file.id], later))
            return
        path = self._storage.local.path(file.local_path)
        finished = recording is not None and path.is_file() and path.stat().st_size > 0 and (
            recording.file_path == file.local_path or recording.thumbnail_path == file.local_path
        )
        if finished:
            await self._storage.store_finalized(file.recording_id, [FinalizedFile(path, file.kind, file.piece)])
        else:
            await asyncio.to_thread(self._storage.release, path)

    async def start(self) -> None:
        await self._passes.start()

    async def stop(self) -> None:
        await self._passes.stop()

    async def _pass(self) -> bool:
        await self.sweep()
        return False  # then sleep: the schedule is durable, nothing is lost by waiting for the next pass

    async def _sleep(self) -> float:
        return self._settings.storage_sweep_interval


def _requeue(session: Any, *, ids: list[str], later: datetime) -> None:
    repo = FileRepository(session)
    for file_id in ids:
        file = repo.get(file_id)
        if file is None:
            continue
        if file.state is FileState.UPLOADING:  # its uploader stopped renewing: hand it to the next job
            repo.update_if(file_id, [FileState.UPLOADING], state=FileState.PENDING, claimed_by=None,
                           claimed_until=None, next_attempt_at=later)
        else:
            repo.postpone([file_id], later)
