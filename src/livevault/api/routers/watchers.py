"""Watchers: record a source automatically whenever it goes live."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from livevault.api.deps import ApiKeyDep, ContainerDep, RecordScopeDep
from livevault.api.routers.recordings import resolve_target
from livevault.api.schemas.common import ERROR_RESPONSES, MAX_PAGE, ErrorBody, OkBody
from livevault.api.schemas.watchers import (
    WatcherAccepted,
    WatcherCreate,
    WatcherList,
    WatcherOut,
    WatcherUpdate,
)
from livevault.bootstrap import Container
from livevault.domain.secrets import mask_credentials, mask_optional, mask_options
from livevault.domain.targets import check_room_id, check_user
from livevault.domain.watcher import Watcher, WatcherStatus
from livevault.errors import InvalidInput, MissingSource
from livevault.observability import current_correlation_id
from livevault.services.watching.watch import WatchRequest

router = APIRouter(tags=["watchers"], responses=ERROR_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such watcher"}}
RETENTION_FIELDS = {"max_recordings", "max_bytes", "retention_days"}


def watcher_out(watcher: Watcher) -> WatcherOut:
    return WatcherOut(
        key=mask_credentials(watcher.key), room_id=watcher.room_id, url=mask_optional(watcher.url), user=watcher.user,
        poll_interval=watcher.poll_interval, status=watcher.status.value, created_at=watcher.created_at,
        last_run_at=watcher.last_run_at, options=mask_options(watcher.options), task_id=watcher.job_id,
        source_kind=watcher.source_kind, target=mask_credentials(watcher.target), live_state=watcher.live_state,
        error_code=watcher.error_code, error_message=mask_optional(watcher.error_message), failures=watcher.failures,
        checks=watcher.checks, recordings_count=watcher.recordings_count, recording_id=watcher.recording_id,
        last_live_at=watcher.last_live_at, next_check_at=watcher.next_check_at,
        max_recordings=watcher.max_recordings, max_bytes=watcher.max_bytes, retention_days=watcher.retention_days,
    )


async def build_watch_request(container: Container, body: WatcherCreate) -> WatchRequest:
    given = [name for name in ("room_id", "url", "user") if getattr(body, name)]
    if not given:
        raise MissingSource("give a `room_id`, a `url` or a `user` to watch",
                            details={"fields": ["room_id", "url", "user"]})
    if len(given) > 1:
        raise InvalidInput("give only one of `room_id`, `url` and `user`", details={"fields": given})
    if body.room_id is not None:
        check_room_id(body.room_id)
    if body.user is not None:
        check_user(body.user)
    container.validate_options(body.options.proxy, body.options.cookies, body.options.notify_url)
    kind, target = await resolve_target(container, url=body.url, room_id=body.room_id, user=body.user,
                                        source=body.source)
    user = "@" + body.user.lstrip("@") if body.user else None
    key = body.room_id or (body.url and target) or user or target
    return WatchRequest(
        key=key, source_kind=kind, target=target, poll_interval=body.poll_interval, room_id=body.room_id,
        url=body.url and target, user=user, options=body.options.model_dump(exclude_none=True),
        correlation_id=current_correlation_id(), max_recordings=body.max_recordings, max_bytes=body.max_bytes,
        retention_days=body.retention_days,
    )


@router.post("/watchers", status_code=202, response_model=WatcherAccepted,
             responses={409: {"model": ErrorBody, "description": "This source is already watched"}})
async def create_watcher(body: WatcherCreate, container: ContainerDep, key: RecordScopeDep) -> WatcherAccepted:
    """Watch a room id, URL or user: it is checked every `poll_interval` seconds and recorded while live. A
    managed key with a watchers quota gets 403 QUOTA_EXCEEDED while it holds that many watchers."""
    request = await build_watch_request(container, body)
    watcher, job = container.watchers.create(request, quota=key.quota)
    return WatcherAccepted(task_id=job.id, status=job.status.value, key=watcher.key)


@router.get("/watchers", response_model=WatcherList)
async def list_watchers(
    container: ContainerDep,
    _key: ApiKeyDep,
    status: Annotated[WatcherStatus | None, Query(description="active, paused or deleted")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> WatcherList:
    """Watchers, newest first (deleted ones only with `status=deleted`)."""
    found = container.watchers.search(status=status, page=page, page_size=page_size)
    return WatcherList(items=[watcher_out(w) for w in found.items], total=found.total, page=found.page,
                       page_size=found.page_size)


@router.get("/watchers/{key:path}", response_model=WatcherOut, responses=NOT_FOUND)
async def get_watcher(key: str, container: ContainerDep, _key: ApiKeyDep) -> WatcherOut:
    """One watcher by its key: the room id, the URL (percent-encoded) or `@user`."""
    return watcher_out(container.watchers.get(key))


@router.patch("/watchers/{key:path}", response_model=WatcherOut, responses=NOT_FOUND)
async def update_watcher(key: str, body: WatcherUpdate, container: ContainerDep, _key: RecordScopeDep) -> WatcherOut:
    """Pause or resume a watcher, change its interval, the options of its future recordings or its retention
    limits (`max_recordings`, `max_bytes`, `retention_days`; null removes one).

    Pausing stops the checks; a recording already running goes on until the live ends or it is stopped."""
    status = WatcherStatus(body.status) if body.status else None
    options = body.options.model_dump(exclude_none=True) if body.options is not None else None
    if body.options is not None:
        container.validate_options(body.options.proxy, body.options.cookies, body.options.notify_url)
    retention = body.model_dump(include=RETENTION_FIELDS, exclude_unset=True)
    updated = container.watchers.update(key, status=status, poll_interval=body.poll_interval, options=options,
                                        retention=retention)
    return watcher_out(updated)


@router.delete("/watchers/{key:path}", response_model=OkBody, responses=NOT_FOUND)
async def delete_watcher(key: str, container: ContainerDep, _key: RecordScopeDep) -> OkBody:
    """Stop watching. A recording in progress is stopped gracefully: what it captured is finalized."""
    container.watchers.delete(key)
    return OkBody(ok=True)
