"""Notifications: the durable queue of outbound events, one row per event and target."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import aliased

from livevault.db.tables import NotificationRow
from livevault.domain.notification import Delivery, DeliveryStatus, EventType

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

DELIVERY_FIELDS = tuple(f.name for f in fields(Delivery))
PENDING = DeliveryStatus.PENDING.value


def _to_delivery(row: NotificationRow) -> Delivery:
    values = {name: getattr(row, name) for name in DELIVERY_FIELDS}
    values["status"] = DeliveryStatus(row.status)
    values["event_type"] = EventType(row.event_type)
    return Delivery(**values)


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Queue deliveries (`id, event_id, event_type, stream, recording_id, target, body`); an event already
        queued for a target is not queued twice."""
        for values in rows:
            exists = self._s.execute(
                select(NotificationRow.seq).where(
                    NotificationRow.event_id == values["event_id"], NotificationRow.target == values["target"]
                )
            ).first()
            if exists is None:
                self._s.add(NotificationRow(status=PENDING, attempts=0, **values))
        self._s.flush()

    def get(self, delivery_id: str) -> Delivery | None:
        row = self._s.execute(select(NotificationRow).where(NotificationRow.id == delivery_id)).scalar_one_or_none()
        return None if row is None else _to_delivery(row)

    def search(
        self, *, status: DeliveryStatus | None = None, recording_id: str | None = None,
        event_type: EventType | None = None, limit: int = 50, offset: int = 0,
    ) -> tuple[list[Delivery], int]:
        conditions = []
        if status is not None:
            conditions.append(NotificationRow.status == status.value)
        if recording_id is not None:
            conditions.append(NotificationRow.recording_id == recording_id)
        if event_type is not None:
            conditions.append(NotificationRow.event_type == event_type.value)
        query = select(NotificationRow).where(*conditions).order_by(NotificationRow.seq.desc())
        rows = self._s.execute(query.limit(limit).offset(offset)).scalars().all()
        total = self._s.execute(select(func.count()).select_from(NotificationRow).where(*conditions)).scalar_one()
        return [_to_delivery(r) for r in rows], int(total)

    def due_heads(self, now: datetime, limit: int) -> Sequence[Delivery]:
        """Pending deliveries that are first in line for their (stream, target), due, and not claimed."""
        earlier = aliased(NotificationRow)
        blocked = (
            select(earlier.seq)
            .where(earlier.stream == NotificationRow.stream, earlier.target == NotificationRow.target,
                   earlier.status == PENDING, earlier.seq < NotificationRow.seq)
            .exists()
        )
        query = (
            select(NotificationRow)
            .where(
                NotificationRow.status == PENDING,
                NotificationRow.next_attempt_at <= now,
                or_(NotificationRow.claimed_until.is_(None), NotificationRow.claimed_until < now),
                ~blocked,
            )
            .order_by(NotificationRow.seq)
            .limit(limit)
        )
        return [_to_delivery(r) for r in self._s.execute(query).scalars().all()]

    def claim(self, seq: int, now: datetime, until: datetime) -> bool:
        """Take one delivery for an attempt; False when another process took it first."""
        result = self._s.execute(
            update(NotificationRow)
            .where(NotificationRow.seq == seq, NotificationRow.status == PENDING,
                   or_(NotificationRow.claimed_until.is_(None), NotificationRow.claimed_until < now))
            .values(claimed_until=until)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def settle(self, seq: int, **values: Any) -> None:
        """Write an attempt's result (delivered, a retry time, or failed) and release the claim."""
        values.setdefault("claimed_until", None)
        for key in ("status",):
            if key in values and isinstance(values[key], DeliveryStatus):
                values[key] = values[key].value
        self._s.execute(update(NotificationRow).where(NotificationRow.seq == seq).values(**values))

    def retry(self, delivery_id: str, now: datetime) -> Delivery | None:
        """Put a failed delivery back in line for a fresh retry budget."""
        self._s.execute(
            update(NotificationRow)
            .where(NotificationRow.id == delivery_id, NotificationRow.status == DeliveryStatus.FAILED.value)
            .values(status=PENDING, attempts=0, next_attempt_at=now, claimed_until=None)
        )
        return self.get(delivery_id)

    def counts(self) -> dict[str, int]:
        rows = self._s.execute(
            select(NotificationRow.status, func.count()).group_by(NotificationRow.status)
        ).all()
        return {str(status): int(n) for status, n in rows}
