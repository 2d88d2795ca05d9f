"""Outbound notifications: deliveries and their state."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

DeliveryState = Literal["pending", "delivered", "failed"]
EventName = Literal[
    "watcher.live", "recording.started", "recording.piece_completed", "recording.completed", "recording.failed",
    "upload.failed",
]


class NotificationOut(BaseModel):
    id: str = Field(description="This delivery's id (one event goes to each target as its own delivery)")
    event_id: str = Field(description="The event's id, the same for every target; receivers de-duplicate by it")
    event_type: EventName
    target: str
    status: DeliveryState
    attempts: int
    recording_id: str | None
    last_error: str | None = Field(description="What went wrong on the last attempt (HTTP status or network error)")
    last_status_code: int | None
    created_at: datetime
    next_attempt_at: datetime = Field(description="When a pending delivery is tried next")
    delivered_at: datetime | None


class NotificationList(BaseModel):
    items: list[NotificationOut]
    total: int
    page: int
    page_size: int
