"""Who runs a download batch, and what its job row says about it.

One process runs a batch at a time: its job claims the batch's job row (`JobRepository.claim`) and keeps a
heartbeat on it while it runs (every lease_ttl / 3 seconds). A batch is sent again when nobody runs it:

- at start-up of the embedded service, every unfinished batch (the process that ran it is this one, dead);
- in scale-out, by the lease sweep: a batch whose job waited (PENDING, RETRY) past the pending grace (its
  queued message was lost, for instance with a Redis restart) or whose heartbeat stopped for 3 x lease_ttl
  (its worker died). A copy that arrives while the batch is running finds the claim taken and exits.

Videos a dead process left `running` start over; those that finished are kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import DownloadRepository, JobRepository
from livevault.db.repositories.downloads import DownloadStatus
from livevault.domain.recording import JobStatus
from livevault.services.recording.record import utcnow
from livevault.services.recording.recorder import isoformat

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from livevault.config import Settings
    from livevault.db.repositories.downloads import Download
    from livevault.services.uow import Database

__all__ = ["BatchClock", "batch_result", "idle_batches", "unfinished_batches"]

log = logging.getLogger(__name__)


class BatchClock:
    """The heartbeat period and the silence after which a running batch counts as abandoned."""

    def __init__(self, settings: Settings) -> None:
        self.every = settings.lease_ttl / 3
        self.stale_after = 3 * settings.lease_ttl

    def claim(self, session: Session, job_id: str) -> bool:
        now = utcnow()
        return JobRepository(session).claim(job_id, now, now - timedelta(seconds=self.stale_after))

    async def heartbeat(self, db: Database, job_id: str) -> None:
        """Runs beside the batch (cancel it when the batch ends); a failed beat is retried at the next one."""
        while True:
            await asyncio.sleep(self.every)
            try:
                await db.run_async(lambda s: JobRepository(s).touch(job_id, utcnow()))
            except Exception:
                log.warning("download batch %s: heartbeat failed", job_id, exc_info=True)


def _with_correlation(session: Session, batch_ids: Sequence[str]) -> list[tuple[str, str | None]]:
    jobs = JobRepository(session)
    found = [(batch_id, jobs.get(batch_id)) for batch_id in batch_ids]
    return [(batch_id, job.correlation_id) for batch_id, job in found if job is not None]


def unfinished_batches(session: Session) -> list[tuple[str, str | None]]:
    """Embedded start-up: every batch with a video still to do, its job made claimable again (PENDING)."""
    jobs = JobRepository(session)
    batches: list[tuple[str, str | None]] = []
    for batch_id in DownloadRepository(session).unfinished_batches():
        job = jobs.get(batch_id)
        if job is None:
            continue
        if job.status is JobStatus.STARTED:
            jobs.update(batch_id, status=JobStatus.PENDING)
        batches.append((batch_id, job.correlation_id))
    return batches


def idle_batches(session: Session, *, pending_grace: float, stale_after: float) -> list[tuple[str, str | None]]:
    """Scale-out: unfinished batches that nobody runs (see the module docstring)."""
    now = utcnow()
    idle = JobRepository(session).idle_since(
        DownloadRepository(session).unfinished_batches(),
        pending_before=now - timedelta(seconds=pending_grace),
        stale_before=now - timedelta(seconds=stale_after),
    )
    return _with_correlation(session, idle)


def batch_result(items: Sequence[Download], started_at: datetime | None,
                 ended_at: datetime | None = None) -> dict[str, Any]:
    """The job's `result`: the seeds' fields plus per-video progress."""
    counts = Counter(i.status.value for i in items)
    return {
        "returncode": None if ended_at is None else int(counts[DownloadStatus.FAILED.value] > 0),
        "files": [i.file_path for i in items if i.file_path],
        "s3": [],
        "started_at": isoformat(started_at),
        "ended_at": isoformat(ended_at),
        "strategy": items[0].strategy if items else None,
        "total": len(items),
        **{status.value: counts[status.value] for status in DownloadStatus},
        "downloads": [
            {"id": i.id, "url": i.url, "status": i.status.value, "file_path": i.file_path, "error_code": i.error_code,
             "keyframes": (i.keyframes or {}).get("count")}
            for i in items
        ],
    }
