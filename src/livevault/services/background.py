"""A background pass that repeats in this process: run it, then sleep until it is due again, until woken
(`poke`, from any thread), or until stopped. The watcher scheduler and the notification dispatcher are two."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class RepeatingPass:
    """`run_pass()` returns True to go again at once (more work is waiting), False to sleep `sleep_for()`
    seconds first. A pass that raises is logged and counts as False: the loop outlives a bad pass."""

    def __init__(self, name: str, run_pass: Callable[[], Awaitable[bool]],
                 sleep_for: Callable[[], Awaitable[float]], *, stop_timeout: float) -> None:
        self._name = name
        self._run_pass = run_pass
        self._sleep_for = sleep_for
        self._stop_timeout = stop_timeout
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop_ref: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        if self._task is None:
            self._closing.clear()
            self._loop_ref = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._loop(), name=self._name)

    def poke(self) -> None:
        """Work arrived: run the next pass now instead of after the sleep. Safe to call from any thread."""
        loop = self._loop_ref
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self._stop_timeout)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while not self._closing.is_set():
            try:
                again = await self._run_pass()
            except Exception:
                log.exception("%s: a pass failed", self._name)
                again = False
            if again or self._closing.is_set():
                continue
            sleep = await self._sleep_for()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=sleep)
            except TimeoutError:
                pass
