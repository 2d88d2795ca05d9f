"""Outbound notifications: the events livevault announces and the state of each delivery."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


class EventType(StrEnum):
    WATCHER_LIVE = "watcher.live"
    RECORDING_STARTED = "recording.started"
    PIECE_COMPLETED = "recording.piece_completed"
    RECORDING_COMPLETED = "recording.completed"
    RECORDING_FAILED = "recording.failed"
    UPLOAD_FAILED = "upload.failed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its turn or for its next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # the retry budget is spent; kept, listed, retried on request


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one target. Deliveries of the same `stream` (a recording or a watcher) to the
    same target go out in the order they were created: one is sent only when every earlier one is settled."""

    id: str
    seq: int
    event_id: str
    event_type: EventType
    stream: str
    target: str
    body: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    recording_id: str | None = None
    last_error: str | None = None
    last_status_code: int | None = None
    delivered_at: datetime | None = None
