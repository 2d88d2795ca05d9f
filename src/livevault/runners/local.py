"""Embedded runner: jobs are asyncio tasks in the API process, bounded by a semaphore."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from livevault.observability import correlation_id_var

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livevault.runners.base import JobFunction

    CrashReport = Callable[[str, BaseException], Awaitable[object]]

log = logging.getLogger(__name__)


class LocalRunner:
    """A full twin of the Celery runner for one process; job state lives in the database, not here."""

    def __init__(self, *, max_concurrent: int = 500) -> None:
        self.on_crash: CrashReport | None = None  # (job_id, error): records the failure on the job
        self._jobs: dict[str, JobFunction] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._limit = asyncio.Semaphore(max_concurrent)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    def register(self, name: str, func: JobFunction) -> None:
        self._jobs[name] = func

    def submit(self, name: str, job_id: str, **kwargs: Any) -> None:
        func = self._jobs[name]
        if self._closing:
            log.warning("runner is shutting down; job %s not started", job_id)
            return
        loop = self._loop or asyncio.get_running_loop()
        coro = self._run(name, func, job_id, kwargs)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._track(job_id, loop.create_task(coro, name=f"job:{name}:{job_id}"))
        else:
            loop.call_soon_threadsafe(
                lambda: self._track(job_id, loop.create_task(coro, name=f"job:{name}:{job_id}"))
            )

    def _track(self, job_id: str, task: asyncio.Task[Any]) -> None:
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def _run(self, name: str, func: JobFunction, job_id: str, kwargs: dict[str, Any]) -> None:
        async with self._limit:
            token = correlation_id_var.set(kwargs.get("correlation_id"))
            try:
                await func(job_id=job_id, **kwargs)
            except asyncio.CancelledError:
                log.warning("job %s (%s) cancelled", job_id, name)
                raise
            except Exception as exc:
                log.exception("job %s (%s) crashed", job_id, name)
                await self._report(job_id, exc)
            finally:
                correlation_id_var.reset(token)

    async def _report(self, job_id: str, error: BaseException) -> None:
        if self.on_crash is None:
            return
        try:
            await self.on_crash(job_id, error)
        except Exception:
            log.exception("could not record the failure of job %s", job_id)

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = False

    async def wait_idle(self, timeout: float | None = None) -> None:
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def shutdown(self, timeout: float) -> None:
        """Wait up to `timeout` for jobs (which were asked to stop) to finish, then cancel the rest."""
        self._closing = True
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
