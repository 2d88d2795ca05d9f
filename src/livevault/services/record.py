"""Record-on-demand: accept a request, track it, stop it, delete it, report on it."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from livevault.capture.spool import Spool
from livevault.db.repositories import JobRepository, RecordingRepository
from livevault.db.repositories.recordings import already_recording
from livevault.domain.capture import (
    GapRecord,
    IntegrityReport,
    PartInfo,
    SegmentRecord,
    build_integrity_report,
)
from livevault.domain.recording import (
    ACTIVE_RECORDING_STATUSES,
    Job,
    JobStatus,
    Recording,
    RecordingRequest,
    RecordingStatus,
)
from livevault.domain.source_key import recording_source_key
from livevault.domain.templates import validate_template
from livevault.errors import AlreadyRecording, Conflict, InvalidInput, NotFound
from livevault.services.keys import claim_recording
from livevault.services.pieces import Piece, PieceBook, split_rule

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from livevault.capture.base import CaptureControl
    from livevault.config import Settings
    from livevault.domain.keys import KeyQuota
    from livevault.runners.base import JobRunner
    from livevault.services.delivery import StorageService
    from livevault.services.retention.disk import DiskWatch
    from livevault.services.uow import Database

log = logging.getLogger(__name__)

RECORD_JOB = "livevault.record"
FINALIZE_JOB = "livevault.finalize"
MAX_DURATION = 24 * 3600
Ledger = tuple[list[PartInfo], list[SegmentRecord], list[GapRecord]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ActiveCaptures:
    """In-process handles of running captures, so a stop reaches them at once."""

    controls: dict[str, CaptureControl] = field(default_factory=dict)

    def signal_stop(self, recording_id: str) -> bool:
        control = self.controls.get(recording_id)
        if control is None:
            return False
        control.stop.set()
        return True


@dataclass(frozen=True, slots=True)
class RecordingPage:
    items: list[Recording]
    total: int
    page: int
    page_size: int


class RecordingService:
    def __init__(
        self, settings: Settings, db: Database, runner: JobRunner, active: ActiveCaptures,
        *, files_changed: Callable[[], None] | None = None, storage: StorageService | None = None,
        disk: DiskWatch | None = None,
    ) -> None:
        self._settings = settings
        self._storage = storage  # deletes a recording's files wherever they are
        self._db = db
        self._runner = runner
        self._active = active
        self._swept: dict[str, float] = {}
        # Recordings made by another system (LiveKit Egress): stopped through it, never captured here.
        self.external_stoppers: dict[str, Callable[[Recording], Awaitable[Recording]]] = {}
        self._files_changed = files_changed  # after a delete is committed: the /files cache is stale
        self._disk = disk  # below its watermark no new recording starts (DISK_FULL)

    def spool_dir(self, recording_id: str) -> Path:
        return self._settings.spool_dir / recording_id

    def create(
        self, request: RecordingRequest, *, announce: Callable[[Any, Recording], None] | None = None,
        quota: KeyQuota | None = None,
    ) -> tuple[Recording, Job]:
        """Persist a pending recording and its job, then hand the job to the runner. `announce` runs in the same
        transaction (e.g. queues a watcher's `watcher.live` before the recording can announce its start).

        Raises:
            AlreadyRecording: the source already has a pending or recording recording (a unique index, so it
                holds across processes).
            DiskFull: free space is below LIVEVAULT_MIN_FREE_BYTES.
            QuotaExceeded: `quota`'s key already holds its maximum of active recordings.
        """
        if request.duration is not None and not 1 <= request.duration <= MAX_DURATION:
            raise InvalidInput("duration must be between 1 and 86400 seconds", details={"duration": request.duration})
        if request.output_template:
            validate_template(request.output_template)
        if self._disk is not None:
            self._disk.ensure_room()
        source_key = recording_source_key(request.source_kind, request.source)
        for _attempt in range(3):
            try:
                return self._insert(request, source_key, announce, quota)
            except AlreadyRecording as exc:
                if exc.details.get("recording_id"):
                    raise
                # Another process inserted it at the same moment: name it, unless it has already ended.
                active = self._db.run(lambda s: RecordingRepository(s).capturing(source_key))
                if active is not None:
                    raise already_recording(active) from exc
        raise AlreadyRecording("this source is already being recorded", details={"source_key": source_key})

    def _insert(
        self, request: RecordingRequest, source_key: str, announce: Callable[[Any, Recording], None] | None,
        quota: KeyQuota | None,
    ) -> tuple[Recording, Job]:
        now = utcnow()
        recording = Recording(
            id=str(uuid.uuid4()),
            source_kind=request.source_kind,
            source=request.source,
            status=RecordingStatus.RECORDING if request.recording_now else RecordingStatus.PENDING,
            created_at=now,
            started_at=now if request.recording_now else None,
            url=request.url,
            room_id=request.room_id,
            stream_id=request.stream_id,
            title=request.title,
            quality=request.quality,
            duration_limit=request.duration,
            output_template=request.output_template,
            options=dict(request.options),
            job_id=str(uuid.uuid4()),
            correlation_id=request.correlation_id,
            watcher_key=request.watcher_key,
            source_key=source_key,
        )
        job = Job(
            id=recording.job_id or "",
            kind="record",
            status=JobStatus.PENDING,
            created_at=now,
            recording_id=recording.id,
            correlation_id=request.correlation_id,
        )

        def work(session: Any) -> None:
            RecordingRepository(session).add(recording, spool_dir=str(self.spool_dir(recording.id)))
            claim_recording(session, quota, recording.id)
            JobRepository(session).add(job)
            if announce is not None:
                announce(session, recording)

        self._db.run(work)
        self._runner.submit(RECORD_JOB, job.id, recording_id=recording.id, correlation_id=request.correlation_id)
        return recording, job

    def get(self, recording_id: str) -> Recording:
        found = self._db.run(lambda s: RecordingRepository(s).get(recording_id))
        if found is None:
            raise NotFound("Recording not found", details={"id": recording_id})
        return found

    def search(
        self,
        *,
        status: RecordingStatus | None = None,
        source_kind: str | None = None,
        source: str | None = None,
        room_id: str | None = None,
        page: int = 1,
        page_size: int = 50,
        watcher_key: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> RecordingPage:
        def work(session: Any) -> tuple[list[Recording], int]:
            return RecordingRepository(session).list(
                status=status,
                source_kind=source_kind,
                source=source,
                room_id=room_id,
                limit=page_size,
                offset=(page - 1) * page_size,
                watcher_key=watcher_key,
                created_from=created_from,
                created_to=created_to,
            )

        items, total = self._db.run(work)
        return RecordingPage(items=items, total=total, page=page, page_size=page_size)

    def get_job(self, job_id: str) -> Job:
        found = self._db.run(lambda s: JobRepository(s).get(job_id))
        if found is None:
            raise NotFound("Job not found", details={"task_id": job_id})
        return found

    def stop(self, recording_id: str) -> Recording:
        """Ask a recording to stop; what was captured is finalized by its job."""
        recording = self.get(recording_id)
        if recording.status not in ACTIVE_RECORDING_STATUSES:
            raise Conflict(
                f"recording is already {recording.status.value}", details={"status": recording.status.value}
            )
        updated = self._db.run(lambda s: RecordingRepository(s).update(recording_id, stop_requested=True))
        self._active.signal_stop(recording_id)
        return updated

    def set_pinned(self, recording_id: str, pinned: bool) -> Recording:
        """Pin (retention never deletes it) or unpin a recording."""
        return self._db.run(lambda s: RecordingRepository(s).update(recording_id, pinned=pinned))

    async def stop_any(self, recording_id: str) -> Recording:
        """Stop a recording whatever made it: livevault's capture, or an external recorder (LiveKit Egress)."""
        recording = await asyncio.to_thread(self.get, recording_id)
        stopper = self.external_stoppers.get(recording.source_kind)
        if stopper is not None:
            return await stopper(recording)
        return await asyncio.to_thread(self.stop, recording_id)

    def delete(self, recording_id: str) -> None:
        recording = self.get(recording_id)
        if recording.status in ACTIVE_RECORDING_STATUSES:
            raise Conflict("recording is still active; stop it first", details={"status": recording.status.value})
        if self._storage is not None:
            self._storage.delete_files(recording)  # S3 objects, local files, their rows; raises if some remain
        else:
            for path in self.files_of(recording):
                path.unlink(missing_ok=True)
        shutil.rmtree(self.spool_dir(recording_id), ignore_errors=True)
        self._db.run(lambda s: RecordingRepository(s).delete(recording_id))
        if self._files_changed is not None:
            self._files_changed()

    def files_of(self, recording: Recording) -> list[Path]:
        root = self._settings.recordings_dir
        named = [recording.file_path, recording.thumbnail_path]
        for piece in self.pieces(recording):
            named += [piece.file_path, piece.thumbnail_path]
        return [root / rel for rel in dict.fromkeys(named) if rel]

    def pieces(self, recording: Recording) -> list[Piece]:
        """A split recording's finished pieces, in order: live from the spool's piece ledger while it is
        recorded (and when finalize failed), from its job's result once completed."""
        book = PieceBook(self.spool_dir(recording.id))
        if book.exists:
            return book.pieces()
        if not recording.job_id or split_rule(recording) == (None, None):
            return []
        job_id = recording.job_id
        job = self._db.run(lambda s: JobRepository(s).get(job_id))
        rows = (job.result or {}).get("pieces") if job is not None else None
        return [Piece.from_public(row) for row in rows or []]

    def ledger(self, recording: Recording) -> Ledger:
        """Parts, segment index and gaps: live from the spool while recording, from the database afterwards."""
        spool_dir = self.spool_dir(recording.id)
        if recording.status in ACTIVE_RECORDING_STATUSES or not recording.file_path:
            if (spool_dir / "parts.jsonl").exists():
                spool = Spool(spool_dir)
                return spool.parts(), spool.segments(), spool.gaps()
        return self._db.run(lambda s: RecordingRepository(s).ledger(recording.id))

    def report(self, recording: Recording) -> IntegrityReport:
        """The integrity report: segments captured, gaps with causes, completeness."""
        parts, segments, gaps = self.ledger(recording)
        return build_integrity_report(segments, gaps, parts)

    def parts_of(self, recording: Recording) -> list[tuple[int, Path]]:
        spool_dir = self.spool_dir(recording.id)
        if not (spool_dir / "parts.jsonl").exists():
            return []
        return [(info.index, path) for info, path in Spool(spool_dir).part_paths()]

    def recover(self) -> list[str]:
        """Embedded start-up: resubmit jobs of recordings a crash left active (capture resumes or finalizes from
        the parts). Their leases belonged to the previous run of this process, so they are expired first."""
        recovered: list[str] = []

        def work(session: Any) -> list[Recording]:
            repo = RecordingRepository(session)
            found = repo.active()
            repo.expire_leases([r.id for r in found], utcnow())
            return found

        for recording in self._db.run(work):
            if recording.source_kind in self.external_stoppers:
                continue  # followed by its own service, not by a capture job
            job_id = recording.job_id or str(uuid.uuid4())
            name = FINALIZE_JOB if recording.status is RecordingStatus.PROCESSING else RECORD_JOB
            log.info("recovering recording %s (%s)", recording.id, recording.status.value)
            self._runner.submit(name, job_id, recording_id=recording.id, correlation_id=recording.correlation_id)
            recovered.append(recording.id)
        return recovered

    def sweep_lapsed(self, *, pending_grace: float = 30.0) -> list[str]:
        """Scale-out: resubmit the job of every active recording nobody works on — its lease lapsed (the worker
        died; the next worker continues it as a new part) or it stayed pending past `pending_grace` seconds (its
        queued job was lost). Duplicate submissions are harmless: only one job can claim the lease."""
        now = utcnow()
        found = self._db.run(
            lambda s: RecordingRepository(s).lapsed(now, now - timedelta(seconds=pending_grace))
        )
        clock = time.monotonic()
        resend_after = max(pending_grace, 2 * self._settings.lease_ttl)
        self._swept = {rid: at for rid, at in self._swept.items() if clock - at < resend_after}
        found = [r for r in found if r.id not in self._swept  # queued already: don't flood a backlogged queue
                 and r.source_kind not in self.external_stoppers]
        for recording in found:
            self._swept[recording.id] = clock
            name = FINALIZE_JOB if recording.status is RecordingStatus.PROCESSING else RECORD_JOB
            log.warning("recording %s (%s) has no live owner; resubmitting", recording.id, recording.status.value)
            self._runner.submit(name, recording.job_id or str(uuid.uuid4()), recording_id=recording.id,
                                correlation_id=recording.correlation_id)
        return [r.id for r in found]

    async def wait_for(self, recording_id: str, *, timeout: float = 60.0) -> Recording:
        """Poll until the recording leaves the active states (used by the CLI and tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            recording = self.get(recording_id)
            if recording.status not in ACTIVE_RECORDING_STATUSES or loop.time() > deadline:
                return recording
            await asyncio.sleep(0.2)
