"""Send queued notifications: signed, in order per recording and target, retried with backoff.

Every process that runs jobs runs a dispatcher. Each delivery is claimed with a conditional UPDATE before it
is sent, so two processes never send the same one; a claim that outlives a dead process simply expires. Only
the first pending delivery of each (recording or watcher, target) is ever due, so a receiver sees a
recording's events in the order they happened, each event once (by its id; a receiver that answered 2xx but
whose answer was lost may see a repeat, which the event id lets it drop).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp

from livevault.db.repositories import NotificationRepository
from livevault.domain.notification import Delivery, DeliveryStatus
from livevault.errors import LivevaultError
from livevault.services.background import RepeatingPass
from livevault.services.notify.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.config import Settings
    from livevault.observability import Metrics
    from livevault.services.uow import Database

log = logging.getLogger(__name__)

USER_AGENT = "livevault-notifications/1"


def utcnow() -> datetime:
    return datetime.now(UTC)


def retry_delay(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with ±20 % jitter: base, 2·base, 4·base, … up to `cap` seconds."""
    delay = min(cap, base * float(2 ** max(0, attempts - 1)))
    # bandit B311: pseudo-random is fine here (retry jitter, not a secret)
    jitter: float = (rng or random.Random()).random()  # nosec B311
    return delay * (0.8 + 0.4 * jitter)


class Dispatcher:
    def __init__(
        self, settings: Settings, db: Database, http: aiohttp.ClientSession,
        validate_url: Callable[[str], str], metrics: Metrics | None = None,
        *, idle_sleep: float | None = None, batch: int = 100, concurrency: int = 8,
    ) -> None:
        self._settings = settings
        self._db = db
        self._http = http
        self._validate = validate_url
        self._metrics = metrics
        self._idle_sleep = settings.background_poll if idle_sleep is None else idle_sleep
        self._retries: list[float] = []  # heap of time.monotonic() at which retries this process scheduled fall due
        self._batch = batch
        self._limit = asyncio.Semaphore(concurrency)
        self._passes = RepeatingPass("notify-dispatcher", self._pass, self._sleep,
                                     stop_timeout=settings.notify_timeout + 5)
        self._rng = random.Random()  # nosec B311

    async def start(self) -> None:
        await self._passes.start()

    def poke(self) -> None:
        """Something was queued: look now instead of after the idle sleep. Safe from any thread."""
        self._passes.poke()

    async def stop(self) -> None:
        await self._passes.stop()

    async def _pass(self) -> bool:
        return await self.run_once() > 0  # the next event of a stream may be due right away

    async def _sleep(self) -> float:
        """Until the earliest retry this process scheduled, at most `idle_sleep` (LIVEVAULT_BACKGROUND_POLL):
        deliveries another process queued, or claims a dead process left, are seen within it. What this
        process queues wakes it at once (`poke`)."""
        now, due = time.monotonic(), False
        while self._retries and self._retries[0] <= now:  # due now: one more pass takes it
            heapq.heappop(self._retries)
            due = True
        if due:
            return 0.0
        return min(self._idle_sleep, self._retries[0] - now) if self._retries else self._idle_sleep

    async def run_once(self) -> int:
        """Claim and send every delivery that is due now; returns how many were attempted."""
        now = utcnow()
        claim_for = timedelta(seconds=self._settings.notify_timeout + 30)

        def claim(session: object) -> list[Delivery]:
            repo = NotificationRepository(session)  # type: ignore[arg-type]
            return [d for d in repo.due_heads(now, self._batch) if repo.claim(d.seq, now, now + claim_for)]

        claimed = await self._db.run_async(claim)
        if claimed:
            await asyncio.gather(*(self._attempt(d) for d in claimed))
        return len(claimed)

    async def _attempt(self, delivery: Delivery) -> None:
        async with self._limit:
            error, status_code = await self._send(delivery)
        attempts = delivery.attempts + 1
        now = utcnow()
        if error is None:
            values: dict[str, object] = {"status": DeliveryStatus.DELIVERED, "attempts": attempts,
                                         "delivered_at": now, "last_error": None, "last_status_code": status_code}
            outcome = "delivered"
        elif attempts >= self._settings.notify_max_attempts:
            values = {"status": DeliveryStatus.FAILED, "attempts": attempts, "last_error": error,
                      "last_status_code": status_code}
            outcome = "failed"
            log.warning("notification %s to %s failed for good after %d attempts: %s", delivery.event_type.value,
                        _host(delivery.target), attempts, error, extra={"recording_id": delivery.recording_id})
        else:
            delay = retry_delay(attempts, self._settings.notify_retry_base, self._settings.notify_retry_max,
                                self._rng)
            values = {"attempts": attempts, "last_error": error, "last_status_code": status_code,
                      "next_attempt_at": now + timedelta(seconds=delay)}
            outcome = "retry"
            heapq.heappush(self._retries, time.monotonic() + delay + 0.05)  # just after its row is due
        await self._db.run_async(lambda s: NotificationRepository(s).settle(delivery.seq, **values))
        if self._metrics is not None:
            self._metrics.notifications.labels(status=outcome).inc()

    async def _send(self, delivery: Delivery) -> tuple[str | None, int | None]:
        """POST one delivery; (None, status) on a 2xx answer, else (what went wrong, status or None)."""
        try:
            target = self._validate(delivery.target)
        except LivevaultError as exc:
            return f"target refused: {exc.code}", None
        body = delivery.body.encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: delivery.event_type.value,
            EVENT_ID_HEADER: delivery.event_id,
            DELIVERY_HEADER: delivery.id,
            TIMESTAMP_HEADER: str(stamp),
        }
        secret = self._settings.notify_signing_secret
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, stamp, body)
        timeout = aiohttp.ClientTimeout(total=self._settings.notify_timeout)
        try:
            async with self._http.post(target, data=body, headers=headers, timeout=timeout,
                                       allow_redirects=False) as response:
                await response.read()  # drained, never stored or logged: it is the receiver's business
                if 200 <= response.status < 300:
                    return None, response.status
                return f"HTTP {response.status}", response.status
        except TimeoutError:
            return "timed out", None
        except aiohttp.ClientError as exc:
            return f"connection failed: {type(exc).__name__}", None
        except LivevaultError as exc:  # the URL guard refused the address the name resolved to
            return f"target refused: {exc.code}", None


def _host(url: str) -> str:
    try:
        return url.split("//", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    except IndexError:
        return "?"
