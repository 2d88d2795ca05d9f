"""LiveKit: the signed egress webhook, and room routes compatible with LiveKit recorder clients."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from livevault.api.deps import ApiKeyDep, ContainerDep, RecordScopeDep
from livevault.api.routers.webhooks import read_body
from livevault.api.schemas.common import ERROR_RESPONSES, ErrorBody
from livevault.api.schemas.livekit import (
    LiveKitWebhookAnswer,
    RoomRecordingAnswer,
    RoomRecordingOut,
    RoomRecordingStart,
)
from livevault.bootstrap import Container
from livevault.domain.livekit import RoomRequest, room_status
from livevault.domain.recording import Recording
from livevault.errors import NotFound
from livevault.observability import current_correlation_id

router = APIRouter(tags=["livekit"])
ROOM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"model": ErrorBody, "description": "No such room (LiveKit) or no active recording"},
    409: {"model": ErrorBody, "description": "The room is already being recorded"},
    503: {"model": ErrorBody, "description": "`LIVEKIT_NOT_CONFIGURED` or LiveKit unreachable"},
}


def _formatted(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def room_recording_out(container: Container, rec: Recording) -> RoomRecordingOut:
    links = container.rooms.links(rec)
    seconds = round(rec.duration) if rec.duration else None
    return RoomRecordingOut(
        id=rec.id, recording_id=rec.stream_id, status=room_status(rec), room=rec.source,
        started_at=rec.started_at, ended_at=rec.completed_at, duration_seconds=seconds,
        duration_formatted=_formatted(seconds), file_size_bytes=rec.file_size or None,
        file_format=str((rec.options or {}).get("file_format") or "mp4"), download_url=links[0],
        thumbnail_url=links[1], error_code=rec.error_code, error_message=rec.error_message,
    )


@router.post("/webhooks/livekit", response_model=LiveKitWebhookAnswer,
             responses={401: {"model": ErrorBody, "description": "Token missing, not ours, or body changed"}})
async def livekit_webhook(
    request: Request, container: ContainerDep,
    authorization: Annotated[str | None, Header(description="LiveKit's signed token (sha256 of the body)")] = None,
) -> LiveKitWebhookAnswer:
    """LiveKit's webhook (configure `https://<livevault>/webhooks/livekit` in LiveKit). No `X-API-Key`: the
    token, signed with LIVEKIT_API_SECRET and carrying the body's SHA-256, authenticates it."""
    body = await read_body(request)
    return LiveKitWebhookAnswer(outcome=await container.rooms.webhook(body, authorization))


@router.post("/api/v1/rooms/{room}/start-recording/", status_code=201, response_model=RoomRecordingAnswer,
             responses=ROOM_RESPONSES)
async def start_room_recording(
    room: str, container: ContainerDep, _key: RecordScopeDep, body: RoomRecordingStart | None = None,
) -> RoomRecordingAnswer:
    """Start recording a LiveKit room (Egress writes the MP4 into the bucket)."""
    options = body or RoomRecordingStart()
    recording, _job = await container.rooms.start(RoomRequest(
        room=room, layout=options.layout, file_format=options.file_format, audio_only=options.audio_only,
        correlation_id=current_correlation_id(),
    ))
    out = await asyncio.to_thread(room_recording_out, container, recording)
    return RoomRecordingAnswer(recording_id=recording.stream_id, status=out.status,
                               message="Recording started successfully.", recording=out)


@router.post("/api/v1/rooms/{room}/stop-recording/", response_model=RoomRecordingAnswer, responses=ROOM_RESPONSES)
async def stop_room_recording(room: str, container: ContainerDep, _key: RecordScopeDep) -> RoomRecordingAnswer:
    """Stop the room's active recording; it becomes `ready` once LiveKit has uploaded and livevault verified it."""
    active = await asyncio.to_thread(container.rooms.active_for_room, room)
    if active is None:
        raise NotFound("this room has no active recording", details={"room": room})
    recording = await container.recordings.stop_any(active.id)
    out = await asyncio.to_thread(room_recording_out, container, recording)
    return RoomRecordingAnswer(recording_id=recording.stream_id, status=out.status,
                               message="Recording stopped successfully.", recording=out)


@router.get("/api/v1/rooms/{room}/recordings/", response_model=list[RoomRecordingOut], responses=ROOM_RESPONSES)
async def list_room_recordings(room: str, container: ContainerDep, _key: ApiKeyDep) -> list[RoomRecordingOut]:
    """The room's recordings, newest first."""
    recordings = await asyncio.to_thread(container.rooms.for_room, room)
    return [room_recording_out(container, r) for r in recordings]


@router.get("/rooms/{room}/recordings", response_model=list[RoomRecordingOut], responses=ROOM_RESPONSES)
async def room_recordings(room: str, container: ContainerDep, _key: ApiKeyDep) -> list[RoomRecordingOut]:
    """The same list on livevault's own path."""
    return await list_room_recordings(room, container, _key)
