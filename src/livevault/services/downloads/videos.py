"""Batch downloads of finished videos (seed 003): one job per batch, its videos fetched in parallel under a limit.

Each video: the strategy (`yt-dlp` or `scrapling-api`) resolves a media URL, livevault streams it to
`<downloads_dir>/<batch>/<name>.part` (size-capped; the part is removed on any failure), probes it, renames
it to `<name>.<ext>`, and optionally writes JPEGs of its keyframes. Rows and the job's `result` are updated
as each video finishes, so `GET /jobs/{task_id}` shows progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from livevault.db.repositories import DownloadRepository, JobRepository
from livevault.db.repositories.downloads import Download, DownloadStatus
from livevault.domain.recording import Job, JobStatus
from livevault.errors import (
    DiskFull,
    DownloadFailed,
    InternalError,
    InvalidInput,
    InvalidUrl,
    LivevaultError,
    NotFound,
    StrategyUnavailable,
)
from livevault.postprocess.keyframes import keyframe_times
from livevault.postprocess.probe import MediaInfo, probe
from livevault.postprocess.thumbnail import make_thumbnail
from livevault.services.downloads.batches import BatchClock, batch_result, idle_batches, unfinished_batches
from livevault.services.recording.record import utcnow
from livevault.sources.http_api import media_chunks
from livevault.sources.urls import validate_source_url

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    import aiohttp
    from sqlalchemy.orm import Session

    from livevault.config import Settings
    from livevault.observability import Metrics
    from livevault.runners.base import JobRunner
    from livevault.services.uow import Database
    from livevault.sources.http_api import ResolvedVideo

__all__ = ["DOWNLOAD_JOB", "Download", "DownloadPage", "DownloadService", "DownloadStatus", "VideoStrategy"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DOWNLOAD_JOB = "livevault.download"
MAX_BATCH = 100
STRATEGY_ALIASES = {"http-api": "scrapling-api"}
MAX_KEYFRAMES = 60
MAX_KEYFRAME_WIDTH = 640
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_EXT = re.compile(r"[^a-z0-9]+")
_VIDEO_ID = re.compile(r"/video/(\d+)")


class VideoStrategy(Protocol):
    async def resolve(self, url: str) -> ResolvedVideo:
        """The direct media URL and facts of the video page at `url`.

        Raises:
            LivevaultError: the strategy's own errors (INVALID_URL, NAVIGATION_FAILED, DOWNLOAD_FAILED, ...).
        """
        ...


@dataclass(frozen=True, slots=True)
class DownloadPage:
    items: list[Download]
    total: int
    page: int
    page_size: int


@dataclass
class _Batch:
    """One run of a batch job: its directory, its parallelism, and the names taken so far."""

    job_id: str
    directory: Path
    slots: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    names: set[str] = field(default_factory=set)

    def reserve(self, stem: str, ext: str) -> str:
        candidate, n = stem, 1
        while candidate in self.names or (self.directory / f"{candidate}.{ext}").exists():
            n += 1
            candidate = f"{stem}-{n}"
        self.names.add(candidate)
        return candidate


class DownloadService:
    def __init__(self, settings: Settings, db: Database, runner: JobRunner, metrics: Metrics,
                 http: aiohttp.ClientSession, strategies: Mapping[str, VideoStrategy]) -> None:
        self._settings = settings
        self._db = db
        self._runner = runner
        self._metrics = metrics
        self._http = http
        self._strategies = dict(strategies)
        self._clock = BatchClock(settings)
        self._swept: dict[str, float] = {}

    # -- requests --------------------------------------------------------------------------------

    def strategy_for(self, requested: str | None) -> str:
        """The strategy a batch uses: the request's (aliases allowed), else TIKTOK_DOWNLOAD_STRATEGY."""
        name = STRATEGY_ALIASES.get(requested or "", requested) or self._settings.download_strategy
        if name not in self._strategies:
            if name == "scrapling-api":
                raise StrategyUnavailable("the scrapling-api strategy needs LIVEVAULT_DOWNLOAD_RESOLVER_URL",
                                          details={"strategy": name})
            raise StrategyUnavailable(f"unknown download strategy {name!r}",
                                      details={"strategy": name, "available": sorted(self._strategies)})
        return name

    def check_urls(self, urls: Sequence[str]) -> list[str]:
        """Every URL through the one URL gate; the first bad one rejects the batch (its index in details)."""
        if not 1 <= len(urls) <= MAX_BATCH:
            raise InvalidInput(f"give 1 to {MAX_BATCH} URLs", details={"count": len(urls)})
        checked: list[str] = []
        for index, url in enumerate(urls):
            try:
                checked.append(validate_source_url(url, allow_private=self._settings.allow_private_sources))
            except InvalidUrl as exc:
                exc.details.update(index=index, url=url[:200])
                raise
        return checked

    def create_batch(self, urls: Sequence[str], *, strategy: str | None = None, keyframes: bool = False,
                     correlation_id: str | None = None) -> tuple[Job, list[Download]]:
        """Persist the job and one row per URL, then hand the job to the runner. Blocks (URL checks resolve DNS)."""
        name = self.strategy_for(strategy)
        checked = self.check_urls(urls)
        now, job_id = utcnow(), str(uuid.uuid4())
        items = [
            Download(id=str(uuid.uuid4()), batch_id=job_id, position=position, url=url, strategy=name,
                     status=DownloadStatus.PENDING, created_at=now,
                     keyframes={"requested": True} if keyframes else None)
            for position, url in enumerate(checked)
        ]
        job = Job(id=job_id, kind="download", status=JobStatus.PENDING, created_at=now,
                  correlation_id=correlation_id, result=batch_result(items, None))

        def work(session: Session) -> list[Download]:
            JobRepository(session).add(job)
            return DownloadRepository(session).add_all(items)

        saved = self._db.run(work)
        self._runner.submit(DOWNLOAD_JOB, job_id, correlation_id=correlation_id)
        log.info("download batch accepted", extra={"batch_id": job_id, "strategy": name, "videos": len(saved)})
        return job, saved

    def get(self, download_id: str) -> Download:
        found = self._db.run(lambda s: DownloadRepository(s).get(download_id))
        if found is None:
            raise NotFound("Download not found", details={"id": download_id})
        return found

    def search(self, *, batch_id: str | None = None, status: str | None = None, page: int = 1,
               page_size: int = 50) -> DownloadPage:
        wanted = DownloadStatus(status) if status else None
        items, total = self._db.run(lambda s: DownloadRepository(s).list(
            batch_id=batch_id, status=wanted, limit=page_size, offset=(page - 1) * page_size))
        return DownloadPage(items=items, total=total, page=page, page_size=page_size)

    def recover(self) -> list[str]:
        """Embedded start-up: resubmit batches a crash left unfinished; their videos still pending or running
        start again."""
        return self._resubmit(self._db.run(unfinished_batches))

    def sweep_idle(self, *, pending_grace: float = 30.0) -> list[str]:
        """Scale-out (the lease sweep): resubmit unfinished batches nobody runs (`services.downloads.batches`)."""
        found = self._db.run(lambda s: idle_batches(s, pending_grace=pending_grace,
                                                    stale_after=self._clock.stale_after))
        now = time.monotonic()
        resend_after = max(pending_grace, self._clock.stale_after)
        self._swept = {key: at for key, at in self._swept.items() if now - at < resend_after}
        found = [(batch_id, cid) for batch_id, cid in found if batch_id not in self._swept]
        for batch_id, _ in found:
            self._swept[batch_id] = now
            log.warning("download batch %s has no live runner; resubmitting", batch_id)
        return self._resubmit(found)

    def _resubmit(self, batches: list[tuple[str, str | None]]) -> list[str]:
        for batch_id, correlation_id in batches:
            self._runner.submit(DOWNLOAD_JOB, batch_id, correlation_id=correlation_id)
        return [batch_id for batch_id, _ in batches]

    # -- the job ---------------------------------------------------------------------------------

    async def run(self, job_id: str, correlation_id: str | None = None) -> None:
        """The `livevault.download` job: every pending video of the batch, NUM_PARALLEL_DOWNLOADS at a time."""
        del correlation_id
        todo = await self._db.run_async(lambda s: self._start(s, job_id))
        if todo is None:
            return
        directory = (self._settings.downloads_dir / job_id).resolve()
        batch = _Batch(job_id, directory, asyncio.Semaphore(self._settings.num_parallel_downloads))
        beat = asyncio.create_task(self._clock.heartbeat(self._db, job_id))
        try:
            await asyncio.gather(*(self._download(batch, item) for item in todo))
        finally:
            beat.cancel()
        await self._db.run_async(lambda s: self._finish_job(s, job_id))

    def _start(self, session: Session, job_id: str) -> list[Download] | None:
        """Claim the batch (None: it finished, or another process runs it) and list what is left to do."""
        if not self._clock.claim(session, job_id):
            job = JobRepository(session).get(job_id)
            if job is not None and job.status is JobStatus.STARTED:
                log.info("download batch %s runs in another process; job exits", job_id)
            return None
        downloads = DownloadRepository(session)
        todo: list[Download] = []
        for item in downloads.for_batch(job_id):
            if item.status is DownloadStatus.RUNNING:  # interrupted by a crash: start it over
                item = downloads.update(item.id, status=DownloadStatus.PENDING)
            if item.status is DownloadStatus.PENDING:
                todo.append(item)
        return todo

    async def _write(self, batch: _Batch, work: Callable[[Session], T]) -> T:
        """Batch writes go one at a time: each recomputes the job's progress from the rows."""
        async with batch.lock:
            return await self._db.run_async(work)

    async def _download(self, batch: _Batch, item: Download) -> None:
        async with batch.slots:
            await self._write(batch, lambda s: DownloadRepository(s).update(
                item.id, status=DownloadStatus.RUNNING, started_at=utcnow()))
            started = time.monotonic()
            try:
                fields = await self._fetch(batch, item)
            except Exception as exc:
                fields = _failure(exc)
            elapsed = time.monotonic() - started
            await self._write(batch, lambda s: self._finish_item(s, batch.job_id, item.id, fields))
        self._observe(batch, item, fields, elapsed)

    async def _fetch(self, batch: _Batch, item: Download) -> dict[str, Any]:
        strategy = self._strategies.get(item.strategy)
        if strategy is None:
            raise StrategyUnavailable(f"the {item.strategy} strategy is not configured here")
        video = await strategy.resolve(item.url)
        ext = _NOT_EXT.sub("", video.ext.lower())[:5] or "mp4"
        stem = batch.reserve(file_stem(video, item), ext)
        target = batch.directory / f"{stem}.{ext}"
        size, info = await self._save(video, batch.directory / f"{stem}.part", target)
        fields: dict[str, Any] = {
            "status": DownloadStatus.COMPLETED, "file_path": self._relative(target), "file_size": size,
            "title": video.title, "author": video.author, "duration": video.duration or info.duration or None,
            "video_info": dict(video.video_info), "execution_time": video.execution_time,
            "attempts": video.attempts, "ended_at": utcnow(),
        }
        if item.keyframes is not None:
            fields["keyframes"] = await self._keyframes(target, info)
        return fields

    async def _save(self, video: ResolvedVideo, part: Path, target: Path) -> tuple[int, MediaInfo]:
        """Stream into `part`, check it is media, then rename it to `target`; `part` never outlives a failure."""
        await asyncio.to_thread(part.parent.mkdir, parents=True, exist_ok=True)
        try:
            size = await self._stream(video, part)
            info = await asyncio.to_thread(probe, part)
            await asyncio.to_thread(part.replace, target)
        except BaseException:
            _discard(part)
            raise
        return size, info

    async def _stream(self, video: ResolvedVideo, part: Path) -> int:
        chunks = media_chunks(
            self._http, video, max_bytes=self._settings.download_max_bytes,
            allow_private=self._settings.allow_private_sources,
            connect_timeout=self._settings.http_timeout, read_timeout=self._settings.download_timeout,
        )
        size = 0
        fh = await asyncio.to_thread(lambda: part.open("wb"))
        try:
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    fh.write(chunk)
                    size += len(chunk)
        except OSError as exc:  # livevault's own errors are not OSErrors: this is the disk
            if exc.errno == errno.ENOSPC:
                raise DiskFull(f"no space left writing {part.name}") from exc
            raise DownloadFailed(f"cannot write {part.name}: {exc}") from exc
        finally:
            fh.close()
        return size

    async def _keyframes(self, video: Path, info: MediaInfo) -> dict[str, Any]:
        """JPEGs of the keyframes; a failure here is reported on the row but never fails the download."""
        directory = video.with_name(f"{video.stem}_keyframes")
        width = min(info.width or MAX_KEYFRAME_WIDTH, MAX_KEYFRAME_WIDTH)
        try:
            times, files, total = await asyncio.to_thread(extract_keyframes, video, directory, width=width)
        except Exception as exc:
            log.warning("keyframe extraction failed for %s", video.name, exc_info=True)
            return {"requested": True, "count": 0, "error": str(exc)[:300]}
        return {"requested": True, "count": len(files), "total": total, "times": [round(t, 3) for t in times],
                "files": [self._relative(f) for f in files]}

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self._settings.recordings_dir.resolve()))

    def _finish_item(self, session: Session, job_id: str, download_id: str, fields: dict[str, Any]) -> None:
        downloads, jobs = DownloadRepository(session), JobRepository(session)
        downloads.update(download_id, **fields)
        job = jobs.get(job_id)
        jobs.update(job_id, result=batch_result(downloads.for_batch(job_id), job.started_at if job else None))

    def _finish_job(self, session: Session, job_id: str) -> None:
        jobs = JobRepository(session)
        job = jobs.get(job_id)
        items = DownloadRepository(session).for_batch(job_id)
        now = utcnow()
        result = batch_result(items, job.started_at if job else None, ended_at=now)
        failed = [i for i in items if i.status is DownloadStatus.FAILED]
        if not failed:
            jobs.update(job_id, status=JobStatus.SUCCESS, result=result, ended_at=now)
            self._metrics.celery_tasks.labels(status="SUCCESS").inc()
            return
        codes = {i.error_code for i in failed}
        jobs.update(
            job_id, status=JobStatus.FAILURE, result=result, ended_at=now,
            error_code=codes.pop() if len(codes) == 1 else DownloadFailed.code,
            error_message=f"{len(failed)} of {len(items)} downloads failed",
        )
        self._metrics.celery_tasks.labels(status="FAILURE").inc()

    def _observe(self, batch: _Batch, item: Download, fields: dict[str, Any], elapsed: float) -> None:
        status = DownloadStatus(fields["status"]).value
        self._metrics.downloads.labels(strategy=item.strategy, status=status).inc()
        self._metrics.download_seconds.labels(strategy=item.strategy).observe(elapsed)
        if fields.get("attempts", 1) > 1:
            self._metrics.download_retries.labels(strategy=item.strategy).inc()
        level = logging.INFO if status == DownloadStatus.COMPLETED else logging.WARNING
        log.log(level, "download %s", status, extra={
            "download_id": item.id, "batch_id": batch.job_id, "strategy": item.strategy,
            "execution_time": fields.get("execution_time"), "error_code": fields.get("error_code"),
            "file_size": fields.get("file_size"), "attempts": fields.get("attempts"), "seconds": round(elapsed, 3),
        })


def _failure(exc: Exception) -> dict[str, Any]:
    """Row fields of a failed video; `attempts` and `execution_time` come from the strategy's error."""
    if isinstance(exc, LivevaultError):
        error: LivevaultError = exc
    else:
        log.exception("download crashed")
        error = InternalError(f"download crashed: {exc!r}")
    execution_time = error.details.get("execution_time")
    attempts = error.details.get("attempts")
    return {
        "status": DownloadStatus.FAILED, "error_code": error.code, "error_message": error.message,
        "execution_time": float(execution_time) if isinstance(execution_time, int | float) else None,
        "attempts": attempts if isinstance(attempts, int) else 1, "ended_at": utcnow(),
    }


def _discard(path: Path) -> None:
    """Remove a temporary file at once, even while the task is being cancelled."""
    path.unlink(missing_ok=True)


def file_stem(video: ResolvedVideo, item: Download) -> str:
    """`{video_id}` as the seed names files: the strategy's id, else the one in a `/video/<id>` URL, else ours."""
    match = _VIDEO_ID.search(urlsplit(item.url).path)
    raw = video.video_id or (match.group(1) if match else None) or item.id
    return _UNSAFE.sub("_", raw).strip("._-")[:100] or item.id


def extract_keyframes(video: Path, directory: Path, *, limit: int = MAX_KEYFRAMES,
                      width: int = MAX_KEYFRAME_WIDTH) -> tuple[list[float], list[Path], int]:
    """One JPEG per keyframe (thinned evenly to `limit`): (times written, files, keyframes in the video)."""
    times = keyframe_times(video)
    step = max(1.0, len(times) / limit)
    chosen = [times[int(i * step)] for i in range(min(limit, len(times)))]
    files = [make_thumbnail(video, directory / f"keyframe_{n:03d}.jpg", at=at, width=width)
             for n, at in enumerate(chosen, 1)]
    return chosen, files, len(times)
