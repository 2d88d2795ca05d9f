"""The cleanup job: plan with `policy.plan`, then delete through `RecordingService.delete`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import RecordingRepository, WatcherRepository
from livevault.domain.recording import FINISHED_RECORDING_STATUSES
from livevault.errors import LivevaultError, NotFound
from livevault.services.retention.policy import Action, Candidate, Decision, WatcherLimits, plan

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy.orm import Session

    from livevault.config import Settings
    from livevault.domain.recording import Recording
    from livevault.observability import Metrics
    from livevault.services.record import RecordingService
    from livevault.services.retention.disk import DiskStatus, DiskWatch
    from livevault.services.uow import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    decisions: list[Decision]
    disk: DiskStatus | None
    considered: int


@dataclass
class RetentionReport:
    """What one run did (a dry run only plans: `done` stays empty)."""

    plan: RetentionPlan
    dry_run: bool
    done: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    freed_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        disk = self.plan.disk
        return {
            "dry_run": self.dry_run, "considered": self.plan.considered,
            "decisions": [d.as_dict() for d in self.plan.decisions], "done": self.done, "skipped": self.skipped,
            "freed_bytes": self.freed_bytes, "disk": None if disk is None else disk.as_dict(),
        }


class RetentionService:
    """One policy over every copy of a recording.

    `remote_copies(ids) -> ids` says which recordings have a verified remote copy and still a local one (none
    by default; bootstrap passes `StorageService.verified_remote` when S3 is configured), and `drop_local(id)`
    removes only the local copy of such a recording (`StorageService.drop_local_copies`); without it,
    `drop_local` decisions are listed but skipped.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        recordings: RecordingService,
        disk: DiskWatch,
        metrics: Metrics | None = None,
        *,
        remote_copies: Callable[[Sequence[str]], set[str]] | None = None,
        drop_local: Callable[[str], object] | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._recordings = recordings
        self._disk = disk
        self._metrics = metrics
        self.remote_copies = remote_copies
        self.drop_local = drop_local

    def plan(self, now: datetime | None = None) -> RetentionPlan:
        """What the cleanup job would do now. Only recordings a rule can select are read: older than the global
        days, or started by a watcher with limits (all finished ones while the disk is low, for the local
        copies that may go first)."""
        now = now or datetime.now(UTC)
        try:
            disk: DiskStatus | None = self._disk.status()
        except OSError:
            log.warning("cannot measure the recordings disk", exc_info=True)
            disk = None
        days = self._settings.retention_days
        created_before = now - timedelta(days=days) if days else None
        pressure = disk is not None and disk.alert and self.remote_copies is not None

        def load(session: Session) -> tuple[list[Recording], dict[str, WatcherLimits]]:
            limits = {w.key: WatcherLimits(w.key, w.max_recordings, w.max_bytes, w.retention_days)
                      for w in WatcherRepository(session).with_retention_limits()}
            found = RecordingRepository(session).retention_candidates(
                created_before=created_before, watcher_keys=list(limits), everything=pressure)
            return found, limits

        found, limits = self._db.run(load)
        remote = self.remote_copies([r.id for r in found]) if self.remote_copies and found else set()
        candidates = [Candidate(r, r.id in remote) for r in found]
        decisions = plan(candidates, now=now, global_days=days, watchers=limits, disk=disk)
        return RetentionPlan(decisions=decisions, disk=disk, considered=len(found))

    def run(self, *, dry_run: bool = False, now: datetime | None = None) -> RetentionReport:
        """Plan, and unless `dry_run`, carry the plan out. Each recording is checked again just before it goes:
        one pinned or restarted since the plan was made stays."""
        report = RetentionReport(plan=self.plan(now), dry_run=dry_run)
        disk = report.plan.disk
        if disk is not None and disk.alert:
            log.warning("recordings disk at %.1f %% used, %d bytes free (alert at %g %%, watermark %d bytes)",
                        disk.used_percent, disk.free_bytes, disk.alert_percent, disk.min_free_bytes)
        if dry_run:
            return report
        for decision in report.plan.decisions:
            why = self._apply(decision)
            if why is not None:
                report.skipped[decision.recording_id] = why
                continue
            report.done.append(decision.recording_id)
            report.freed_bytes += decision.bytes
            if self._metrics is not None:
                self._metrics.retention_actions.labels(decision.action.value).inc()
                self._metrics.retention_freed.inc(decision.bytes)
            log.info("retention: %s %s (%s)", decision.action.value, decision.recording_id,
                     "; ".join(decision.reasons), extra={"recording_id": decision.recording_id})
        return report

    def _apply(self, decision: Decision) -> str | None:
        """Carry one decision out; the reason it was skipped, or None when it was done."""
        try:
            current = self._recordings.get(decision.recording_id)
        except NotFound:
            return "already gone"
        if current.pinned:
            return "pinned since the plan was made"
        if current.status not in FINISHED_RECORDING_STATUSES:
            return f"{current.status.value}, not finished"
        try:
            if decision.action is Action.DELETE:
                self._recordings.delete(decision.recording_id)
            elif self.drop_local is None:
                return "no remote storage to keep the recording in"
            else:
                self.drop_local(decision.recording_id)
        except NotFound:
            return "already gone"
        except LivevaultError as exc:
            log.warning("retention could not remove %s: %s", decision.recording_id, exc.message)
            return f"{exc.code}: {exc.message}"
        return None


class RetentionLoop:
    """Embedded mode: run the cleanup job every LIVEVAULT_RETENTION_INTERVAL seconds in this process (the
    distributed mode runs it as the `livevault.retention.sweep` beat task instead)."""

    def __init__(self, service: RetentionService, interval: float, *, first_after: float = 5.0) -> None:
        self._service = service
        self._interval = interval
        self._first_after = min(first_after, interval)
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.runs = 0

    async def start(self) -> None:
        if self._task is None:
            self._closing.clear()
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        self._closing.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=30)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _sleep(self, seconds: float) -> bool:
        """False when the loop is closing."""
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False

    async def _loop(self) -> None:
        delay = self._first_after
        while await self._sleep(delay):
            try:
                await asyncio.to_thread(self._service.run)
            except Exception:  # the loop must outlive a bad run (a database hiccup)
                log.exception("retention run failed")
            self.runs += 1
            delay = self._interval
