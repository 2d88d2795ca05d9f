"""The local runner runs jobs with the caller's correlation id; the capture control stops on time."""

from __future__ import annotations

import asyncio

import pytest

from livevault.capture.base import CaptureControl
from livevault.observability import current_correlation_id
from livevault.runners.local import LocalRunner


async def test_local_runner_runs_named_jobs_with_their_correlation_id() -> None:
    runner = LocalRunner(max_concurrent=2)
    seen: list[tuple[str, str | None, int]] = []

    async def job(job_id: str, value: int, correlation_id: str | None = None) -> None:
        await asyncio.sleep(0.01)
        seen.append((job_id, current_correlation_id(), value))

    runner.register("demo", job)
    await runner.start()
    for n in range(3):
        runner.submit("demo", f"j{n}", value=n, correlation_id=f"c{n}")
    await runner.wait_idle(timeout=5)
    assert sorted(seen) == [("j0", "c0", 0), ("j1", "c1", 1), ("j2", "c2", 2)]
    with pytest.raises(KeyError):
        runner.submit("missing", "x")
    await runner.shutdown(1)


async def test_a_crashing_job_does_not_take_the_runner_down() -> None:
    runner = LocalRunner()

    async def bad(job_id: str) -> None:
        raise RuntimeError("boom")

    runner.register("bad", bad)
    await runner.start()
    runner.submit("bad", "b1")
    await runner.wait_idle(timeout=5)
    assert runner.running == 0


async def test_shutdown_cancels_jobs_that_do_not_finish() -> None:
    runner = LocalRunner()
    cancelled = asyncio.Event()

    async def forever(job_id: str) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner.register("forever", forever)
    await runner.start()
    runner.submit("forever", "f")
    await asyncio.sleep(0.01)
    await runner.shutdown(0.05)
    assert cancelled.is_set()


async def test_control_wait_wakes_on_stop_and_on_deadline() -> None:
    control = CaptureControl(max_duration=0.2)
    assert not control.should_stop()
    assert await control.wait(5) is True
    assert control.expired()
    other = CaptureControl()
    asyncio.get_running_loop().call_later(0.05, other.stop.set)
    assert await other.wait(5) is True
    assert other.remaining() is None
