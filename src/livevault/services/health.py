"""Readiness: what must answer before a replica takes traffic.

Always the database and the recordings disk (below LIVEVAULT_MIN_FREE_BYTES the replica is not ready: it
refuses new recordings; its `alert` flag follows LIVEVAULT_DISK_ALERT_PERCENT); Redis when rate limits and
caches are shared (REDIS_URL, or the celery runner's redis:// broker); the Celery broker when the runner is
`celery`. Probes run in threads, in parallel, each bounded by a timeout, so a hung dependency makes `/ready`
fail instead of hang.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from livevault.cache.base import SharedStateUnavailable
from livevault.cache.probes import broker_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.cache.redis_store import RedisStore
    from livevault.config import Settings
    from livevault.services.retention.disk import DiskStatus

PROBE_TIMEOUT = 3.0
BROKER_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, **self.details}
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    @property
    def reasons(self) -> list[str]:
        return [check.error or f"{name} failed" for name, check in self.checks.items() if not check.ok]


class Readiness:
    def __init__(
        self,
        settings: Settings,
        database_ok: Callable[[], bool],
        disk_status: Callable[[], DiskStatus],
        redis: RedisStore | None = None,
        *,
        timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self._settings = settings
        self._database_ok = database_ok
        self._disk_status = disk_status
        self._redis = redis
        self._timeout = timeout

    def probes(self) -> dict[str, Callable[[], Check]]:
        """The checks this process needs, by name (the keys of `checks` in `/ready`)."""
        probes: dict[str, Callable[[], Check]] = {"database": self._database, "disk": self._disk}
        if self._redis is not None:
            probes["redis"] = self._redis_check
        if self._settings.runner == "celery":
            probes["broker"] = self._broker
        return probes

    async def check(self) -> ReadinessReport:
        probes = self.probes()
        results = await asyncio.gather(*(self._bounded(name, probe) for name, probe in probes.items()))
        return ReadinessReport(dict(zip(probes, results, strict=True)))

    async def _bounded(self, name: str, probe: Callable[[], Check]) -> Check:
        try:
            return await asyncio.wait_for(asyncio.to_thread(probe), self._timeout)
        except TimeoutError:
            return Check(False, f"{name} did not answer within {self._timeout:g} s")

    def _database(self) -> Check:
        return Check(True) if self._database_ok() else Check(False, "database does not answer")

    def _disk(self) -> Check:
        """Not ready below LIVEVAULT_MIN_FREE_BYTES (new recordings are refused); `alert` from
        LIVEVAULT_DISK_ALERT_PERCENT is reported without failing the check."""
        try:
            status = self._disk_status()
        except OSError as exc:
            return Check(False, f"recordings directory unusable: {exc}")
        if status.low:
            return Check(False, f"only {status.free_bytes} bytes free on the recordings disk, below "
                                f"LIVEVAULT_MIN_FREE_BYTES ({status.min_free_bytes}): new recordings are refused "
                                "with DISK_FULL, running ones go on", status.as_dict())
        return Check(True, details=status.as_dict())

    def _redis_check(self) -> Check:
        assert self._redis is not None
        try:
            self._redis.ping()
        except SharedStateUnavailable as exc:
            return Check(False, f"redis does not answer: {exc}")
        return Check(True)

    def _broker(self) -> Check:
        error = broker_error(self._settings.celery_broker_url, timeout=BROKER_TIMEOUT)
        return Check(True) if error is None else Check(False, f"celery broker refuses a connection: {error}")
