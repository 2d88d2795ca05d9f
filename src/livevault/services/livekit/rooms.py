"""Start, stop, follow and finish LiveKit room recordings (see the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import JobRepository, RecordingRepository
from livevault.domain.livekit import (
    FILE_FORMATS,
    LAYOUTS,
    LIVEKIT_SOURCE,
    EgressPhase,
    EgressState,
    RoomRequest,
    check_room_name,
)
from livevault.domain.notification import EventType
from livevault.domain.recording import (
    ACTIVE_RECORDING_STATUSES,
    Job,
    JobStatus,
    Recording,
    RecordingStatus,
)
from livevault.errors import (
    Conflict,
    EgressFailed,
    EgressFileMissing,
    InvalidInput,
    LiveKitNotConfigured,
    LivevaultError,
    NotFound,
    UnsupportedOutputFormat,
)
from livevault.postprocess.probe import probe
from livevault.postprocess.thumbnail import make_thumbnail
from livevault.services.livekit.queries import active_for_room, back_to_recording, by_egress, iso, unfinished
from livevault.services.recording.record import utcnow

if TYPE_CHECKING:
    from livevault.config import Settings
    from livevault.domain.livekit import EgressOutput, RoomEvent
    from livevault.observability import Metrics
    from livevault.services.delivery import StorageService
    from livevault.services.notify.emit import Notifier
    from livevault.services.uow import Database
    from livevault.sources.livekit import LiveKitClient
    from livevault.storage.base import Store

log = logging.getLogger(__name__)

LIVEKIT_JOB = "livekit"
_UNSTARTED_GRACE = timedelta(seconds=60)  # an egress LiveKit never heard of, this long after we asked: failed


class RoomRecordingService:
    def __init__(
        self, settings: Settings, db: Database, metrics: Metrics, *,
        client: LiveKitClient | None, output: EgressOutput | None, store: Store | None,
        files: StorageService | None = None, notifier: Notifier | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._metrics = metrics
        self._client = client
        self._output = output
        self._store = store  # storage.base.Store of the bucket Egress writes to
        self._files = files  # delivery.StorageService: registers the objects in the file catalog
        self._notifier = notifier
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    # -- requests ----------------------------------------------------------------------------

    def _require(self) -> tuple[LiveKitClient, EgressOutput, Store]:
        if self._client is None or self._output is None or self._store is None:
            raise LiveKitNotConfigured(
                "LiveKit recording needs LIVEKIT_HOST, LIVEKIT_API_KEY, LIVEKIT_API_SECRET and an S3 bucket "
                "(S3_BUCKET, S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
            )
        return self._client, self._output, self._store

    def object_key(self, room: str, when: datetime, ext: str, *, thumbnail: bool = False) -> str:
        template = self._settings.livekit_output_template
        stamp = when.strftime("%Y%m%dT%H%M%SZ")
        key: str = template.format(room=room, timestamp=stamp, ext=ext)
        if thumbnail:
            folder, _, name = key.rpartition("/")
            key = f"{folder}/thumbnails/{name.rsplit('.', 1)[0]}.jpg" if folder else f"thumbnails/{stamp}.jpg"
        return key

    async def start(self, request: RoomRequest) -> tuple[Recording, Job]:
        """Ask Egress to record the room into the bucket → a `pending` (room status `starting`) recording."""
        room = check_room_name(request.room)
        if request.layout not in LAYOUTS:
            raise InvalidInput(f"layout must be one of {', '.join(LAYOUTS)}", details={"layout": request.layout})
        if request.file_format not in FILE_FORMATS:
            raise InvalidInput("file_format must be mp4 or webm", details={"file_format": request.file_format})
        if request.file_format != "mp4":
            raise UnsupportedOutputFormat(
                "LiveKit room composite egress writes MP4 only (LiveKit has no WebM for it); use file_format mp4",
                details={"file_format": request.file_format, "supported": ["mp4"]},
            )
        client, output, store = self._require()
        now = utcnow()
        key = self.object_key(room, now, request.file_format)
        recording = Recording(
            id=str(uuid.uuid4()), source_kind=LIVEKIT_SOURCE, source=room, status=RecordingStatus.PENDING,
            created_at=now, title=room, quality="livekit", job_id=str(uuid.uuid4()),
            options={"layout": request.layout, "file_format": request.file_format,
                     "audio_only": request.audio_only, "object_key": key},
            correlation_id=request.correlation_id, watcher_key=request.watcher_key,
        )
        job = Job(id=recording.job_id or "", kind=LIVEKIT_JOB, status=JobStatus.PENDING, created_at=now,
                  recording_id=recording.id, correlation_id=request.correlation_id)

        def add(session: Any) -> None:
            if active_for_room(session, room):
                raise Conflict("this room is already being recorded", details={"room": room})
            RecordingRepository(session).add(recording)
            JobRepository(session).add(job)

        await self._db.run_async(add)
        try:
            state = await client.start_room_composite(
                room, layout=request.layout, audio_only=request.audio_only, file_format=request.file_format,
                key=store.object_key(key), output=output,
            )
        except LivevaultError as exc:
            failure = exc
            await self._db.run_async(lambda s: self._fail(s, recording.id, failure))
            raise
        log.info("LiveKit egress requested", extra={"recording_id": recording.id, "egress_id": state.egress_id})
        saved = await self._db.run_async(lambda s: self._started(s, recording.id, state))
        await self.apply(state)
        return saved, job

    def _started(self, session: Any, recording_id: str, state: EgressState) -> Recording:
        jobs = JobRepository(session)
        recording = RecordingRepository(session).update(recording_id, stream_id=state.egress_id)
        if recording.job_id:
            jobs.update(recording.job_id, status=JobStatus.STARTED, started_at=utcnow(), attempts=1)
        return recording

    async def stop(self, recording: Recording) -> Recording:
        """`StopEgress`: LiveKit finishes the file and uploads it; the recording is `stopping` until then."""
        client, _, _ = self._require()
        if recording.status not in ACTIVE_RECORDING_STATUSES or recording.status is RecordingStatus.PROCESSING:
            raise Conflict(f"recording is already {recording.status.value}",
                           details={"status": recording.status.value})
        updated = await self._db.run_async(
            lambda s: RecordingRepository(s).update(recording.id, stop_requested=True)
        )
        if recording.stream_id:
            try:
                state = await client.stop(recording.stream_id)
            except (NotFound, LivevaultError) as exc:
                log.warning("StopEgress failed (%s); asking LiveKit for the egress state", exc.code,
                            extra={"recording_id": recording.id})
                await self.reconcile(recording)
            else:
                await self.apply(state)
        return await self._db.run_async(lambda s: RecordingRepository(s).get(recording.id)) or updated

    def for_room(self, room: str, *, limit: int = 100) -> list[Recording]:
        check_room_name(room)
        items, _total = self._db.run(
            lambda s: RecordingRepository(s).list(source_kind=LIVEKIT_SOURCE, source=room, limit=limit)
        )
        return items

    def links(self, recording: Recording, *, expires: int = 3600) -> tuple[str | None, str | None]:
        """Download and thumbnail URLs of a ready recording (presigned, or public under a custom domain)."""
        if recording.status is not RecordingStatus.COMPLETED or self._store is None:
            return None, None
        options = recording.options or {}
        key, thumb = options.get("object_key"), options.get("thumbnail_key")
        return (self._store.url(str(key), expires) if key else None,
                self._store.url(str(thumb), expires) if thumb else None)

    def active_for_room(self, room: str) -> Recording | None:
        return self._db.run(lambda s: active_for_room(s, check_room_name(room)))

    # -- webhooks and reconciliation -----------------------------------------------------------

    async def webhook(self, body: bytes, authorization: str | None) -> str:
        """A signed LiveKit webhook (401 when the signature or body does not check out); idempotent."""
        client, _, _ = self._require()
        event = client.verify(body, authorization)
        if event.egress is not None and event.event.startswith("egress_"):
            return await self.apply(event.egress)
        return await self._room_event(event)

    async def _room_event(self, event: RoomEvent) -> str:
        del event  # room events are accepted; auto-recording by room watchers is not enabled
        return "ignored"

    async def apply(self, state: EgressState) -> str:
        """Bring the recording of `state.egress_id` up to the egress's state. Repeats and late, out-of-order
        events change nothing: each step checks where the recording already is."""
        recording = await self._db.run_async(lambda s: by_egress(s, state))
        if recording is None:
            return "unknown_egress"
        if state.phase in {EgressPhase.ACTIVE, EgressPhase.ENDING}:
            return await self._db.run_async(lambda s: self._active(s, recording.id, state))
        if not state.phase.ended:
            return "starting"
        claimed = await self._db.run_async(lambda s: self._claim_finish(s, recording.id))
        if claimed is None:
            return "duplicate"
        if not state.phase.produced_file:
            error = EgressFailed(state.error or f"the egress ended as {state.phase.value} without a file",
                                 details={"egress_id": state.egress_id, "phase": state.phase.value})
            await self._db.run_async(lambda s: self._fail(s, recording.id, error))
            return "failed"
        try:
            fields, s3 = await self._verify(claimed, state)
        except LivevaultError as exc:
            failure = exc
            await self._db.run_async(lambda s: self._fail(s, recording.id, failure))
            return "failed"
        await self._db.run_async(lambda s: self._complete(s, recording.id, state, fields, s3))
        return "ready"

    def _active(self, session: Any, recording_id: str, state: EgressState) -> str:
        repo = RecordingRepository(session)
        current = repo.get_for_update(recording_id)
        if current is None or current.status is not RecordingStatus.PENDING:
            return "unchanged"
        updated = repo.set_status(recording_id, RecordingStatus.RECORDING, started_at=state.started_at or utcnow(),
                                  stop_requested=current.stop_requested or state.phase is EgressPhase.ENDING)
        if self._notifier is not None:
            self._notifier.recording_event(session, EventType.RECORDING_STARTED, updated)
        return "active"  # livevault_recordings_active counts `recording` rows (services.telemetry)

    def _claim_finish(self, session: Any, recording_id: str) -> Recording | None:
        """Only one process finishes a recording: the one that moves it to `processing`."""
        repo = RecordingRepository(session)
        current = repo.get_for_update(recording_id)
        if current is None or current.status not in (RecordingStatus.PENDING, RecordingStatus.RECORDING):
            return None
        return repo.set_status(recording_id, RecordingStatus.PROCESSING)

    async def _verify(self, recording: Recording, state: EgressState) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The object exists with the size Egress reported, plays (probed), and gets a thumbnail."""
        _, _, store = self._require()
        key = (recording.options or {}).get("object_key") or ""
        stored_key = state.file_key or store.object_key(key)
        info = await asyncio.to_thread(store.stat, key)
        if info is None:
            raise EgressFileMissing("LiveKit reported a file but it is not in the bucket",
                                    details={"key": stored_key, "egress_id": state.egress_id})
        if state.file_size and info.size != state.file_size:
            raise EgressFileMissing(f"the stored object has {info.size} bytes, LiveKit reported {state.file_size}",
                                    details={"key": stored_key})
        with tempfile.TemporaryDirectory(prefix="livevault-livekit-") as tmp:
            local = Path(tmp) / "egress.mp4"
            await asyncio.to_thread(store.download, key, local)
            media = await asyncio.to_thread(probe, local)
            thumb_key, thumb_size = None, 0
            if self._settings.thumbnails and media.video_codec:
                started = recording.started_at or recording.created_at
                thumb_key = self.object_key(recording.source, started, "jpg", thumbnail=True)
                try:
                    thumb = await asyncio.to_thread(make_thumbnail, local, Path(tmp) / "thumb.jpg")
                    await asyncio.to_thread(store.put_file, thumb_key, thumb)
                    thumb_size = thumb.stat().st_size
                except Exception:  # a missing thumbnail never fails a recording
                    log.warning("thumbnail failed for LiveKit recording %s", recording.id, exc_info=True)
                    thumb_key = None
        s3 = [{"bucket": store.bucket, "key": store.object_key(key), "url": store.object_url(key),
               "size": info.size}]
        fields = {"file_size": info.size, "duration": media.duration or (state.duration or 0.0),
                  "video_codec": media.video_codec, "audio_codec": media.audio_codec,
                  "width": media.width or None, "height": media.height or None, "fps": media.fps,
                  "options": {**(recording.options or {}), "thumbnail_key": thumb_key,
                              "thumbnail_size": thumb_size,
                              "egress": {"egress_id": state.egress_id, "file_key": stored_key,
                                         "duration": state.duration}}}
        return fields, s3

    def _complete(self, session: Any, recording_id: str, state: EgressState, fields: dict[str, Any],
                  s3: list[dict[str, Any]]) -> None:
        now = utcnow()
        repo = RecordingRepository(session)
        recording = repo.set_status(recording_id, RecordingStatus.COMPLETED, completed_at=state.ended_at or now,
                                    **fields)
        if self._files is not None:
            options = recording.options or {}
            self._files.register_remote(session, recording, options["object_key"], s3[0]["size"],
                                        thumbnail_key=options.get("thumbnail_key"),
                                        thumbnail_size=int(options.get("thumbnail_size") or 0))
        result = {"returncode": 0, "files": [s3[0]["key"]], "s3": s3, "egress_id": state.egress_id,
                  "started_at": iso(recording.started_at), "ended_at": iso(recording.completed_at),
                  "recording_id": recording_id}
        if recording.job_id:
            JobRepository(session).update(recording.job_id, status=JobStatus.SUCCESS, result=result, ended_at=now)
        if self._notifier is not None:
            self._notifier.recording_event(session, EventType.RECORDING_COMPLETED, recording,
                                           files=result["files"], s3=s3, end_reason="stopped")
        self._metrics.recordings.labels(status="completed").inc()
        log.info("LiveKit recording ready", extra={"recording_id": recording_id, "size": fields["file_size"]})

    def _fail(self, session: Any, recording_id: str, error: LivevaultError) -> None:
        now = utcnow()
        repo = RecordingRepository(session)
        current = repo.get(recording_id)
        if current is None or current.status in (RecordingStatus.COMPLETED, RecordingStatus.FAILED):
            return
        recording = repo.set_status(recording_id, RecordingStatus.FAILED, completed_at=now,
                                    error_code=error.code, error_message=error.message)
        if recording.job_id:
            JobRepository(session).update(
                recording.job_id, status=JobStatus.FAILURE, ended_at=now, error_code=error.code,
                error_message=error.message,
                result={"returncode": 1, "files": [], "s3": [], "recording_id": recording_id,
                        "egress_id": recording.stream_id},
            )
        if self._notifier is not None:
            self._notifier.recording_event(session, EventType.RECORDING_FAILED, recording)
        self._metrics.recordings.labels(status="failed").inc()
        log.warning("LiveKit recording failed: %s", error.message, extra={"recording_id": recording_id})

    async def reconcile(self, recording: Recording) -> str:
        """Ask LiveKit where one recording's egress is and catch up (a webhook may have been lost)."""
        client, _, _ = self._require()
        if not recording.stream_id:
            if utcnow() - recording.created_at > _UNSTARTED_GRACE:
                error = EgressFailed("LiveKit never confirmed the egress", details={"room": recording.source})
                await self._db.run_async(lambda s: self._fail(s, recording.id, error))
                return "failed"
            return "waiting"
        states = await client.list(egress_id=recording.stream_id)
        if not states:
            if utcnow() - recording.created_at > _UNSTARTED_GRACE:
                error = EgressFailed("LiveKit does not know this egress", details={"egress_id": recording.stream_id})
                await self._db.run_async(lambda s: self._fail(s, recording.id, error))
                return "failed"
            return "waiting"
        return await self.apply(states[0])

    async def reconcile_once(self) -> int:
        """One pass over unfinished LiveKit recordings; returns how many changed."""
        if self._client is None:
            return 0
        now = utcnow()
        found = await self._db.run_async(lambda s: unfinished(s, now))
        changed = 0
        for recording in found:
            if recording.status is RecordingStatus.PROCESSING:
                # Its verification died with its process: go again from the egress's state.
                await self._db.run_async(partial(back_to_recording, recording=recording))
            try:
                outcome = await self.reconcile(recording)
            except LivevaultError as exc:
                log.warning("LiveKit reconciliation failed: %s", exc.message, extra={"recording_id": recording.id})
                continue
            changed += outcome in {"active", "ready", "failed"}
        return changed

    async def start_polling(self) -> None:
        if self._client is not None and self._task is None:
            self._closing.clear()
            self._task = asyncio.create_task(self._poll(), name="livekit-reconcile")

    async def stop_polling(self) -> None:
        self._closing.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._client is not None:
            await self._client.close()

    async def _poll(self) -> None:
        interval = self._settings.livekit_reconcile_interval
        while not self._closing.is_set():
            try:
                await asyncio.wait_for(self._closing.wait(), timeout=interval)
                return
            except TimeoutError:
                pass
            try:
                await self.reconcile_once()
            except Exception:
                log.exception("LiveKit reconciliation pass failed")
