"""Small asyncio waits used once per segment or reload, where `asyncio.wait` and a task per wait cost CPU
that shows with hundreds of streams in one process, and the process-wide reload tick."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livevault.capture.base import CaptureControl

__all__ = ["TICK", "on_tick", "pause", "wait_done", "wait_stop"]

TICK = 0.25  # the process-wide tick: HLS playlist reloads and progressive reads


def on_tick(delay: float, tick: float = TICK) -> float:
    """`delay`, lengthened by less than `tick` so that it ends on the process-wide tick.

    Captures that wait for their next playlist reload (or read) this way wake together: the event loop runs once for
    all the captures due at a tick instead of once for each. Measured with 100 HLS streams whose segments
    arrive at spread times, waking for one stream at a time (with cold caches every time) cost twice the CPU.
    A reload only ever comes later than asked, never sooner than RFC 8216 allows."""
    now = asyncio.get_running_loop().time()
    return math.ceil((now + delay) / tick) * tick - now


async def wait_stop(control: CaptureControl) -> None:
    """Returns when the capture must stop (a stop request or its duration ran out)."""
    while not await control.wait(3600.0):
        pass


async def wait_done(future: asyncio.Future[Any], timeout: float | None = None) -> None:
    """`asyncio.wait((future,), timeout=timeout)` for one future, without its set and type checks; the
    future is never cancelled."""
    if future.done():
        return
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = loop.call_later(timeout, wake) if timeout is not None else None
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        future.remove_done_callback(wake)


async def pause(control: CaptureControl, stopper: asyncio.Future[None] | None, seconds: float) -> bool:
    """`control.wait(seconds)` that waits on the run's one `wait_stop` task instead of starting a task per
    call; True when the capture must stop."""
    if stopper is None:
        return await control.wait(seconds)
    remaining = control.remaining()
    if remaining is not None:
        seconds = min(seconds, remaining)
    if seconds > 0 and not control.stop.is_set():
        await wait_done(stopper, seconds)
    return control.should_stop()
