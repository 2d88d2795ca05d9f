"""Running counters of every live capture in this process, written in one batch, and stop requests read back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import RecordingRepository

if TYPE_CHECKING:
    from livevault.capture.base import CaptureControl
    from livevault.capture.spool import Spool
    from livevault.services.uow import Database

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 5.0  # row counters for list pages; a recording's own page reads its spool live
STOP_POLL_INTERVAL = 1.0  # stop requests from other processes (the API, another worker) reach a capture this fast


def counters(recording_id: str, spool: Spool) -> dict[str, Any]:
    return {
        "id": recording_id,
        "segments_captured": spool.segment_count,
        "segments_missing": sum(g.missing_segments for g in spool.gaps()),
        "bytes_captured": spool.bytes_total,
        "parts_count": len(spool.parts()),
    }


@dataclass
class _Pace:
    """What the health of one capture is computed from, between two flushes."""

    bytes: int
    at: float
    progress_at: float


def health(spool: Spool, control: CaptureControl, pace: _Pace, now: float) -> dict[str, Any]:
    """A running capture's health for the metrics (`services.telemetry` exports it from the database):
    seconds of gaps, when media last arrived (stall = scrape time minus that), reconnects (parts after the
    first), how many segments it is behind the live edge (HLS), and bytes per second since the last flush."""
    if spool.bytes_total != pace.bytes:
        pace.progress_at = now
    rate = (spool.bytes_total - pace.bytes) / (now - pace.at) if now > pace.at else 0.0
    pace.bytes, pace.at = spool.bytes_total, now
    lag = None
    if control.live_edge is not None and spool.last_sequence is not None:
        lag = max(0, control.live_edge - spool.last_sequence)
    return {
        "at": now,
        "last_progress_at": pace.progress_at,
        "gap_seconds": round(sum(g.duration for g in spool.gaps()), 3),
        "reconnects": max(0, len(spool.parts()) - 1),
        "segment_lag": lag,
        "bytes_per_second": round(rate, 1),
    }


class ProgressBook:
    """One loop for all captures: a single transaction per interval instead of one per recording."""

    def __init__(self, db: Database, interval: float = PROGRESS_INTERVAL,
                 stop_poll: float = STOP_POLL_INTERVAL) -> None:
        self._db = db
        self._interval = interval
        self._stop_poll = min(stop_poll, interval)
        self._live: dict[str, tuple[Spool, CaptureControl]] = {}
        self._pace: dict[str, _Pace] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, recording_id: str, spool: Spool, control: CaptureControl) -> None:
        self._live[recording_id] = (spool, control)
        now = time.time()
        self._pace[recording_id] = _Pace(spool.bytes_total, now, now)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="progress-book")

    async def remove(self, recording_id: str, *, write: bool = True) -> None:
        """Stop tracking a capture and write its final counters (not when another process has taken it over)."""
        entry = self._live.pop(recording_id, None)
        self._pace.pop(recording_id, None)
        if entry is not None and write:
            final = [{**counters(recording_id, entry[0]), "health": None}]
            await self._db.run_async(lambda s: RecordingRepository(s).save_progress(final))

    async def flush(self, *, counters_too: bool = True) -> None:
        """Write changed counters (when `counters_too`) and pass on stop requests, in one transaction."""
        changed = []
        now = time.time()
        for recording_id, (spool, control) in list(self._live.items()) if counters_too else []:
            row = counters(recording_id, spool)
            pace = self._pace.get(recording_id)
            # written every interval while live: the health changes even when the counters do not
            row["health"] = health(spool, control, pace, now) if pace is not None else None
            changed.append(row)
        ids = list(self._live)

        def work(session: Any) -> set[str]:
            repo = RecordingRepository(session)
            repo.save_progress(changed)
            return repo.stop_requested(ids)

        stops = await self._db.run_async(work)
        for recording_id in stops:
            entry = self._live.get(recording_id)
            if entry is not None:
                entry[1].stop.set()

    async def _loop(self) -> None:
        ticks, every = 0, max(1, round(self._interval / self._stop_poll))
        while self._live:
            await asyncio.sleep(self._stop_poll)
            ticks += 1
            try:
                await self.flush(counters_too=ticks % every == 0)
            except Exception:  # progress is best effort; the capture itself must go on
                log.exception("saving capture progress failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
