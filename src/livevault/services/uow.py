"""One transaction per request or job step: commit on success, roll back on error."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


class Database:
    """Wraps the session factory so services can run short transactions, inline or in a thread."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T]) -> T:
        with self.transaction() as session:
            return work(session)

    async def run_async(self, work: Callable[[Session], T]) -> T:
        """Run a transaction in a worker thread so a busy database never blocks capture I/O."""
        return await asyncio.to_thread(self.run, work)
