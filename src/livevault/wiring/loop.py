"""The event loop a process runs on (`LIVEVAULT_EVENT_LOOP`): uvloop where installed, else asyncio's."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from types import ModuleType

    from livevault.config import Settings


def _uvloop() -> ModuleType | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def event_loop_name(settings: Settings) -> str:
    """The event loop `LIVEVAULT_EVENT_LOOP` asks for and this install has: "uvloop" or "asyncio"."""
    if settings.event_loop == "asyncio":
        return "asyncio"
    if _uvloop() is None:
        if settings.event_loop == "uvloop":
            log.warning("LIVEVAULT_EVENT_LOOP=uvloop, but uvloop is not installed: using asyncio's loop")
        return "asyncio"
    return "uvloop"


def new_event_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """A new event loop of the configured kind (uvloop's costs less CPU per request and socket read)."""
    module = _uvloop() if event_loop_name(settings) == "uvloop" else None
    if module is None:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = module.new_event_loop()
    return loop


def run_async(settings: Settings, main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the configured event loop (the CLI's one-shot commands)."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(settings)) as runner:
        return runner.run(main)

