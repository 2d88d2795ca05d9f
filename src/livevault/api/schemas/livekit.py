"""LiveKit room recordings: the room routes compatible with LiveKit recorder clients, and the webhook answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from livevault.api.schemas.common import RequestModel


class RoomRecordingStart(RequestModel):
    layout: Literal["speaker", "grid", "single-speaker"] = "speaker"
    file_format: Literal["mp4", "webm"] = Field(
        default="mp4", description="mp4; LiveKit's room composite egress has no WebM, so webm is refused (422)"
    )
    audio_only: bool = False


class RoomRecordingOut(BaseModel):
    """One room recording in the shape LiveKit recorder clients expect."""

    id: str = Field(description="livevault's recording id (`/recordings/{id}`)")
    recording_id: str | None = Field(description="The LiveKit egress id (`EG_...`)")
    status: Literal["starting", "active", "stopping", "stopped", "ready", "failed"]
    room: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    duration_formatted: str | None
    file_size_bytes: int | None
    file_format: str
    download_url: str | None = Field(description="A presigned (or public, with a custom domain) URL when ready")
    thumbnail_url: str | None
    error_code: str | None
    error_message: str | None


class RoomRecordingAnswer(BaseModel):
    recording_id: str | None = Field(description="The LiveKit egress id")
    status: str
    message: str
    recording: RoomRecordingOut


class LiveKitWebhookAnswer(BaseModel):
    ok: bool = True
    outcome: str = Field(description="What the event did: active, ready, failed, duplicate, unknown_egress, ...")
