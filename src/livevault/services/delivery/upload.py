"""The upload job: send a recording's waiting files to S3, verify them, then (unless kept) free the disk.

Each file is claimed in the database before it is sent (one uploader per file across processes), and the
claim is renewed with every finished part, together with the multipart upload id and the parts, so an
uploader that dies is replaced by the retry schedule and its successor resumes from the finished parts.
A file gets S3_UPLOAD_ATTEMPTS attempts with exponential backoff; then it waits, kept and downloadable
locally, for the retry schedule (S3_RETRY_INTERVAL, doubling up to S3_RETRY_MAX_INTERVAL), for as long as
it takes. The local copy is removed only after the stored object's size and checksum match.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import FileRepository, JobRepository, RecordingRepository
from livevault.domain.files import FileState, Location, StoredFile
from livevault.domain.notification import EventType
from livevault.domain.recording import Recording, RecordingStatus
from livevault.errors import LivevaultError, S3UploadFailed
from livevault.services.record import utcnow
from livevault.storage.base import Progress, PutResult, verify

if TYPE_CHECKING:
    from livevault.config import Settings
    from livevault.observability import Metrics
    from livevault.services.notify.emit import Notifier
    from livevault.services.uow import Database
    from livevault.storage.base import Store
    from livevault.storage.local import LocalStore

log = logging.getLogger(__name__)

WAITING = (FileState.PENDING, FileState.FAILED, FileState.UPLOADING)


class LostClaim(Exception):
    """Another process took the file over (or it was deleted): stop sending it."""


class Uploader:
    def __init__(self, settings: Settings, db: Database, metrics: Metrics, local: LocalStore,
                 remote: Store | None, *, notifier: Notifier | None = None) -> None:
        self._notifier = notifier
        self._settings = settings
        self._db = db
        self._metrics = metrics
        self._local = local
        self._remote = remote
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self._settings.s3_upload_claim_ttl)

    async def run(self, job_id: str, recording_id: str, correlation_id: str | None = None) -> None:
        """The `livevault.upload` job: every waiting file of the recording, then the recording's job result."""
        del job_id, correlation_id
        files = await self._db.run_async(lambda s: FileRepository(s).for_recording(recording_id))
        for file in files:
            if file.state in WAITING:
                await self.upload(file)
        await self._db.run_async(lambda s: self.report(s, recording_id))

    async def upload(self, file: StoredFile) -> bool | None:
        """True: stored and verified; False: attempts used up (waits for the retry schedule); None: not ours."""
        now = utcnow()
        claimed = await self._db.run_async(
            lambda s: FileRepository(s).claim_upload(file.id, self.owner, now + self.ttl, now)
        )
        if not claimed:
            return None
        current = await self._db.run_async(lambda s: FileRepository(s).get(file.id))
        if current is None:
            return None
        if self._remote is None:
            return await self._failed(current, 0, "object storage is not configured (S3_BUCKET)", Progress())
        path = self._local.path(current.local_path)
        progress = Progress(current.upload_id, current.part_size, list(current.parts))
        if not path.is_file():
            return await self._failed(current, 1, f"the local file {current.local_path} is missing", progress)
        attempts = self._settings.s3_upload_attempts
        error: LivevaultError | None = None
        for attempt in range(1, attempts + 1):
            try:
                result = await asyncio.to_thread(self._send, current, path, progress)
            except LostClaim:
                log.warning("upload of %s was taken over; stopping", current.local_path)
                return None
            except LivevaultError as exc:
                error = exc
                self._metrics.s3_uploads.labels(status="retry" if attempt < attempts else "failed").inc()
                log.warning("upload of %s failed (attempt %d of %d): %s", current.local_path, attempt, attempts,
                            exc.message, extra={"recording_id": current.recording_id})
                if attempt < attempts:
                    await asyncio.sleep(self._settings.s3_retry_backoff * 2 ** (attempt - 1))
                continue
            return await self._stored(current, path, result, attempt)
        return await self._failed(current, attempts, error.message if error else "upload failed", progress)

    def _send(self, file: StoredFile, path: Any, progress: Progress) -> PutResult:
        assert self._remote is not None

        def checkpoint(state: Progress) -> None:
            saved = self._db.run(lambda s: FileRepository(s).renew(
                file.id, self.owner, utcnow() + self.ttl, upload_id=state.upload_id, part_size=state.part_size,
                parts=state.parts,
            ))
            if not saved:
                raise LostClaim(file.id)

        result = self._remote.put_file(file.local_path, path, progress=progress, checkpoint=checkpoint)
        self._metrics.s3_upload_parts.inc(result.parts_sent)
        verify(self._remote, file.local_path, result)
        return result

    async def _stored(self, file: StoredFile, path: Any, result: PutResult, attempt: int) -> bool | None:
        assert self._remote is not None
        remote, now = self._remote, utcnow()
        recorded = await self._db.run_async(lambda s: FileRepository(s).update_if(
            file.id, [FileState.UPLOADING], state=FileState.UPLOADED, location=Location.BOTH, uploaded_at=now,
            size=result.size, bucket=remote.bucket, key=remote.object_key(file.local_path),
            attempts=file.attempts + attempt, error_code=None, error_message=None,
            upload_id=None, parts=[], claimed_by=None, claimed_until=None, next_attempt_at=None,
        ))
        if not recorded:  # deleted while it was sent: the object must not outlive its row
            await asyncio.to_thread(remote.delete, file.local_path)
            return None
        self._metrics.s3_uploads.labels(status="success").inc()
        log.info("uploaded %s (%d bytes, %s)", file.local_path, result.size,
                 "multipart" if result.multipart else "single part", extra={"recording_id": file.recording_id})
        if not file.keep_local:
            # The stored object matched size and checksum above: only now may the local copy go.
            await asyncio.to_thread(path.unlink, True)
            await self._db.run_async(lambda s: FileRepository(s).update_if(
                file.id, [FileState.UPLOADED], location=Location.S3
            ))
        return True

    async def _failed(self, file: StoredFile, attempts: int, message: str, progress: Progress) -> bool:
        rounds = max(0, (file.attempts + attempts) // max(1, self._settings.s3_upload_attempts) - 1)
        delay = min(self._settings.s3_retry_max_interval, self._settings.s3_retry_interval * 2 ** min(rounds, 20))
        retry_at = utcnow() + timedelta(seconds=delay)
        await self._db.run_async(lambda s: FileRepository(s).update_if(
            file.id, [FileState.UPLOADING], state=FileState.FAILED, attempts=file.attempts + attempts,
            next_attempt_at=retry_at, error_code=S3UploadFailed.code, error_message=message[:2000],
            claimed_by=None, claimed_until=None, upload_id=progress.upload_id, part_size=progress.part_size,
            parts=progress.parts,
        ))
        log.warning("upload of %s failed after %d attempts; kept locally, retrying at %s", file.local_path,
                    attempts, retry_at.isoformat(), extra={"recording_id": file.recording_id})
        return False

    def report(self, session: Any, recording_id: str) -> None:
        """The recording's job: `result.s3` lists what is stored; S3_UPLOAD_FAILED while a file waits for a
        retry after its attempts failed (cleared once everything is stored)."""
        recording = RecordingRepository(session).get(recording_id)
        if recording is None or not recording.job_id:
            return
        jobs = JobRepository(session)
        job = jobs.get(recording.job_id)
        if job is None:
            return
        files = FileRepository(session).for_recording(recording_id)
        result = dict(job.result or {})
        result["s3"] = [self.entry(f) for f in files if f.remote]
        failed = [f for f in files if f.state is FileState.FAILED]
        changes: dict[str, Any] = {"result": result}
        if failed:
            first = failed[0]
            changes["error_code"] = S3UploadFailed.code
            changes["error_message"] = (
                f"{len(failed)} file(s) not uploaded after {self._settings.s3_upload_attempts} attempts "
                f"({first.error_message}); kept locally and downloadable, retried automatically"
            )[:2000]
        elif job.error_code == S3UploadFailed.code:
            changes["error_code"] = None
            changes["error_message"] = None
        jobs.update(job.id, **changes)
        self._announce(session, recording, files, result)

    def _announce(self, session: Any, recording: Recording, files: list[StoredFile], result: dict[str, Any]) -> None:
        """`upload.failed` once per file whose attempts ran out; `recording.completed` once every file is stored."""
        if self._notifier is None:
            return
        for file in files:
            if file.state is FileState.FAILED:
                self._notifier.recording_event(
                    session, EventType.UPLOAD_FAILED, recording, once=file.id,
                    file={"kind": file.kind.value, "piece": file.piece, "local_path": file.local_path,
                          "error_code": file.error_code, "error_message": file.error_message},
                )
        waiting = [f for f in files if f.state in WAITING or f.state is FileState.CLAIMED]
        if not waiting and recording.status is RecordingStatus.COMPLETED and any(f.remote for f in files):
            self._notifier.recording_event(
                session, EventType.RECORDING_COMPLETED, recording, once="final",
                files=result.get("files", []), s3=result["s3"], end_reason=result.get("end_reason"),
            )

    def entry(self, file: StoredFile) -> dict[str, Any]:
        url = self._remote.object_url(file.local_path) if self._remote is not None else None
        return {"bucket": file.bucket, "key": file.key, "url": url, "size": file.size, "kind": file.kind.value,
                "piece": file.piece}
