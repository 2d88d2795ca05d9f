"""The watcher scheduler: check due watchers in batches, start a recording when one goes live.

One pass (`run_once`):

1. claim up to `claim_limit` due watchers in one transaction (their next check moves ahead, so no
   other pass takes them meanwhile; PostgreSQL rows are locked with SKIP LOCKED);
2. watchers whose recording is still active are not checked: exactly one recording per watcher; a
   recording that failed (the source said live but could not be recorded: a login wall, a refused stream
   URL) counts as a failed check with the recording's error code, so the watcher backs off;
3. the rest are checked, grouped by source: sources that can check many targets per request
   (`BatchResolver`, e.g. TikTok's `check_alive`) get batches of `watcher_batch_size`, the others one
   `resolve()` each, all under a concurrency limit;
4. a live watcher gets a recording (the record job resolves the stream itself, and after a blip
   re-probes the source and continues the same recording as a new part, see `services.recording.recorder`);
5. results are written back in one bulk update: the next check is due after the poll interval
   (± jitter), or after an exponential backoff when the check failed (`domain.watcher.backoff_delay`)
   — a blocked or throttled source is never polled in a hot loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import JobRepository, RecordingRepository, WatcherRepository
from livevault.domain.notification import EventType
from livevault.domain.recording import (
    ACTIVE_RECORDING_STATUSES,
    JobStatus,
    Recording,
    RecordingRequest,
    RecordingStatus,
)
from livevault.domain.stream import LiveState, LiveStatus
from livevault.domain.watcher import Watcher, WatcherStatus, next_check
from livevault.errors import AlreadyRecording, InternalError, LivevaultError, RecordingFailed
from livevault.services.background import RepeatingPass
from livevault.services.recording.record import utcnow
from livevault.sources.base import BatchResolver, ResolveRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime, timedelta

    from livevault.config import Settings
    from livevault.observability import Metrics
    from livevault.services.notify.emit import Notifier
    from livevault.services.recording.record import RecordingService
    from livevault.services.uow import Database
    from livevault.sources.base import Resolver
    from livevault.sources.registry import SourceRegistry

log = logging.getLogger(__name__)

RECORDING_STATE = "recording"


@dataclass(frozen=True, slots=True)
class CheckResult:
    watcher: Watcher
    status: LiveStatus
    lateness: float


class WatchScheduler:
    """Runs in the API process in embedded mode (and in `livevault scheduler` when scaled out)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        sources: SourceRegistry,
        recordings: RecordingService,
        metrics: Metrics,
        *,
        claim_limit: int = 2000,
        concurrency: int = 16,
        idle_sleep: float | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._notifier = notifier
        self._settings = settings
        self._db = db
        self._sources = sources
        self._recordings = recordings
        self._metrics = metrics
        self._claim_limit = claim_limit
        self._limit = asyncio.Semaphore(concurrency)
        self._idle_sleep = settings.background_poll if idle_sleep is None else idle_sleep
        self._passes = RepeatingPass("watch-scheduler", self._pass, self._sleep_for,
                                     stop_timeout=settings.http_timeout + 5)
        # bandit B311: pseudo-random is fine here (watcher jitter, not a secret)
        self._rng = random.Random()  # nosec B311
        self._recorded_ok: set[str] = set()
        self.passes = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._passes.start()

    def poke(self) -> None:
        """A watcher became due now (created or resumed): check it without waiting for the idle sleep.
        Safe to call from any thread."""
        self._passes.poke()

    async def stop(self) -> None:
        await self._passes.stop()

    async def _pass(self) -> bool:
        """One pass; True when it claimed its limit (more watchers may be due: go again at once)."""
        return await self.run_once() >= self._claim_limit

    async def _sleep_for(self) -> float:
        """Until the next watcher is due, at most `idle_sleep` (LIVEVAULT_BACKGROUND_POLL: a watcher another
        process added is seen within it), unless `poke`/`stop` come first. Polling the database four times a
        second cost an idle process more CPU than a hundred recordings' spool writes; once a second still
        cost a tenth of a hundred recordings' capture."""
        try:
            due = await self.due_in()
        except Exception:
            log.debug("next due watcher unknown", exc_info=True)
            due = None
        return self._idle_sleep if due is None else min(self._idle_sleep, max(0.02, due.total_seconds()))

    # -- one pass --------------------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> int:
        """Check every watcher due at `now`; returns how many were claimed."""
        now = now or utcnow()
        hold = max(60.0, 3 * self._settings.http_timeout)
        claimed = await self._db.run_async(lambda s: WatcherRepository(s).claim_due(now, self._claim_limit, hold))
        if not claimed:
            return 0
        self.passes += 1
        busy, failed = await self._recording_watchers(claimed)
        to_check = [w for w in claimed if w.id not in busy and w.id not in failed]
        results = await self._check(to_check)
        started = await self._start_recordings([r for r in results if r.status.state is LiveState.LIVE])
        results.extend(CheckResult(w, failed[w.id], 0.0) for w in claimed if w.id in failed)
        await self._save(claimed, busy, results, started)
        return len(claimed)

    async def _recording_watchers(self, watchers: Sequence[Watcher]) -> tuple[set[str], dict[str, LiveStatus]]:
        """Watchers whose recording is still active (not checked), and those whose recording has just failed
        (counted as a failed check, so a source that says live but cannot be recorded backs off). A watcher
        whose recording has just completed gets its failure count reset."""
        by_recording = {w.recording_id: w for w in watchers if w.recording_id}
        self._recorded_ok = set()
        if not by_recording:
            return set(), {}
        outcomes = await self._db.run_async(lambda s: RecordingRepository(s).outcomes(list(by_recording)))
        busy: set[str] = set()
        failed: dict[str, LiveStatus] = {}
        for rid, watcher in by_recording.items():
            status, code, message = outcomes.get(rid, (None, None, None))
            if status in ACTIVE_RECORDING_STATUSES:
                busy.add(watcher.id)
            elif status is RecordingStatus.FAILED and watcher.live_state == RECORDING_STATE:
                failed[watcher.id] = LiveStatus(LiveState.ERROR, error_code=code or RecordingFailed.code,
                                                error_message=message or "the recording failed")
            elif status is RecordingStatus.COMPLETED and watcher.live_state == RECORDING_STATE:
                self._recorded_ok.add(watcher.id)
        return busy, failed

    async def _check(self, watchers: Sequence[Watcher]) -> list[CheckResult]:
        groups: dict[str, list[Watcher]] = defaultdict(list)
        for watcher in watchers:
            groups[watcher.source_kind].append(watcher)
        jobs: list[asyncio.Task[list[CheckResult]]] = []
        for kind, members in groups.items():
            try:
                resolver = self._sources.get(kind)
            except LivevaultError as exc:
                jobs.append(asyncio.create_task(self._failed(members, exc)))
                continue
            if isinstance(resolver, BatchResolver):
                size = self._settings.watcher_batch_size
                for i in range(0, len(members), size):
                    jobs.append(asyncio.create_task(self._check_batch(resolver, members[i:i + size])))
            else:
                for watcher in members:
                    jobs.append(asyncio.create_task(self._check_one(resolver, watcher)))
        results: list[CheckResult] = []
        for batch in await asyncio.gather(*jobs):
            results.extend(batch)
        return results

    @staticmethod
    def _request(watcher: Watcher) -> ResolveRequest:
        options = watcher.options or {}
        return ResolveRequest(target=watcher.target, quality=str(options.get("quality") or "best"),
                              proxy=options.get("proxy"), options=options)

    def _lateness(self, watcher: Watcher) -> float:
        late = max(0.0, (utcnow() - watcher.next_check_at).total_seconds())
        self._metrics.watcher_lateness.observe(late)
        return late

    async def _check_batch(self, resolver: BatchResolver, watchers: list[Watcher]) -> list[CheckResult]:
        async with self._limit:
            lateness = [self._lateness(w) for w in watchers]
            try:
                statuses = await resolver.check_many([self._request(w) for w in watchers])
            except LivevaultError as exc:
                statuses = [_error_status(exc)] * len(watchers)
            except Exception as exc:
                log.exception("batch check failed")
                statuses = [LiveStatus(LiveState.ERROR, error_code=InternalError.code, error_message=repr(exc))] * len(
                    watchers)
        return [CheckResult(w, s, late) for w, s, late in zip(watchers, statuses, lateness, strict=True)]

    async def _check_one(self, resolver: Resolver, watcher: Watcher) -> list[CheckResult]:
        async with self._limit:
            late = self._lateness(watcher)
            try:
                status = await resolver.resolve(self._request(watcher))
            except LivevaultError as exc:
                status = _error_status(exc)
            except Exception as exc:
                log.exception("check failed", extra={"watcher": watcher.key})
                status = LiveStatus(LiveState.ERROR, error_code=InternalError.code, error_message=repr(exc))
        return [CheckResult(watcher, status, late)]

    async def _failed(self, watchers: list[Watcher], exc: LivevaultError) -> list[CheckResult]:
        return [CheckResult(w, _error_status(exc), self._lateness(w)) for w in watchers]

    async def _start_recordings(self, live: Sequence[CheckResult]) -> dict[str, str]:
        """Start one recording per live watcher that is still active; returns watcher id -> recording id."""
        if not live:
            return {}
        keys = [r.watcher.key for r in live]
        still_active = await self._db.run_async(lambda s: _active_keys(s, keys))
        started: dict[str, str] = {}
        for result in live:
            watcher = result.watcher
            if watcher.key not in still_active:
                continue
            try:
                recording, _job = await asyncio.to_thread(
                    self._recordings.create, _recording_request(watcher), announce=self._announcer(watcher)
                )
            except AlreadyRecording as exc:  # another request or watcher records this source: leave it be
                log.info("watcher %s: source already recorded by %s", watcher.key, exc.details.get("recording_id"))
                continue
            except LivevaultError as exc:
                log.warning("watcher %s could not start a recording: %s", watcher.key, exc.message)
                continue
            log.info("source is live; recording", extra={"watcher": watcher.key, "recording_id": recording.id})
            started[watcher.id] = recording.id
        return started

    def _announcer(self, watcher: Watcher) -> Callable[[Any, Recording], None] | None:
        """`watcher.live`, queued with the recording it starts (so it reaches receivers before its start)."""
        notifier = self._notifier
        if notifier is None or not notifier.targets_for(watcher.options):
            return None

        def announce(session: Any, recording: Recording) -> None:
            notifier.watcher_event(session, EventType.WATCHER_LIVE, watcher, recording=recording)

        return announce

    async def _save(
        self, claimed: Sequence[Watcher], busy: set[str], results: Sequence[CheckResult], started: dict[str, str]
    ) -> None:
        now = utcnow()
        jitter, max_backoff = self._settings.watcher_jitter, self._settings.watcher_max_backoff
        rows: list[dict[str, Any]] = []
        job_updates: list[tuple[str, dict[str, Any]]] = []
        by_id = {r.watcher.id: r for r in results}
        for watcher in claimed:
            if watcher.id in busy:
                rows.append({"id": watcher.id, "live_state": RECORDING_STATE, "next_check_at": next_check(
                    now, watcher.poll_interval, 0, None, jitter=jitter, max_backoff=max_backoff)})
                continue
            result = by_id.get(watcher.id)
            if result is None:
                continue
            row, job_change = self._outcome(watcher, result.status, started.get(watcher.id), now)
            rows.append(row)
            if job_change and watcher.job_id:
                job_updates.append((watcher.job_id, job_change))
            self._metrics.watcher_checks.labels(watcher.source_kind, _result_label(result.status)).inc()

        def work(session: Any) -> None:
            WatcherRepository(session).save_checks(rows)
            jobs = JobRepository(session)
            for job_id, change in job_updates:
                if jobs.get(job_id) is not None:
                    jobs.update(job_id, **change)

        await self._db.run_async(work)

    def _outcome(
        self, watcher: Watcher, status: LiveStatus, recording_id: str | None, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        failed = status.state is LiveState.ERROR
        if failed:
            failures, code, message = watcher.failures + 1, status.error_code, status.error_message
        elif status.state is LiveState.LIVE and watcher.id not in self._recorded_ok:
            # "Live" alone proves nothing: keep counting until a recording succeeds or the source goes offline.
            failures, code, message = watcher.failures, watcher.error_code, watcher.error_message
        else:
            failures, code, message = 0, None, None
        row: dict[str, Any] = {
            "id": watcher.id, "checks": watcher.checks + 1, "last_run_at": now, "failures": failures,
            "live_state": status.state.value, "error_code": code, "error_message": message,
            "next_check_at": next_check(now, watcher.poll_interval, failures, code,
                                        jitter=self._settings.watcher_jitter,
                                        max_backoff=self._settings.watcher_max_backoff),
        }
        if status.state is LiveState.LIVE:
            row["last_live_at"] = now
        if recording_id is not None:
            row.update(recording_id=recording_id, recordings_count=watcher.recordings_count + 1,
                       live_state=RECORDING_STATE)
        job_change: dict[str, Any] | None = None
        changed = (watcher.checks == 0 or code != watcher.error_code or recording_id is not None
                   or status.state.value != watcher.live_state)
        if changed:
            result = {"watcher": watcher.key, "live_state": row["live_state"], "checks": watcher.checks + 1,
                      "recordings": watcher.recordings_count + (1 if recording_id else 0),
                      "recording_id": recording_id or watcher.recording_id,
                      "last_run_at": now.isoformat().replace("+00:00", "Z")}
            job_change = {"status": JobStatus.STARTED, "error_code": code, "error_message": message,
                          "result": result}
            if watcher.checks == 0:
                job_change["started_at"] = now
        if failed and code != watcher.error_code:
            delay = (row["next_check_at"] - now).total_seconds()
            log.warning("watcher check failed: %s (next check in %.0f s)", code,
                        delay, extra={"watcher": watcher.key, "error_code": code})
        return row, job_change

    async def due_in(self) -> timedelta | None:
        """Time until the next watcher is due (None when no watcher is active)."""
        due = await self._db.run_async(lambda s: WatcherRepository(s).next_due())
        return None if due is None else due - utcnow()


def _active_keys(session: Any, keys: list[str]) -> set[str]:
    watchers = WatcherRepository(session)
    return {key for key in keys if (w := watchers.get(key)) is not None and w.status is WatcherStatus.ACTIVE}


def _recording_request(watcher: Watcher) -> RecordingRequest:
    options = dict(watcher.options or {})
    max_duration = options.get("max_duration")
    return RecordingRequest(
        source_kind=watcher.source_kind, source=watcher.target, url=watcher.url, room_id=watcher.room_id,
        duration=int(max_duration) if max_duration else None, output_template=options.get("output_template"),
        quality=str(options.get("quality") or "best"), options=options, watcher_key=watcher.key,
    )


def _error_status(exc: LivevaultError) -> LiveStatus:
    return LiveStatus(LiveState.ERROR, error_code=exc.code, error_message=exc.message)


_ERROR_LABEL = "ERROR"  # a metric label for a failed check without a code, not an error code


def _result_label(status: LiveStatus) -> str:
    return (status.error_code or _ERROR_LABEL) if status.state is LiveState.ERROR else status.state.value
