"""Outbound notifications: list deliveries (failed ones first of all) and retry a failed one."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from livevault.api.deps import ApiKeyDep, ContainerDep, RecordScopeDep
from livevault.api.schemas.common import ERROR_RESPONSES, ErrorBody
from livevault.api.schemas.notifications import DeliveryState, EventName, NotificationList, NotificationOut
from livevault.domain.notification import Delivery, DeliveryStatus, EventType

router = APIRouter(tags=["notifications"], responses=ERROR_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such notification"}}


def notification_out(item: Delivery) -> NotificationOut:
    return NotificationOut(
        id=item.id, event_id=item.event_id, event_type=item.event_type.value, target=item.target,
        status=item.status.value, attempts=item.attempts, recording_id=item.recording_id,
        last_error=item.last_error, last_status_code=item.last_status_code, created_at=item.created_at,
        next_attempt_at=item.next_attempt_at, delivered_at=item.delivered_at,
    )


@router.get("/notifications", response_model=NotificationList)
async def list_notifications(
    container: ContainerDep,
    _key: ApiKeyDep,
    status: DeliveryState | None = None,
    recording_id: Annotated[str | None, Query(max_length=64)] = None,
    event_type: EventName | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> NotificationList:
    """Deliveries, newest first. `?status=failed` lists those whose retry budget ran out."""
    result = await asyncio.to_thread(
        container.notifications.search,
        status=DeliveryStatus(status) if status else None, recording_id=recording_id,
        event_type=EventType(event_type) if event_type else None, page=page, page_size=page_size,
    )
    return NotificationList(items=[notification_out(d) for d in result.items], total=result.total,
                            page=result.page, page_size=result.page_size)


@router.get("/notifications/{notification_id}", response_model=NotificationOut, responses=NOT_FOUND)
async def get_notification(notification_id: str, container: ContainerDep, _key: ApiKeyDep) -> NotificationOut:
    return notification_out(await asyncio.to_thread(container.notifications.get, notification_id))


@router.post("/notifications/{notification_id}/retry", status_code=202, response_model=NotificationOut,
             responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "Not failed"}})
async def retry_notification(notification_id: str, container: ContainerDep, _key: RecordScopeDep) -> NotificationOut:
    """Send a failed delivery again, with a fresh retry budget."""
    return notification_out(await asyncio.to_thread(container.notifications.retry, notification_id))
