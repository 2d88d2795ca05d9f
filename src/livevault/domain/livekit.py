"""LiveKit room recordings (egress): what livevault knows of an egress, and the room's own status names.

A LiveKit recording is made by LiveKit Egress, not by livevault's capture: livevault asks for it, follows it
by webhooks (and by polling when a webhook is lost), then verifies the object Egress uploaded. Its generic
recording states map onto the room-recording names clients of LiveKit recorders know:

| recording status                 | room status |
|----------------------------------|-------------|
| pending                          | starting    |
| recording                        | active      |
| recording, stop requested        | stopping    |
| processing (egress ended; verify)| stopped     |
| completed                        | ready       |
| failed                           | failed      |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from livevault.domain.recording import Recording, RecordingStatus
from livevault.errors import InvalidInput

if TYPE_CHECKING:
    from datetime import datetime

LIVEKIT_SOURCE = "livekit"
LAYOUTS = ("speaker", "grid", "single-speaker")
FILE_FORMATS = ("mp4", "webm")
# LiveKit accepts more, but a room name also becomes part of an object key: keep it to a safe alphabet.
ROOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class EgressPhase(StrEnum):
    """LiveKit's EgressStatus, without the EGRESS_ prefix."""

    STARTING = "starting"
    ACTIVE = "active"
    ENDING = "ending"
    COMPLETE = "complete"
    FAILED = "failed"
    ABORTED = "aborted"
    LIMIT_REACHED = "limit_reached"

    @property
    def ended(self) -> bool:
        return self in {EgressPhase.COMPLETE, EgressPhase.FAILED, EgressPhase.ABORTED, EgressPhase.LIMIT_REACHED}

    @property
    def produced_file(self) -> bool:
        """Complete, or stopped by a limit: both upload what was recorded."""
        return self in {EgressPhase.COMPLETE, EgressPhase.LIMIT_REACHED}


@dataclass(frozen=True, slots=True)
class EgressState:
    egress_id: str
    room: str
    phase: EgressPhase
    error: str | None = None
    file_key: str | None = None
    file_size: int | None = None
    duration: float | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EgressOutput:
    """Where Egress uploads: livevault's own bucket (S3, MinIO, Cloudflare R2 with path-style addressing)."""

    endpoint: str
    bucket: str
    access_key: str
    secret: str
    region: str
    force_path_style: bool = True


@dataclass(frozen=True, slots=True)
class RoomRequest:
    """A request to record a LiveKit room through Egress."""

    room: str
    layout: str = "speaker"
    file_format: str = "mp4"
    audio_only: bool = False
    correlation_id: str | None = None
    watcher_key: str | None = None


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """A verified LiveKit webhook, reduced to what livevault acts on."""

    event: str  # egress_started, egress_updated, egress_ended, room_started, room_finished, participant_joined, ...
    event_id: str | None
    room: str | None
    egress: EgressState | None = None
    participants: int | None = None


def check_room_name(room: str) -> str:
    if not ROOM_NAME.fullmatch(room or ""):
        raise InvalidInput(
            "room must be 1 to 128 characters of A-Z a-z 0-9 . _ - and start with a letter or digit",
            details={"room": (room or "")[:128]},
        )
    return room


def room_status(recording: Recording) -> str:
    if recording.status is RecordingStatus.PENDING:
        return "starting"
    if recording.status is RecordingStatus.RECORDING:
        return "stopping" if recording.stop_requested else "active"
    if recording.status is RecordingStatus.PROCESSING:
        return "stopped"
    if recording.status is RecordingStatus.COMPLETED:
        return "ready"
    return "failed"
