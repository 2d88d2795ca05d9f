"""The JobRunner protocol: submit a named job with JSON-able arguments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

JobFunction = Callable[..., Awaitable[Any]]


class JobRunner(Protocol):
    def register(self, name: str, func: JobFunction) -> None:
        """Make `func` runnable under the stable job name `name`."""
        ...

    def submit(self, name: str, job_id: str, **kwargs: Any) -> None:
        """Run job `name` later; call only after the database commit that created the job.

        Raises:
            KeyError: no job of that name is registered.
        """
        ...

    async def start(self) -> None: ...

    async def shutdown(self, timeout: float) -> None: ...
