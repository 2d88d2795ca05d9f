"""What the API shows of notifications: list them (failed ones above all) and send a failed one again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import NotificationRepository
from livevault.domain.notification import Delivery, DeliveryStatus, EventType
from livevault.errors import Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.services.uow import Database


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: list[Delivery]
    total: int
    page: int
    page_size: int


class NotificationService:
    def __init__(self, db: Database, on_requeued: Callable[[], None] | None = None) -> None:
        self._db = db
        self._on_requeued = on_requeued

    def search(
        self, *, status: DeliveryStatus | None = None, recording_id: str | None = None,
        event_type: EventType | None = None, page: int = 1, page_size: int = 50,
    ) -> DeliveryPage:
        def work(session: Any) -> tuple[list[Delivery], int]:
            return NotificationRepository(session).search(
                status=status, recording_id=recording_id, event_type=event_type,
                limit=page_size, offset=(page - 1) * page_size,
            )

        items, total = self._db.run(work)
        return DeliveryPage(items=items, total=total, page=page, page_size=page_size)

    def get(self, delivery_id: str) -> Delivery:
        found = self._db.run(lambda s: NotificationRepository(s).get(delivery_id))
        if found is None:
            raise NotFound("Notification not found", details={"id": delivery_id})
        return found

    def retry(self, delivery_id: str) -> Delivery:
        """A failed delivery goes back in line with a fresh retry budget."""
        found = self.get(delivery_id)
        if found.status is not DeliveryStatus.FAILED:
            raise Conflict(f"notification is {found.status.value}; only a failed one can be retried",
                           details={"status": found.status.value})
        updated = self._db.run(lambda s: NotificationRepository(s).retry(delivery_id, datetime.now(UTC)))
        if self._on_requeued is not None:
            self._on_requeued()
        return updated or found
