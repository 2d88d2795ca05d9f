"""The database side of LiveKit room recordings: find a room's active recording, the recording of an egress,
and the unfinished ones the reconciliation poll looks at."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from livevault.db.repositories import RecordingRepository
from livevault.domain.livekit import LIVEKIT_SOURCE, EgressState
from livevault.domain.recording import Recording, RecordingStatus

STUCK_PROCESSING = timedelta(minutes=10)  # a verification whose process died: done again by the poll


def back_to_recording(session: Any, recording: Recording) -> Recording:
    return RecordingRepository(session).set_status(recording.id, RecordingStatus.RECORDING)


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def active_for_room(session: Any, room: str) -> Recording | None:
    repo = RecordingRepository(session)
    for status in (RecordingStatus.PENDING, RecordingStatus.RECORDING, RecordingStatus.PROCESSING):
        items, _ = repo.list(status=status, source_kind=LIVEKIT_SOURCE, source=room, limit=1)
        if items:
            return items[0]
    return None


def by_egress(session: Any, state: EgressState) -> Recording | None:
    """The recording of an egress: by its id, or — when the webhook beat our own write of the id — the room's
    recording that is still waiting for one."""
    repo = RecordingRepository(session)
    items, _ = repo.list(source_kind=LIVEKIT_SOURCE, source=state.room, limit=50)
    for recording in items:
        if recording.stream_id == state.egress_id:
            return recording
    for recording in items:
        if recording.stream_id is None and recording.status is RecordingStatus.PENDING:
            return repo.update(recording.id, stream_id=state.egress_id)
    return None


def unfinished(session: Any, now: datetime) -> list[Recording]:
    repo = RecordingRepository(session)
    found: list[Recording] = []
    for status in (RecordingStatus.PENDING, RecordingStatus.RECORDING, RecordingStatus.PROCESSING):
        items, _ = repo.list(status=status, source_kind=LIVEKIT_SOURCE, limit=500)
        if status is RecordingStatus.PROCESSING:
            items = [r for r in items if r.completed_at is None and _stuck(r, now)]
        found.extend(items)
    return found


def _stuck(recording: Recording, now: datetime) -> bool:
    started = recording.started_at or recording.created_at
    return now - started > STUCK_PROCESSING
