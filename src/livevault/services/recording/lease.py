"""Recording leases: exactly one process records a recording; another takes over when it dies.

A record job claims the recording's lease in the database (owner id, fencing token, expiry; one atomic
UPDATE) before it writes anything. The `LeaseKeeper` of each process renews all the leases it holds in
one transaction every `ttl / 3` seconds. A lease that lapses (its process died or hung) is claimed by the
next record job for that recording (`RecordingService.sweep_lapsed` submits one), which continues the SAME
recording as a new part in the shared spool.

Fencing: a holder must not write once its lease may have been taken. Every spool write calls
`Lease.check()`, which refuses (raises `LeaseLost`) when the last successful renewal is older than
`ttl - margin` by this process's monotonic clock, or when a renewal found the token changed. A process
that was paused (SIGSTOP, a long GC, a frozen VM) past its lease therefore writes nothing when it wakes,
before it has even talked to the database; then its renewal fails and it leaves the recording alone
(no finalize, no counters).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import RecordingRepository
from livevault.errors import LeaseLost
from livevault.services.recording.record import utcnow

if TYPE_CHECKING:
    from livevault.capture.base import CaptureControl
    from livevault.services.uow import Database

log = logging.getLogger(__name__)


def new_owner_id() -> str:
    """host:pid:random — unique per process start, so a restarted process is a new owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Lease:
    recording_id: str
    token: int
    ttl: float
    margin: float
    valid_until: float
    lost: bool = False
    control: CaptureControl | None = None
    _warned: bool = field(default=False, repr=False)

    def check(self) -> None:
        """Called before every spool write; raises LeaseLost when writing could race a new owner."""
        if self.lost or time.monotonic() > self.valid_until:
            if not self.lost:
                self.lost = True
                log.warning("lease of recording %s lapsed locally; writing stopped", self.recording_id)
            if self.control is not None:
                self.control.stop.set()
            raise LeaseLost("this process lost the recording's lease; another worker continues it",
                            details={"recording_id": self.recording_id, "token": self.token})


class LeaseKeeper:
    """Claims, renews and releases the leases this process holds."""

    def __init__(self, db: Database, *, ttl: float, owner: str | None = None) -> None:
        self._db = db
        self.ttl = ttl
        self.margin = max(0.5, ttl / 6)
        self.owner = owner or new_owner_id()
        self._held: dict[str, Lease] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> dict[str, Lease]:
        return dict(self._held)

    def claim_in(self, session: Any, recording_id: str) -> Lease | None:
        """Claim inside the caller's transaction (the record job's start); None when another owner holds it."""
        started = time.monotonic()
        now = utcnow()
        token = RecordingRepository(session).claim_lease(recording_id, self.owner, now + timedelta(seconds=self.ttl),
                                                         now)
        if token is None:
            return None
        return Lease(recording_id, token, self.ttl, self.margin, started + self.ttl - self.margin)

    def hold(self, lease: Lease, control: CaptureControl | None = None) -> None:
        lease.control = control
        self._held[lease.recording_id] = lease
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="lease-keeper")

    async def release(self, lease: Lease) -> None:
        self._held.pop(lease.recording_id, None)
        if lease.lost:
            return
        await self._db.run_async(
            lambda s: RecordingRepository(s).release_lease(lease.recording_id, self.owner, lease.token)
        )

    async def renew(self) -> None:
        leases = list(self._held.values())
        if not leases:
            return
        started = time.monotonic()
        expires = utcnow() + timedelta(seconds=self.ttl)
        tokens = {lease.recording_id: lease.token for lease in leases if not lease.lost}
        held = await self._db.run_async(lambda s: RecordingRepository(s).renew_leases(self.owner, tokens, expires))
        for lease in leases:
            if self._held.get(lease.recording_id) is not lease:
                continue  # released while the renewal ran (its owner column was cleared on purpose)
            if lease.recording_id in held:
                lease.valid_until = started + self.ttl - self.margin
            elif not lease.lost:
                lease.lost = True
                log.warning("lease of recording %s was taken over; this process stops writing it",
                            lease.recording_id)
                if lease.control is not None:
                    lease.control.stop.set()

    async def _loop(self) -> None:
        while self._held:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.renew()
            except Exception:  # a database hiccup: the local deadline fences writes meanwhile
                log.exception("renewing leases failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
