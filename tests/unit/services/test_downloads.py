"""DownloadService against the fake resolver: files, metadata, size caps, temp files, strategies, keyframes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from sqlalchemy.orm import Session

from livevault.bootstrap import download_strategies
from livevault.config import Settings
from livevault.db.repositories import DownloadRepository, JobRepository
from livevault.db.session import create_engine_for, make_session_factory
from livevault.domain.recording import Job, JobStatus
from livevault.errors import InvalidInput, InvalidUrl, StrategyUnavailable
from livevault.observability import Metrics
from livevault.runners.local import LocalRunner
from livevault.services.downloads.videos import DOWNLOAD_JOB, Download, DownloadService
from livevault.services.recording.record import utcnow
from livevault.services.uow import Database
from tests.conftest import make_settings
from tests.fakes.resolver import CLIP_FPS, CLIP_SECONDS, FakeResolver, sample_mp4, video_url


@dataclass
class Harness:
    service: DownloadService
    runner: LocalRunner
    db: Database
    metrics: Metrics
    settings: Settings

    async def batch(self, urls: list[str], **options: Any) -> tuple[Job, list[Download]]:
        """Run one batch to the end; the job and its rows as stored."""
        job, _ = self.service.create_batch(urls, **options)
        await self.runner.wait_idle(timeout=60)

        def read(session: Session) -> tuple[Job, list[Download]]:
            stored = JobRepository(session).get(job.id)
            assert stored is not None
            return stored, DownloadRepository(session).for_batch(job.id)

        return self.db.run(read)

    def path(self, item: Download) -> Path:
        assert item.file_path, item
        return self.settings.recordings_dir / item.file_path


@contextlib.asynccontextmanager
async def running(settings: Settings, database_url: str) -> AsyncIterator[Harness]:
    engine = create_engine_for(database_url)
    db, runner, metrics = Database(make_session_factory(engine)), LocalRunner(), Metrics()
    try:
        async with aiohttp.ClientSession() as http:
            service = DownloadService(settings, db, runner, metrics, http, download_strategies(settings, http))
            runner.register(DOWNLOAD_JOB, service.run)
            await runner.start()
            try:
                yield Harness(service, runner, db, metrics, settings)
            finally:
                await runner.shutdown(5)
    finally:
        engine.dispose()


@pytest.fixture
def fake() -> Iterator[FakeResolver]:
    with FakeResolver() as server:
        yield server


def settings_for(tmp_path: Path, fake: FakeResolver, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"download_resolver_url": fake.base_url, "download_strategy": "scrapling-api"}
    return make_settings(tmp_path / "data", **{**values, **overrides})


@pytest.fixture
async def harness(tmp_path: Path, fake: FakeResolver, sqlite_database_url: str) -> AsyncIterator[Harness]:
    async with running(settings_for(tmp_path, fake), sqlite_database_url) as built:
        yield built


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*")) if directory.exists() else []


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


async def test_a_batch_stores_playable_files_with_title_author_and_duration(
    tmp_path: Path, fake: FakeResolver, database_url: str
) -> None:
    async with running(settings_for(tmp_path, fake), database_url) as harness:
        job, items = await harness.batch([video_url("7001"), video_url("7002")])
    assert job.kind == "download"
    assert job.status is JobStatus.SUCCESS
    assert [i.status.value for i in items] == ["completed", "completed"]
    first = items[0]
    assert first.file_path == f"downloads/{job.id}/7001.mp4"
    assert harness.path(first).read_bytes() == sample_mp4()
    assert frame_count(harness.path(first)) == CLIP_SECONDS * CLIP_FPS
    assert (first.title, first.author, first.duration) == ("Fake video 7001", "fakeuser", CLIP_SECONDS)
    assert first.file_size == len(sample_mp4())
    assert first.execution_time is not None
    assert first.attempts == 1
    assert first.video_info is not None
    assert first.video_info["id"] == "7001"
    assert job.result is not None
    assert job.result["files"] == [i.file_path for i in items]
    assert (job.result["returncode"], job.result["total"], job.result["completed"]) == (0, 2, 2)
    assert not [name for name in leftovers(harness.settings.downloads_dir) if name.endswith(".part")]


async def test_duration_is_probed_when_the_resolver_gives_none(harness: Harness) -> None:
    _, [item] = await harness.batch([video_url("7003", "bare")])
    assert item.status.value == "completed"
    assert item.title is None
    assert item.duration == pytest.approx(CLIP_SECONDS, abs=0.05)


async def test_an_announced_size_over_the_cap_fails_before_fetching(
    tmp_path: Path, fake: FakeResolver, sqlite_database_url: str
) -> None:
    async with running(settings_for(tmp_path, fake), sqlite_database_url) as h:
        job, [item] = await h.batch([video_url("7004", "too_big")])
    assert (item.status.value, item.error_code) == ("failed", "DOWNLOAD_TOO_LARGE")
    assert fake.media_paths == []
    assert job.status is JobStatus.FAILURE
    assert job.error_code == "DOWNLOAD_TOO_LARGE"


@pytest.mark.parametrize("scenario", ["unsized", "chunked"])
async def test_a_body_over_the_cap_is_cut_off_and_its_temp_file_removed(
    tmp_path: Path, fake: FakeResolver, sqlite_database_url: str, scenario: str
) -> None:
    # Given a cap below the clip, and no file_size from the resolver: the media server announces the size
    # (Content-Length) or streams it chunked
    settings = settings_for(tmp_path, fake, download_max_bytes=len(sample_mp4()) // 2)
    async with running(settings, sqlite_database_url) as h:
        job, [item] = await h.batch([video_url("7005", scenario)])
    assert (item.status.value, item.error_code) == ("failed", "DOWNLOAD_TOO_LARGE")
    assert item.file_path is None
    assert len(fake.media_paths) == 1
    assert leftovers(settings.downloads_dir / job.id) == []


@pytest.mark.parametrize(
    ("scenario", "code"), [("not_media", "VERIFY_FAILED"), ("missing_media", "DOWNLOAD_FAILED")]
)
async def test_a_download_that_is_not_a_video_fails_and_leaves_nothing(
    harness: Harness, scenario: str, code: str
) -> None:
    job, [item] = await harness.batch([video_url("7006", scenario)])
    assert (item.status.value, item.error_code) == ("failed", code)
    assert leftovers(harness.settings.downloads_dir / job.id) == []


async def test_redirects_of_the_media_url_are_followed(harness: Harness, fake: FakeResolver) -> None:
    _, [item] = await harness.batch([video_url("7007", "redirect")])
    assert item.status.value == "completed"
    assert fake.media_paths == ["/media/7007.mp4"]


async def test_a_private_download_url_is_refused_when_private_sources_are_not_allowed(
    tmp_path: Path, fake: FakeResolver, sqlite_database_url: str
) -> None:
    settings = settings_for(tmp_path, fake, allow_private_sources=False)
    async with running(settings, sqlite_database_url) as h:
        # The user URL is public; the resolver's download_url points at 127.0.0.1.
        _, [item] = await h.batch(["http://93.184.216.34/@someone/video/7008?scenario=ok"])
        with pytest.raises(InvalidUrl) as caught:
            h.service.create_batch(["http://127.0.0.1/video/1", "http://10.0.0.1/video/2"])
    assert (item.status.value, item.error_code) == ("failed", "ADDRESS_NOT_ALLOWED")
    assert fake.media_paths == []
    assert caught.value.details["index"] == 0


async def test_the_request_strategy_overrides_the_configured_one(harness: Harness, fake: FakeResolver) -> None:
    url = f"{fake.base_url}/media/override.mp4"
    job, [item] = await harness.batch([url], strategy="yt-dlp")
    assert (item.strategy, item.status.value) == ("yt-dlp", "completed")
    assert item.file_path == f"downloads/{job.id}/override.mp4"
    assert item.duration == pytest.approx(CLIP_SECONDS, abs=0.05)
    assert fake.requests == []  # no resolver call, and no fallback to it
    assert harness.service.strategy_for("http-api") == "scrapling-api"
    assert harness.service.strategy_for(None) == "scrapling-api"


async def test_scrapling_api_is_unavailable_without_a_resolver_url(
    tmp_path: Path, fake: FakeResolver, sqlite_database_url: str
) -> None:
    settings = settings_for(tmp_path, fake, download_resolver_url="")
    async with running(settings, sqlite_database_url) as h:
        assert h.service.strategy_for("yt-dlp") == "yt-dlp"
        with pytest.raises(StrategyUnavailable, match="LIVEVAULT_DOWNLOAD_RESOLVER_URL"):
            h.service.create_batch([video_url("7009")])
        with pytest.raises(InvalidInput):
            h.service.create_batch([])


async def test_keyframes_are_written_as_jpegs_when_asked(harness: Harness) -> None:
    job, [item] = await harness.batch([video_url("7010")], keyframes=True)
    assert item.keyframes is not None
    assert item.keyframes["count"] == CLIP_SECONDS  # one keyframe a second
    assert item.keyframes["times"] == [0.0, 1.0]
    for relative in item.keyframes["files"]:
        jpeg = harness.settings.recordings_dir / relative
        assert jpeg.read_bytes()[:2] == b"\xff\xd8"
    assert job.result is not None
    assert job.result["downloads"][0]["keyframes"] == CLIP_SECONDS
    _, [plain] = await harness.batch([video_url("7011")])
    assert plain.keyframes is None


async def test_the_same_video_twice_gets_two_files(harness: Harness) -> None:
    _, items = await harness.batch([video_url("7012"), video_url("7012")])
    assert sorted(Path(i.file_path or "").name for i in items) == ["7012-2.mp4", "7012.mp4"]


async def test_metrics_count_downloads_and_retries_per_strategy(harness: Harness) -> None:
    await harness.batch([video_url("7013", "navigation_failed"), video_url("7014", "invalid_url")])
    sample = harness.metrics.registry.get_sample_value
    assert sample("livevault_downloads_total", {"strategy": "scrapling-api", "status": "completed"}) == 1
    assert sample("livevault_downloads_total", {"strategy": "scrapling-api", "status": "failed"}) == 1
    assert sample("livevault_download_retries_total", {"strategy": "scrapling-api"}) == 1
    assert sample("livevault_download_seconds_count", {"strategy": "scrapling-api"}) == 2


async def test_a_batch_left_unfinished_by_a_crash_is_resumed(
    tmp_path: Path, fake: FakeResolver, sqlite_database_url: str
) -> None:
    settings = settings_for(tmp_path, fake)
    async with running(settings, sqlite_database_url) as crashed:
        crashed.runner.register(DOWNLOAD_JOB, _never_runs)  # the process dies before the job starts
        job, _ = crashed.service.create_batch([video_url("7015"), video_url("7016")])
    async with running(settings, sqlite_database_url) as restarted:
        assert restarted.service.recover() == [job.id]
        await restarted.runner.wait_idle(timeout=60)
        page = restarted.service.search(batch_id=job.id)
        assert [i.status.value for i in page.items] == ["completed", "completed"]
        assert restarted.service.recover() == []


async def _never_runs(job_id: str, correlation_id: str | None = None) -> None:
    del job_id, correlation_id


def test_the_repository_pages_and_filters_on_both_dialects(db_session: Session) -> None:
    from datetime import UTC, datetime

    from livevault.db.repositories.downloads import DownloadStatus

    now = datetime(2024, 1, 1, tzinfo=UTC)
    repo = DownloadRepository(db_session)
    repo.add_all([
        Download(id=f"d{n}", batch_id="b1" if n < 3 else "b2", position=n, url=f"https://x/{n}", strategy="yt-dlp",
                 status=DownloadStatus.PENDING, created_at=now)
        for n in range(5)
    ])
    repo.update("d1", status=DownloadStatus.COMPLETED, file_size=5, keyframes={"count": 1})
    items, total = repo.list(batch_id="b1", limit=2)
    assert total == 3
    assert [i.id for i in items] == ["d0", "d1"]
    assert repo.list(status=DownloadStatus.COMPLETED)[1] == 1
    assert repo.unfinished_batches() == ["b1", "b2"]
    got = repo.get("d1")
    assert got is not None
    assert got.keyframes == {"count": 1}
    with pytest.raises(ValueError, match="cannot update"):
        repo.update("d1", url="https://elsewhere")


async def test_a_batch_whose_job_was_lost_is_swept_and_runs_once(
    tmp_path: Path, fake: FakeResolver, database_url: str
) -> None:
    settings = settings_for(tmp_path, fake, lease_ttl=2.0)
    async with running(settings, database_url) as harness:
        harness.runner.register(DOWNLOAD_JOB, _never_runs)  # the queued message is lost
        job, _ = harness.service.create_batch([video_url("7101")])
        assert harness.service.sweep_idle(pending_grace=60.0) == [], "not overdue yet"
        await asyncio.sleep(1.2)
        harness.runner.register(DOWNLOAD_JOB, harness.service.run)
        assert harness.service.sweep_idle(pending_grace=1.0) == [job.id]
        assert harness.service.sweep_idle(pending_grace=1.0) == [], "sent once: it is queued or running"
        await harness.runner.wait_idle(timeout=60)
        page = harness.service.search(batch_id=job.id)
        assert [i.status.value for i in page.items] == ["completed"]
    assert len(fake.requests_for("7101")) == 1


async def test_a_running_batch_is_claimed_once_and_kept_alive_by_its_heartbeat(
    tmp_path: Path, fake: FakeResolver, database_url: str
) -> None:
    settings = settings_for(tmp_path, fake, lease_ttl=2.0)  # heartbeat every 0.67 s, silent after 6 s
    async with running(settings, database_url) as harness:
        job, _ = harness.service.create_batch([video_url("7102", delay=7.5)])
        await asyncio.sleep(1.0)
        # A second copy of the job (a redelivered message, a sweep) exits at once: the batch is claimed.
        await asyncio.wait_for(harness.service.run(job.id), timeout=5)
        await asyncio.sleep(6.5)  # longer than the silence that marks a batch abandoned
        assert harness.service.sweep_idle(pending_grace=1.0) == [], "the heartbeat says it runs"
        await harness.runner.wait_idle(timeout=60)
        stored = harness.db.run(lambda s: JobRepository(s).get(job.id))
    assert stored is not None
    assert stored.status is JobStatus.SUCCESS
    assert stored.attempts == 1
    assert len(fake.requests_for("7102")) == 1


async def test_a_batch_whose_runner_died_is_taken_over(
    tmp_path: Path, fake: FakeResolver, database_url: str
) -> None:
    settings = settings_for(tmp_path, fake, lease_ttl=2.0)
    async with running(settings, database_url) as harness:
        harness.runner.register(DOWNLOAD_JOB, _never_runs)
        job, _ = harness.service.create_batch([video_url("7103")])
        long_ago = utcnow() - timedelta(minutes=5)
        # A worker claimed it five minutes ago and died: no heartbeat since.
        assert harness.db.run(lambda s: JobRepository(s).claim(job.id, long_ago, long_ago))
        harness.runner.register(DOWNLOAD_JOB, harness.service.run)
        assert harness.service.sweep_idle(pending_grace=60.0) == [job.id]
        await harness.runner.wait_idle(timeout=60)
        stored = harness.db.run(lambda s: JobRepository(s).get(job.id))
    assert stored is not None
    assert stored.status is JobStatus.SUCCESS
    assert stored.attempts == 2
