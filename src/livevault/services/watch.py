"""Watchers: create, list, pause, resume and delete them (the scheduler that checks them is `services.scheduler`)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import JobRepository, RecordingRepository, WatcherRepository
from livevault.domain.recording import ACTIVE_RECORDING_STATUSES, Job, JobStatus
from livevault.domain.watcher import Watcher, WatcherStatus
from livevault.errors import Conflict, InvalidInput, NotFound
from livevault.services.keys import claim_watcher
from livevault.services.record import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.config import Settings
    from livevault.domain.keys import KeyQuota
    from livevault.services.record import RecordingService
    from livevault.services.uow import Database

log = logging.getLogger(__name__)

WATCH_JOB_KIND = "watch"


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """A validated request to watch one source."""

    key: str
    source_kind: str
    target: str
    poll_interval: float
    room_id: str | None = None
    url: str | None = None
    user: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None
    max_recordings: int | None = None
    max_bytes: int | None = None
    retention_days: float | None = None


RETENTION_LIMITS = frozenset({"max_recordings", "max_bytes", "retention_days"})


@dataclass(frozen=True, slots=True)
class WatcherPage:
    items: list[Watcher]
    total: int
    page: int
    page_size: int


class WatcherService:
    def __init__(
        self, settings: Settings, db: Database, recordings: RecordingService,
        on_due: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._recordings = recordings
        self._on_due = on_due or (lambda: None)

    def check_interval(self, poll_interval: float) -> float:
        low = self._settings.watcher_min_interval
        if not low <= poll_interval <= 86400:
            raise InvalidInput(
                f"poll_interval must be between {low:g} and 86400 seconds",
                details={"poll_interval": poll_interval, "min": low},
            )
        return float(poll_interval)

    def create(self, request: WatchRequest, *, quota: KeyQuota | None = None) -> tuple[Watcher, Job]:
        """Persist the watcher (or revive a deleted one with the same key) and its job; the first check is due now.

        Raises:
            QuotaExceeded: `quota`'s key already holds its maximum of watchers.
        """
        interval = self.check_interval(request.poll_interval)
        now = utcnow()
        job = Job(id=str(uuid.uuid4()), kind=WATCH_JOB_KIND, status=JobStatus.PENDING, created_at=now,
                  correlation_id=request.correlation_id, result={"watcher": request.key})
        watcher = Watcher(
            id=str(uuid.uuid4()), key=request.key, source_kind=request.source_kind, target=request.target,
            poll_interval=interval, status=WatcherStatus.ACTIVE, created_at=now, next_check_at=now,
            room_id=request.room_id, url=request.url, user=request.user, options=dict(request.options),
            job_id=job.id, updated_at=now, max_recordings=request.max_recordings, max_bytes=request.max_bytes,
            retention_days=request.retention_days,
        )

        def work(session: Any) -> Watcher:
            watchers = WatcherRepository(session)
            JobRepository(session).add(job)
            existing = watchers.get(request.key, include_deleted=True)
            if existing is None:
                made = watchers.add(watcher)
            elif existing.status is not WatcherStatus.DELETED:
                raise Conflict("this source is already watched", details={"key": request.key,
                                                                          "task_id": existing.job_id})
            else:
                made = _revive(watchers, request.key, watcher)
            claim_watcher(session, quota, made.id)
            return made

        created = self._db.run(work)
        self._on_due()
        return created, job

    def get(self, key: str) -> Watcher:
        found = self._db.run(lambda s: WatcherRepository(s).get(key))
        if found is None:
            raise NotFound("Watcher not found", details={"key": key})
        return found

    def search(self, *, status: WatcherStatus | None = None, page: int = 1, page_size: int = 50) -> WatcherPage:
        items, total = self._db.run(
            lambda s: WatcherRepository(s).list(status=status, limit=page_size, offset=(page - 1) * page_size)
        )
        return WatcherPage(items=items, total=total, page=page, page_size=page_size)

    def count_active(self) -> int:
        return self._db.run(lambda s: WatcherRepository(s).count(WatcherStatus.ACTIVE))

    def update(
        self, key: str, *, status: WatcherStatus | None = None, poll_interval: float | None = None,
        options: dict[str, Any] | None = None, retention: dict[str, Any] | None = None,
    ) -> Watcher:
        """Pause, resume, change the interval, the options of future recordings or the retention limits
        (`retention`: any of max_recordings, max_bytes, retention_days; None removes a limit)."""
        changes: dict[str, Any] = {}
        unknown = set(retention or {}) - RETENTION_LIMITS
        if unknown:
            raise InvalidInput("unknown retention limit", details={"fields": sorted(unknown)})
        changes.update(retention or {})
        if status is not None:
            if status is WatcherStatus.DELETED:
                raise InvalidInput("delete a watcher with DELETE /watchers/{key}", details={"status": status.value})
            changes["status"] = status
            if status is WatcherStatus.ACTIVE:
                changes["next_check_at"] = utcnow()
                changes["failures"] = 0
        if poll_interval is not None:
            changes["poll_interval"] = self.check_interval(poll_interval)
        if options is not None:
            changes["options"] = options

        def work(session: Any) -> Watcher:
            watchers = WatcherRepository(session)
            if watchers.get(key) is None:
                raise NotFound("Watcher not found", details={"key": key})
            if not changes:
                return watchers.get(key) or _missing(key)
            return watchers.update(key, **changes)

        updated = self._db.run(work)
        if "next_check_at" in changes:
            self._on_due()
        return updated

    def delete(self, key: str) -> Watcher:
        """Stop watching; an active recording is stopped gracefully (what it captured is finalized)."""

        def work(session: Any) -> Watcher:
            watchers = WatcherRepository(session)
            watcher = watchers.get(key)
            if watcher is None:
                raise NotFound("Watcher not found", details={"key": key})
            if watcher.job_id:
                jobs = JobRepository(session)
                if jobs.get(watcher.job_id) is not None:
                    jobs.update(watcher.job_id, status=JobStatus.REVOKED, ended_at=utcnow())
            return watchers.update(key, status=WatcherStatus.DELETED)

        watcher = self._db.run(work)
        if watcher.recording_id:
            self._stop_recording(watcher.recording_id)
        log.info("watcher deleted", extra={"watcher": key})
        return watcher

    def _stop_recording(self, recording_id: str) -> None:
        recording = self._db.run(lambda s: RecordingRepository(s).get(recording_id))
        if recording is None or recording.status not in ACTIVE_RECORDING_STATUSES:
            return
        try:
            self._recordings.stop(recording_id)
        except Conflict:  # it finished between the two reads
            pass


def _revive(watchers: WatcherRepository, key: str, watcher: Watcher) -> Watcher:
    values = {
        "source_kind": watcher.source_kind, "target": watcher.target, "poll_interval": watcher.poll_interval,
        "status": WatcherStatus.ACTIVE, "room_id": watcher.room_id, "url": watcher.url, "user": watcher.user,
        "options": watcher.options, "job_id": watcher.job_id, "recording_id": None, "live_state": None,
        "error_code": None, "error_message": None, "failures": 0, "next_check_at": watcher.next_check_at,
        "max_recordings": watcher.max_recordings, "max_bytes": watcher.max_bytes,
        "retention_days": watcher.retention_days,
    }
    return watchers.update(key, **values)


def _missing(key: str) -> Watcher:
    raise NotFound("Watcher not found", details={"key": key})
