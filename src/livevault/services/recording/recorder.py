"""The record job: resolve the source, capture into the spool (resuming after a crash), then finalize."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from livevault.capture.base import CaptureControl, CaptureEngine, CaptureProgress
from livevault.capture.m3u8 import LIVE_EDGE, WINDOW_START
from livevault.capture.spool import Spool
from livevault.db.repositories import JobRepository, RecordingRepository
from livevault.domain.capture import CaptureOutcome, EndReason, GapCause
from livevault.domain.notification import EventType
from livevault.domain.recording import JobStatus, Recording, RecordingStatus
from livevault.domain.stream import LiveState, StreamFormat, StreamInfo
from livevault.errors import (
    InternalError,
    LeaseLost,
    LiveOffline,
    LivevaultError,
    NetworkTimeout,
    SourceBlocked,
    SourceUnreachable,
    StreamEnded,
    StreamStalled,
    UnsupportedEngine,
)
from livevault.observability import log_context, safe_source
from livevault.services.recording.lease import Lease, LeaseKeeper
from livevault.services.recording.progress import ProgressBook
from livevault.services.recording.record import ActiveCaptures, utcnow
from livevault.sources.base import ResolveRequest

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from livevault.config import Settings
    from livevault.observability import Metrics
    from livevault.services.notify.emit import Notifier
    from livevault.services.recording.finalize import Finalizer
    from livevault.services.uow import Database
    from livevault.sources.registry import SourceRegistry

log = logging.getLogger(__name__)


_FINAL_REASONS = frozenset({EndReason.STOPPED, EndReason.DURATION})
_BACKOFF_START = 0.5
_BACKOFF_MAX = 4.0
_START_POSITIONS = {LIVE_EDGE: LIVE_EDGE, "window": WINDOW_START, WINDOW_START: WINDOW_START}
_STALL_CODES = frozenset({StreamStalled.code, NetworkTimeout.code})


_BLIP_CODES = frozenset({
    StreamEnded.code, SourceUnreachable.code, NetworkTimeout.code, StreamStalled.code, SourceBlocked.code,
    LiveOffline.code,
})
"""Capture errors after which the source may still be live (a CDN blip), so the recorder tries again."""


def _may_resume(outcome: CaptureOutcome) -> bool:
    """Whether a capture that ended like this may be followed by more of the same live."""
    if outcome.reason in _FINAL_REASONS or outcome.explicit_end:
        return False
    if outcome.reason is EndReason.ERROR:
        return outcome.error_code in _BLIP_CODES
    return True


def _last_media(spool: Spool) -> float:
    """When (on the monotonic clock) the spool's last media arrived."""
    records = spool.segments()
    if not records:
        return time.monotonic()
    return time.monotonic() - max(0.0, time.time() - records[-1].fetched_at)


def _gap_cause(stream: StreamInfo, outcome: CaptureOutcome) -> GapCause:
    """What the gap before the next part is, from how the last capture ended."""
    if outcome.error_code in _STALL_CODES:
        return GapCause.STALL
    if stream.format is StreamFormat.HLS:
        return GapCause.PLAYLIST_UNREACHABLE
    return GapCause.CONNECTION_DROPPED


class Recorder:
    """Runs one recording's capture in this process; the same code runs under any runner."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        sources: SourceRegistry,
        engines: Mapping[StreamFormat, CaptureEngine],
        finalizer: Finalizer,
        active: ActiveCaptures,
        metrics: Metrics,
        named_engines: Mapping[str, CaptureEngine] | None = None,
        leases: LeaseKeeper | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._notifier = notifier
        self.leases = leases or LeaseKeeper(db, ttl=settings.lease_ttl)
        self._named_engines = dict(named_engines or {})
        self._settings = settings
        self._db = db
        self._sources = sources
        self._engines = engines
        self._finalizer = finalizer
        self._active = active
        self._metrics = metrics
        self.progress = ProgressBook(db)

    async def run(self, job_id: str, recording_id: str, correlation_id: str | None = None) -> None:
        """The `livevault.record` job: claim the lease, capture, finalize; a job that finds the recording
        owned by a live lease elsewhere exits at once (another process is recording it). Every log line of
        the job carries recording_id, task_id, source and correlation_id."""
        with log_context(recording_id=recording_id, task_id=job_id, correlation_id=correlation_id):
            started = await self._db.run_async(lambda s: self._start(s, job_id, recording_id))
            if started is None:
                return
            recording, lease = started
            with log_context(**source_fields(recording)):
                await self._record(job_id, recording, lease)

    async def _record(self, job_id: str, recording: Recording, lease: Lease) -> None:
        recording_id = recording.id
        spool = Spool(self._settings.spool_dir / recording_id)
        began, size_before = time.monotonic(), spool.bytes_total
        log.info("recording started", extra={"resume": bool(spool.parts()), "parts": len(spool.parts()),
                                             "duration_limit": recording.duration_limit})
        spool.fence = lease.check
        spool.direct_io = self._settings.spool_direct_io
        try:
            try:
                outcome = await self._capture(recording, spool, lease)
            except LeaseLost:
                outcome = CaptureOutcome(EndReason.STOPPED, LeaseLost.code, "lease lost")
            except Exception as exc:  # a bug must not leave the recording "recording" forever
                log.exception("capture crashed", extra={"recording_id": recording_id})
                outcome = CaptureOutcome(EndReason.ERROR, InternalError.code, f"capture crashed: {exc!r}")
            log.info("capture ended", extra={
                "duration": round(time.monotonic() - began, 3), "size": spool.bytes_total - size_before,
                "end_reason": outcome.reason.value, "error_code": outcome.error_code,
                "segments": spool.segment_count, "gaps": len(spool.gaps())})
            if lease.lost:
                log.warning("recording %s was taken over by another worker; leaving it to them", recording_id)
                return
            await self._finalizer.finalize(job_id, recording_id, outcome)
        finally:
            await self.leases.release(lease)

    async def finalize_job(self, job_id: str, recording_id: str, correlation_id: str | None = None) -> None:
        """The `livevault.finalize` job (a recording left `processing`), under the recording's lease."""
        with log_context(recording_id=recording_id, task_id=job_id, correlation_id=correlation_id):
            await self._finalize_job(job_id, recording_id, correlation_id)

    async def _finalize_job(self, job_id: str, recording_id: str, correlation_id: str | None) -> None:
        lease = await self._db.run_async(lambda s: self.leases.claim_in(s, recording_id))
        if lease is None:
            return
        self.leases.hold(lease)
        try:
            await self._finalizer.run(job_id, recording_id, correlation_id)
        finally:
            await self.leases.release(lease)

    def _start(self, session: Any, job_id: str, recording_id: str) -> tuple[Recording, Lease] | None:
        recordings, jobs = RecordingRepository(session), JobRepository(session)
        recording = recordings.get(recording_id)
        if recording is None or recording.status not in {RecordingStatus.PENDING, RecordingStatus.RECORDING}:
            return None
        lease = self.leases.claim_in(session, recording_id)
        if lease is None:
            log.info("recording %s is owned by another worker; job %s exits", recording_id, job_id)
            return None
        job = jobs.get(job_id)
        now = utcnow()
        if job is not None:
            jobs.update(job_id, status=JobStatus.STARTED, started_at=job.started_at or now,
                        attempts=job.attempts + 1)
        fields: dict[str, Any] = {"started_at": recording.started_at or now}
        updated = recordings.set_status(recording_id, RecordingStatus.RECORDING, **fields)
        # the first start, not a takeover (a pushed recording is created `recording`, started_at already set)
        first = recording.started_at is None or (job is not None and job.attempts == 0)
        if first and self._notifier is not None:
            self._notifier.recording_event(session, EventType.RECORDING_STARTED, updated)
        return updated, lease

    def _control_for(self, recording: Recording, spool: Spool) -> CaptureControl:
        """`duration` limits seconds of media (what is already in the spool counts, after a restart);
        `options.start` says where an HLS capture starts; `options.reconnect_window` overrides the setting."""
        options = recording.options or {}
        window = options.get("reconnect_window")
        return CaptureControl(
            max_media=float(recording.duration_limit) if recording.duration_limit is not None else None,
            media=lambda: spool.media_seconds,
            start=_START_POSITIONS.get(str(options.get("start") or LIVE_EDGE)),
            reconnect_window=float(window) if window is not None else self._settings.reconnect_window,
        )

    async def _capture(self, recording: Recording, spool: Spool, lease: Lease) -> CaptureOutcome:
        control = self._control_for(recording, spool)
        self.leases.hold(lease, control)
        if recording.stop_requested:
            control.stop.set()
        if control.should_stop():
            spool.close()
            return CaptureOutcome(EndReason.STOPPED if control.stop.is_set() else EndReason.DURATION)
        self._active.controls[recording.id] = control
        self.progress.add(recording.id, spool, control)
        if self._finalizer.pieces is not None:  # split recordings: pieces are finalized while capturing
            self._finalizer.pieces.watch(recording, spool)
        before = (spool.segment_count, spool.bytes_total, len(spool.gaps()))
        try:
            return await self._resolve_and_capture(recording, spool, control)
        except LivevaultError as exc:
            return CaptureOutcome(EndReason.ERROR, exc.code, exc.message)
        finally:
            spool.close()
            if self._finalizer.pieces is not None:
                await self._finalizer.pieces.unwatch(recording.id)
            self._active.controls.pop(recording.id, None)
            self._count(spool, before)
            await self.progress.remove(recording.id, write=not lease.lost)

    async def _resolve_and_capture(
        self, recording: Recording, spool: Spool, control: CaptureControl
    ) -> CaptureOutcome:
        """Resolve and capture; when a capture ends while the source may still be live, keep re-resolving
        with backoff for the reconnect window (counted from the last media) and continue the SAME recording
        in a new part, the outage a gap in the ledger.

        Only an explicit end finishes early: the platform saying offline (an OFFLINE status that was not
        merely inferred from a 404), or the stream saying so itself (EXT-X-ENDLIST). Every stream URL
        answering 404/403/5xx or timing out, or the source's status not being readable, is a blip.
        """
        resolver = self._sources.get(recording.source_kind)
        options = recording.options or {}
        request = ResolveRequest(target=recording.source, quality=recording.quality,
                                 proxy=options.get("proxy"), options=options)
        window = control.reconnect_window if control.reconnect_window is not None else self._settings.reconnect_window
        outcome: CaptureOutcome | None = None
        last_media = time.monotonic()
        delay = 0.0
        while True:
            status = await resolver.resolve(request)
            if status.state is LiveState.LIVE and status.stream is not None:
                before = spool.segment_count
                outcome = await self._capture_stream(recording, status.stream, spool, control)
                if spool.segment_count > before:
                    last_media, delay = _last_media(spool), 0.0
                    control.resume_cause = _gap_cause(status.stream, outcome)
            elif outcome is None:
                code = status.error_code or LiveOffline.code
                return CaptureOutcome(EndReason.ERROR, code, status.error_message or "the source is not live")
            elif status.state is LiveState.OFFLINE and not status.inferred:
                log.info("the source says it is offline; finishing", extra={"recording_id": recording.id})
                if not spool.segment_count:
                    return CaptureOutcome(EndReason.ERROR, status.error_code or LiveOffline.code,
                                          status.error_message or "the source is not live", explicit_end=True)
                return CaptureOutcome(EndReason.END_OF_STREAM, explicit_end=True)
            else:
                log.info("the source may still be live (%s); retrying", status.error_code or status.state.value,
                         extra={"recording_id": recording.id})
                if status.error_code and outcome.reason is not EndReason.STOPPED:
                    outcome = CaptureOutcome(outcome.reason if outcome.error_code else EndReason.UNREACHABLE,
                                             status.error_code, status.error_message)
            if control.should_stop() or not _may_resume(outcome):
                if outcome.explicit_end:
                    log.info("the stream says it has ended; finishing", extra={"recording_id": recording.id})
                return outcome
            quiet = time.monotonic() - last_media
            if quiet >= window:
                log.info("no media for %.0f s (reconnect window %.0f s); finishing", quiet, window,
                         extra={"recording_id": recording.id})
                return outcome
            log.info("capture ended while the source may still be live; re-resolving",
                     extra={"recording_id": recording.id, "reason": outcome.reason.value})
            if delay and await control.wait(min(delay, max(0.0, window - quiet))):
                return CaptureOutcome(EndReason.STOPPED if control.stop.is_set() else EndReason.DURATION)
            delay = min(max(_BACKOFF_START, delay * 2), _BACKOFF_MAX)

    async def _capture_stream(
        self, recording: Recording, stream: StreamInfo, spool: Spool, control: CaptureControl
    ) -> CaptureOutcome:
        if stream.title and not recording.title:
            await self._db.run_async(lambda s: RecordingRepository(s).update(recording.id, title=stream.title))
        engine = self.engine_for(stream, (recording.options or {}).get("engine"))
        log.info("capture started", extra={"recording_id": recording.id, "format": stream.format.value})
        return await engine.run(stream, spool, control)

    def engine_for(self, stream: StreamInfo, requested: str | None) -> CaptureEngine:
        """The engine the user asked for (`options.engine`), else the source's choice, else the native one."""
        name = requested if requested and requested != "native" else stream.engine
        if name and name != "native":
            engine = self._named_engines.get(name)
            if engine is None:
                raise UnsupportedEngine(
                    f"no capture engine named {name!r}", details={"available": ["native", *self._named_engines]}
                )
            return engine
        return self._engines[stream.format]

    def _count(self, spool: Spool, before: tuple[int, int, int]) -> None:
        self._metrics.segments.inc(spool.segment_count - before[0])
        self._metrics.capture_bytes.inc(spool.bytes_total - before[1])
        for gap in spool.gaps()[before[2]:]:
            self._metrics.gaps.labels(cause=gap.cause.value).inc()


def source_fields(recording: Recording) -> dict[str, str | None]:
    """What a log line names the source by: the room id, or the URL without user info, query or fragment."""
    if recording.room_id:
        return {"room_id": recording.room_id, "source_kind": recording.source_kind}
    return {"url": safe_source(recording.url or recording.source), "source_kind": recording.source_kind}


def progress_line(progress: CaptureProgress) -> str:
    rate = (progress.bytes * 8 / progress.elapsed / 1000) if progress.elapsed > 0 else 0.0
    return (
        f"elapsed {progress.elapsed:7.1f}s  {progress.bytes / 1e6:8.2f} MB  {rate:7.0f} kbit/s  "
        f"segments {progress.segments:5d}  gaps {progress.gaps:3d}  parts {progress.parts}"
    )


def isoformat(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
