"""One asyncio event loop per worker process, in a background thread, holding the process's Container.

Celery runs each task in a pool thread; the task hands its job's coroutine to this loop and waits for it. So
all recordings of a process share one loop, one HTTP session, one progress writer and one lease keeper, just
as in `livevault serve`, and a process holds as many recordings as it has task threads.

Every worker process also runs the lease sweep (`sweep()`, every SWEEP_EVERY seconds with jitter, in a thread of
its own): a recording whose worker died is resubmitted by any surviving worker, whether or not `livevault
scheduler` runs. The sweep is idempotent: a duplicate submission is joined or refused by the lease.

The same job id delivered twice to one process (the broker re-delivers unacknowledged messages after a lost
connection, or the lease sweep resubmits) joins the job already running instead of starting a second one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from livevault.bootstrap import build_container, new_event_loop
from livevault.errors import JobTimeLimitExceeded, LivevaultError
from livevault.observability import correlation_id_var

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from concurrent.futures import Future

    from livevault.bootstrap import Container
    from livevault.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

START_TIMEOUT = 120.0
POLL_INTERVAL = 1.0
MAX_RETRIES = 5
RETRY_BASE = 5.0  # seconds: 5, 10, 20, 40, 80 (± 20 %)
RETRY_CAP = 600.0
SWEEP_EVERY = 2.0  # seconds between lease sweeps of one worker process (± 25 %)


def backoff(retries: int, rng: random.Random | None = None) -> float:
    """Seconds before retry number `retries + 1`: exponential, capped, with ±20 % jitter."""
    delay = min(RETRY_CAP, RETRY_BASE * 2.0**retries)
    # bandit B311: pseudo-random is fine here (retry jitter)
    jitter = rng.uniform(0.8, 1.2) if rng is not None else random.uniform(0.8, 1.2)  # nosec B311
    return delay * jitter


@runtime_checkable
class _JobRegistry(Protocol):
    def job(self, name: str) -> Callable[..., Awaitable[Any]]: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Soft limit: ask the job to stop gracefully (`on_soft`); hard limit: cancel it."""

    soft: float
    hard: float


class WorkerRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()  # re-entered when a finished job's done-callback runs at once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._container: Container | None = None
        self._inflight: dict[str, Future[Any]] = {}
        self._tick_lock = threading.Lock()
        self._sweep_lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        self._sweeping = threading.Event()
        self.closing = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Container:
        """Start the loop and build the Container inside it (once per process; later calls return it)."""
        with self._lock:
            if self._container is not None:
                return self._container
            loop = new_event_loop(self.settings)
            thread = threading.Thread(target=self._serve, args=(loop,), name="livevault-loop", daemon=True)
            thread.start()
            try:
                container = asyncio.run_coroutine_threadsafe(self._build(), loop).result(START_TIMEOUT)
            except BaseException:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(5)
                raise
            self._loop, self._thread, self._container = loop, thread, container
            log.info("worker runtime ready (runner %s)", self.settings.runner)
            return container

    def start_sweeper(self, every: float = SWEEP_EVERY) -> None:
        """Run `sweep()` every `every` seconds (± 25 %) in a daemon thread until `close()`."""
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeping.set()
            self._sweeper = threading.Thread(target=self._sweep_forever, args=(every,), name="livevault-sweep",
                                             daemon=True)
            self._sweeper.start()

    def _sweep_forever(self, every: float) -> None:
        while self._sweeping.is_set() and not self.closing:
            # bandit B311: pseudo-random is fine here (jitter, not a secret)
            time.sleep(every * random.uniform(0.75, 1.25))  # nosec B311
            if not self._sweeping.is_set() or self.closing or self._container is None:
                continue
            try:
                self.sweep()
            except Exception:
                log.exception("lease sweep failed; trying again in %.0f s", every)

    def sweep(self) -> int | None:
        """One lease sweep (`RecordingService.sweep_lapsed`, `DownloadService.sweep_idle`): resubmit what nobody
        works on; how many, or None when this process is already sweeping."""
        if not self._sweep_lock.acquire(blocking=False):
            return None
        try:
            container = self.start()
            return len(container.recordings.sweep_lapsed()) + len(container.downloads.sweep_idle())
        finally:
            self._sweep_lock.release()

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _build(self) -> Container:
        container = build_container(self.settings)
        await container.start(scheduler=False)  # watcher passes run as `livevault.watchers.tick` tasks
        return container

    @property
    def started(self) -> bool:
        return self._container is not None

    def stop_captures(self) -> int:
        """Warm shutdown: ask every capture of this process to stop; each finalizes what it captured."""
        self.closing = True
        container, loop = self._container, self._loop
        if container is None or loop is None:
            return 0
        controls = list(container.active.controls.values())
        for control in controls:
            loop.call_soon_threadsafe(control.stop.set)
        if controls:
            log.info("worker shutting down: stopping %d captures", len(controls))
        return len(controls)

    def close(self, timeout: float = 60.0) -> None:
        """Release the Container (captures still running are stopped first) and end the loop thread."""
        with self._lock:
            container, loop, thread = self._container, self._loop, self._thread
            self._container = self._loop = self._thread = None
        self.closing = True
        self._sweeping.clear()
        if container is None or loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(container.close(timeout), loop).result(timeout + 30)
        except Exception:
            log.exception("closing the worker container failed")
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    # -- running coroutines ----------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        self.start()
        assert self._loop is not None
        return self._loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` in the loop and wait for its result (from a task thread, never from the loop)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._running_loop())
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def job_function(self, name: str) -> Callable[..., Awaitable[Any]]:
        """The job function registered under `name`: the very function the local runner would call."""
        runner = self.start().runner
        if not isinstance(runner, _JobRegistry):
            raise RuntimeError("a worker's container must use the Celery runner (LIVEVAULT_RUNNER=celery)")
        return runner.job(name)

    def run_job(
        self,
        name: str,
        job_id: str,
        kwargs: dict[str, Any],
        limits: Limits,
        *,
        on_soft: Callable[[], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Run job `name` in the loop and wait for it, enforcing its limits.

        `should_stop` is polled every second (a revoke); when it turns true, or at the soft limit, `on_soft`
        asks the job to stop gracefully. At the hard limit the job is cancelled.

        Raises:
            JobTimeLimitExceeded: the job outlived its hard limit.
        """
        func = self.job_function(name)
        loop = self._running_loop()
        with self._lock:
            future = self._inflight.get(job_id)
            joined = future is not None
            if future is None:
                future = asyncio.run_coroutine_threadsafe(
                    _with_correlation(kwargs.get("correlation_id"), func(job_id=job_id, **kwargs)), loop
                )
                self._inflight[job_id] = future
                future.add_done_callback(lambda _f: self._forget(job_id, _f))
        if joined:
            log.warning("job %s (%s) is already running in this worker; waiting for it", job_id, name)
        self._wait(name, job_id, future, limits, on_soft, should_stop)

    def execute(
        self,
        name: str,
        job_id: str,
        kwargs: dict[str, Any],
        limits: Limits,
        *,
        attempt: int,
        retry: Callable[[LivevaultError, float], BaseException],
        on_soft: Callable[[], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """`run_job`, and what the job's row must say when the job does not end on its own: RETRY before a
        retryable error is retried (`retry(error, delay)` returns the exception that reschedules the job;
        `attempt` is how many retries came before), FAILURE when it raises anything else or is cancelled at
        its hard limit."""
        jobs = self.start().jobs
        try:
            self.run_job(name, job_id, kwargs, limits, on_soft=on_soft, should_stop=should_stop)
        except LivevaultError as exc:
            if exc.retryable and attempt < MAX_RETRIES:
                delay = backoff(attempt)
                log.warning("job %s (%s) failed with %s; retry %d of %d in %.0f s", job_id, name, exc.code,
                            attempt + 1, MAX_RETRIES, delay)
                self.report(jobs.retrying(job_id, exc, delay=delay, attempt=attempt + 1))
                raise retry(exc, delay) from exc
            self.report(jobs.crashed(job_id, exc))
            raise
        except Exception as exc:  # a bug in the job function: its row must not stay STARTED
            self.report(jobs.crashed(job_id, exc))
            raise

    def _forget(self, job_id: str, future: Future[Any]) -> None:
        with self._lock:
            if self._inflight.get(job_id) is future:
                del self._inflight[job_id]

    def _wait(
        self,
        name: str,
        job_id: str,
        future: Future[Any],
        limits: Limits,
        on_soft: Callable[[], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        started = time.monotonic()
        asked = False
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= limits.hard:
                future.cancel()
                raise JobTimeLimitExceeded(f"job {job_id} ({name}) cancelled at its hard limit ({limits.hard:.0f} s)")
            soft_due = elapsed >= limits.soft
            if not asked and (soft_due or (should_stop is not None and should_stop())):
                asked = True
                reason = "its soft time limit" if soft_due else "a revoke"
                log.warning("job %s (%s): stopping gracefully after %s", job_id, name, reason)
                if on_soft is not None:
                    on_soft()
            wait = min(POLL_INTERVAL, max(0.01, (limits.soft if not asked else limits.hard) - elapsed))
            try:
                future.result(wait)
                return
            except TimeoutError:
                continue

    def report(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> None:
        """Run a job-state write (`JobLedger`) in the loop; a failure to write is logged, never raised."""
        try:
            self.call(coro, timeout)
        except Exception:
            log.exception("could not record a job's state")

    def stop_recording(self, recording_id: str) -> None:
        """Signal one capture of this process to stop (thread-safe)."""
        container, loop = self._container, self._loop
        if container is not None and loop is not None:
            loop.call_soon_threadsafe(container.active.signal_stop, recording_id)

    def tick(self, timeout: float) -> int | None:
        """One watcher pass (`WatchScheduler.run_once`); None when this process is already running one.

        Passes in different processes may overlap (their claims never take the same watcher); passes of one
        process do not, since the scheduler keeps per-pass state.
        """
        if not self._tick_lock.acquire(blocking=False):
            return None
        try:
            container = self.start()
            return self.call(container.scheduler.run_once(), timeout)
        finally:
            self._tick_lock.release()


async def _with_correlation(correlation_id: str | None, coro: Awaitable[T]) -> T:
    token = correlation_id_var.set(correlation_id)
    try:
        return await coro
    finally:
        correlation_id_var.reset(token)


_runtime: WorkerRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime(settings: Settings) -> WorkerRuntime:
    """The process's runtime (created on first use; started by `start()` or the first task).

    A worker always sends the jobs it creates (a watcher's recording, a lease takeover) through Celery, so
    that they spread over all workers, whatever LIVEVAULT_RUNNER says.
    """
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            if settings.runner != "celery":
                settings = settings.model_copy(update={"runner": "celery"})
            _runtime = WorkerRuntime(settings)
        return _runtime
