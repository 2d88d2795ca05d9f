"""A job that does not end on its own (it raises, it is retried, a worker cancels it at its hard limit)
never stays STARTED: the runners record RETRY or FAILURE on its row (`services.jobs.JobLedger`)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livevault.bootstrap import Container, build_container
from livevault.db.repositories import JobRepository
from livevault.domain.recording import Job, JobStatus
from livevault.errors import JobTimeLimitExceeded, NetworkTimeout
from livevault.services.jobs import JobLedger, error_fields
from livevault.services.recording.record import utcnow
from livevault.services.uow import Database
from livevault.worker.runtime import MAX_RETRIES, Limits, WorkerRuntime
from tests.conftest import make_settings


def add_job(db: Database, status: JobStatus = JobStatus.PENDING) -> str:
    job = Job(id=str(uuid.uuid4()), kind="test", status=status, created_at=utcnow())
    db.run(lambda s: JobRepository(s).add(job))
    return job.id


def job_row(db: Database, job_id: str) -> Job:
    found = db.run(lambda s: JobRepository(s).get(job_id))
    assert found is not None
    return found


async def mark_started(db: Database, job_id: str) -> None:
    await db.run_async(lambda s: JobRepository(s).update(job_id, status=JobStatus.STARTED, started_at=utcnow()))


@pytest.fixture
async def container(tmp_path: Path) -> Any:
    built = build_container(make_settings(tmp_path / "data"))
    await built.start(scheduler=False)
    yield built
    await built.close(5)


async def test_a_job_that_raises_in_the_local_runner_is_marked_failure(container: Container) -> None:
    db = container.db

    async def buggy(job_id: str) -> None:
        await mark_started(db, job_id)
        raise RuntimeError("boom")

    container.runner.register("test.buggy", buggy)
    job_id = add_job(db)
    container.runner.submit("test.buggy", job_id)
    await container.runner.wait_idle(timeout=10)

    row = job_row(db, job_id)
    assert row.status is JobStatus.FAILURE
    assert row.error_code == "INTERNAL_ERROR"
    assert row.error_message == "RuntimeError: boom"
    assert row.ended_at is not None


async def test_the_ledger_never_overwrites_an_outcome_the_job_wrote(container: Container) -> None:
    ledger = JobLedger(container.db)
    done = add_job(container.db, JobStatus.SUCCESS)
    assert (await ledger.crashed(done, RuntimeError("late"))) is not None
    assert job_row(container.db, done).status is JobStatus.SUCCESS
    assert job_row(container.db, done).error_code is None
    assert await ledger.crashed("no-such-job", RuntimeError("x")) is None


def test_error_fields_keep_a_livevault_code_and_bound_the_message() -> None:
    assert error_fields(NetworkTimeout("slow origin")) == ("NETWORK_TIMEOUT", "slow origin")
    code, message = error_fields(ValueError("x" * 5000))
    assert code == "INTERNAL_ERROR"
    assert len(message) == 1000
    assert error_fields(KeyError(), code="TIME_LIMIT_EXCEEDED")[0] == "TIME_LIMIT_EXCEEDED"


class Rescheduled(Exception):
    """What a Celery task's `retry()` would raise."""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[WorkerRuntime]:
    # The broker is never contacted: these jobs are run by the runtime directly, as a task thread would.
    settings = make_settings(tmp_path / "data", runner="celery", celery_broker_url="redis://127.0.0.1:9/0",
                             celery_result_backend="redis://127.0.0.1:9/0")
    rt = WorkerRuntime(settings)
    rt.start()
    yield rt
    rt.close(10)


def failing_job(rt: WorkerRuntime, name: str, error: Exception) -> str:
    """Register job `name`, which marks itself STARTED and raises `error`; returns a new job id for it."""
    db = rt.start().db

    async def fails(job_id: str) -> None:
        await mark_started(db, job_id)
        raise error

    runner: Any = rt.start().runner
    runner.register(name, fails)
    return add_job(db)


def test_a_retryable_error_shows_retry_until_the_job_runs_again(runtime: WorkerRuntime) -> None:
    db = runtime.start().db
    job_id = failing_job(runtime, "test.flaky", NetworkTimeout("origin did not answer"))
    asked: list[float] = []

    def retry(exc: Any, delay: float) -> BaseException:
        asked.append(delay)
        return Rescheduled(exc.code)

    with pytest.raises(Rescheduled):
        runtime.execute("test.flaky", job_id, {}, Limits(soft=30, hard=60), attempt=1, retry=retry)
    assert len(asked) == 1
    assert 8.0 <= asked[0] <= 12.0  # the second retry: 10 s +- 20 %
    row = job_row(db, job_id)
    assert row.status is JobStatus.RETRY
    assert row.error_code == "NETWORK_TIMEOUT"
    assert "retry 2 in" in (row.error_message or "")

    # The last allowed attempt fails for good.
    with pytest.raises(NetworkTimeout):
        runtime.execute("test.flaky", job_id, {}, Limits(soft=30, hard=60), attempt=MAX_RETRIES, retry=retry)
    assert len(asked) == 1
    row = job_row(db, job_id)
    assert row.status is JobStatus.FAILURE
    assert row.error_code == "NETWORK_TIMEOUT"


def test_a_job_cancelled_at_its_hard_limit_is_marked_failure(runtime: WorkerRuntime) -> None:
    db = runtime.start().db
    cancelled = threading.Event()

    async def stubborn(job_id: str) -> None:
        await mark_started(db, job_id)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner: Any = runtime.start().runner
    runner.register("test.stubborn", stubborn)
    job_id = add_job(db)
    soft: list[bool] = []

    with pytest.raises(JobTimeLimitExceeded):
        runtime.execute("test.stubborn", job_id, {}, Limits(soft=0.3, hard=0.8), attempt=0,
                        retry=lambda exc, delay: Rescheduled(), on_soft=lambda: soft.append(True))
    assert soft == [True], "the job was asked to stop at its soft limit first"
    assert cancelled.wait(5), "the coroutine was cancelled"
    row = job_row(db, job_id)
    assert row.status is JobStatus.FAILURE
    assert row.error_code == "TIME_LIMIT_EXCEEDED"


def test_a_bug_in_a_worker_job_is_marked_failure(runtime: WorkerRuntime) -> None:
    db = runtime.start().db
    job_id = failing_job(runtime, "test.buggy", ZeroDivisionError("division by zero"))
    with pytest.raises(ZeroDivisionError):
        runtime.execute("test.buggy", job_id, {}, Limits(soft=30, hard=60), attempt=0,
                        retry=lambda exc, delay: Rescheduled())
    row = job_row(db, job_id)
    assert row.status is JobStatus.FAILURE
    assert row.error_code == "INTERNAL_ERROR"
    assert row.error_message == "ZeroDivisionError: division by zero"
