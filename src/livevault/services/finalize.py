"""Finalize: remux the spool's parts into one verified MP4, record the ledger, then free the parts.

Verification follows ``LIVEVAULT_VERIFY``: ``sampled`` (default: every sample's structure from the MP4's
tables, and a few GOPs decoded), ``full`` (every frame decoded) or ``off``; the recording keeps which ran
(``verify_mode``)."""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from livevault.capture.spool import Spool
from livevault.db.repositories import JobRepository, RecordingRepository
from livevault.domain.capture import CaptureOutcome, EndReason
from livevault.domain.files import FileKind
from livevault.domain.notification import EventType
from livevault.domain.recording import JobStatus, Recording, RecordingStatus
from livevault.errors import InternalError, LivevaultError, NothingRecorded, error_class
from livevault.postprocess.probe import MediaInfo, probe
from livevault.postprocess.remux import remux_parts
from livevault.postprocess.thumbnail import make_thumbnail
from livevault.postprocess.verify import verify
from livevault.services.delivery import FinalizedFile
from livevault.services.record import utcnow
from livevault.services.recorder import isoformat

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from livevault.config import Settings
    from livevault.observability import Metrics
    from livevault.services.delivery import StorageService
    from livevault.services.notify.emit import Notifier
    from livevault.services.pieces import Splitter
    from livevault.services.uow import Database

log = logging.getLogger(__name__)
T = TypeVar("T")


class Finalizer:
    def __init__(
        self, settings: Settings, db: Database, metrics: Metrics, storage: StorageService,
        *, files_changed: Callable[[], None] | None = None, notifier: Notifier | None = None,
    ) -> None:
        self._notifier = notifier
        self._settings = settings
        self._db = db
        self._metrics = metrics
        self._storage = storage  # claims the output name; takes the finished files over (upload, catalog)
        self._files_changed = files_changed  # after a completion is committed: the /files cache is stale
        # CPU-heavy steps (remux, decode verify) get their own few threads so they never crowd out the
        # short database and fsync work that live captures hand to the default pool.
        self._pool = ThreadPoolExecutor(max_workers=settings.finalize_workers, thread_name_prefix="finalize")
        self.pieces: Splitter | None = None  # split recordings (options.split_every / split_bytes): set by bootstrap

    async def _off_loop(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def offload(self, func: Callable[..., T], *args: Any) -> T:
        """Run CPU-heavy work (a remux, a decode) on the finalize threads."""
        return await self._off_loop(func, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, job_id: str, recording_id: str, correlation_id: str | None = None) -> None:
        """The `livevault.finalize` job, for recordings a crash left in `processing`."""
        del correlation_id
        await self.finalize(job_id, recording_id, CaptureOutcome(EndReason.STOPPED))

    def output_path(self, recording: Recording) -> Path:
        """Where the template puts the recording (before a claim makes the name unique)."""
        return self._storage.local.path(self._storage.output_key(recording))

    async def finalize(self, job_id: str, recording_id: str, outcome: CaptureOutcome) -> None:
        recording = await self._db.run_async(
            lambda s: RecordingRepository(s).set_status(recording_id, RecordingStatus.PROCESSING)
        )
        spool = Spool(self._settings.spool_dir / recording_id)
        began = time.monotonic()
        listing: dict[str, Any] | None = None
        try:
            if self.pieces is not None and self.pieces.applies(recording):
                fields, listing = await self.pieces.finish(recording, spool.directory)
                files: list[FinalizedFile] = []  # pieces were handed to storage one by one as they finished
            else:
                fields, files = await self._produce(recording, spool, outcome)
        except Exception as exc:
            error = exc if isinstance(exc, LivevaultError) else InternalError(f"finalize crashed: {exc!r}")
            log.warning("finalize failed: %s", error.message,
                        extra={"recording_id": recording_id, "returncode": 1, "error_code": error.code,
                               "duration": round(time.monotonic() - began, 3), "parts": len(spool.parts())},
                        exc_info=not isinstance(exc, LivevaultError))
            await self._db.run_async(lambda s: self._fail(s, job_id, recording_id, spool, error, outcome))
            log.info("recording ended", extra={"status": "failed", "returncode": 1, "error_code": error.code,
                                               "size": spool.bytes_total, "end_reason": outcome.reason.value})
            return
        size, media = fields.get("file_size") or 0, round(fields.get("duration") or 0.0, 3)
        log.info("finalized", extra={"duration": round(time.monotonic() - began, 3), "size": size,
                                     "media_duration": media, "file": fields.get("file_path"),
                                     "parts": len(spool.parts())})
        await self._db.run_async(
            lambda s: self._complete(s, job_id, recording_id, spool, fields, outcome, listing))
        log.info("recording ended", extra={"status": "completed", "returncode": 0, "size": size, "duration": media,
                                           "end_reason": outcome.reason.value})
        if files:
            try:
                await self._storage.store_finalized(recording_id, files)
            except LivevaultError as exc:  # the recording is complete; the retry schedule registers a claimed file
                log.warning("finished files not handed over: %s", exc.message, extra={"recording_id": recording_id})
        if self._files_changed is not None:
            await asyncio.to_thread(self._files_changed)
        if not self._settings.keep_parts:
            shutil.rmtree(spool.directory, ignore_errors=True)

    async def _produce(
        self, recording: Recording, spool: Spool, outcome: CaptureOutcome
    ) -> tuple[dict[str, Any], list[FinalizedFile]]:
        parts = spool.part_paths()
        if not parts:
            raise _nothing(outcome)
        target = await asyncio.to_thread(self._storage.claim_output, recording)
        mode = self._settings.verify
        try:
            await self._off_loop(remux_parts, parts, target)
            if mode != "off":
                await self._off_loop(functools.partial(verify, target, mode=mode))
            info: MediaInfo = await self._off_loop(probe, target)
        except BaseException:
            await asyncio.to_thread(self._storage.release, target)
            raise
        thumb = await self._thumbnail(target)
        root = self._settings.recordings_dir.resolve()
        files = [FinalizedFile(target, FileKind.VIDEO, 0)]
        if thumb is not None:
            files.append(FinalizedFile(thumb, FileKind.THUMBNAIL, 0))
        return {
            "file_path": str(target.relative_to(root)),
            "file_size": target.stat().st_size,
            "duration": info.duration,
            "video_codec": info.video_codec,
            "audio_codec": info.audio_codec,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "thumbnail_path": str(thumb.relative_to(root)) if thumb else None,
            "verify_mode": mode,
        }, files

    async def _thumbnail(self, video: Path) -> Path | None:
        if not self._settings.thumbnails:
            return None
        try:
            return await self._off_loop(make_thumbnail, video, video.with_suffix(".jpg"))
        except Exception:  # a missing thumbnail never fails a recording
            log.warning("thumbnail failed for %s", video.name, exc_info=True)
            return None

    def _save_ledger(self, session: Any, recording_id: str, spool: Spool) -> dict[str, Any]:
        report = spool.report()
        RecordingRepository(session).replace_ledger(recording_id, spool.parts(), spool.segments(), spool.gaps())
        return {
            "segments_captured": report.segments_captured,
            "segments_missing": report.segments_missing,
            "bytes_captured": report.bytes_captured,
            "parts_count": report.parts,
        }

    def _complete(self, session: Any, job_id: str, recording_id: str, spool: Spool,
                  fields: dict[str, Any], outcome: CaptureOutcome, listing: dict[str, Any] | None = None) -> None:
        now = utcnow()
        counters = self._save_ledger(session, recording_id, spool)
        recording = RecordingRepository(session).set_status(
            recording_id, RecordingStatus.COMPLETED, completed_at=now, **fields, **counters
        )
        files = [p for p in (recording.file_path, recording.thumbnail_path) if p]
        result = {
            "returncode": 0,
            "files": files,
            "s3": [],
            "started_at": isoformat(recording.started_at),
            "ended_at": isoformat(now),
            "end_reason": outcome.reason.value,
            "recording_id": recording_id,
            "verify": recording.verify_mode,
            **(listing or {}),  # split recordings: every piece in order, and `pieces`
        }
        JobRepository(session).update(job_id, status=JobStatus.SUCCESS, result=result, ended_at=now)
        if self._notifier is not None and not self._storage.upload_wanted(recording):
            # With an upload, `recording.completed` waits until every file is stored (see delivery.upload).
            self._notifier.recording_event(session, EventType.RECORDING_COMPLETED, recording, once="final",
                                           files=result["files"], s3=result["s3"], end_reason=outcome.reason.value)
        self._metrics.recordings.labels(status="completed").inc()
        self._metrics.celery_tasks.labels(status="SUCCESS").inc()

    def _fail(self, session: Any, job_id: str, recording_id: str, spool: Spool,
              exc: LivevaultError, outcome: CaptureOutcome) -> None:
        now = utcnow()
        counters = self._save_ledger(session, recording_id, spool)
        recording = RecordingRepository(session).set_status(
            recording_id, RecordingStatus.FAILED, completed_at=now,
            error_code=exc.code, error_message=exc.message, **counters,
        )
        pieces = self.pieces.finished_pieces(spool.directory) if self.pieces is not None else []
        result = {
            "returncode": 1,
            "files": [p.file_path for p in pieces],  # pieces of a split recording finished before the failure
            "parts": [info.path for info, _ in spool.part_paths()],
            "s3": [],
            "started_at": isoformat(recording.started_at),
            "ended_at": isoformat(now),
            "end_reason": outcome.reason.value,
            "recording_id": recording_id,
            "error_details": exc.details,
        }
        if pieces:
            result["pieces"] = [p.public() for p in pieces]
        JobRepository(session).update(
            job_id, status=JobStatus.FAILURE, result=result, ended_at=now,
            error_code=exc.code, error_message=exc.message,
        )
        if self._notifier is not None:
            self._notifier.recording_event(session, EventType.RECORDING_FAILED, recording,
                                           end_reason=outcome.reason.value, parts=result["parts"])
        self._metrics.recordings.labels(status="failed").inc()
        self._metrics.celery_tasks.labels(status="FAILURE").inc()


def _nothing(outcome: CaptureOutcome) -> LivevaultError:
    """Why a recording has no media: the capture's own error class (STREAM_STALLED, NETWORK_TIMEOUT,
    SOURCE_BLOCKED, LOGIN_REQUIRED, LIVE_OFFLINE, ...) when it ended with one, NOTHING_RECORDED otherwise;
    either way `details.nothing_recorded` is true, so "no file" is visible under any code."""
    details: dict[str, object] = {"nothing_recorded": True, "end_reason": outcome.reason.value}
    cls = error_class(outcome.error_code)
    if cls is not None and cls is not LivevaultError:
        return cls(f"nothing was recorded: {outcome.error_message or cls.code}", details=details)
    if outcome.error_code:
        details["cause_code"] = outcome.error_code
    return NothingRecorded(outcome.error_message or "the source produced no media before the recording ended",
                           details=details)
