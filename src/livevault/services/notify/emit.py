"""Turn an event into queued deliveries, one per target, inside the caller's transaction."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import NotificationRepository
from livevault.errors import LivevaultError
from livevault.observability import current_correlation_id

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy.orm import Session

    from livevault.domain.notification import EventType
    from livevault.domain.recording import Recording
    from livevault.domain.watcher import Watcher

log = logging.getLogger(__name__)

# What a notification tells about a recording: never its options (they may hold a proxy password or cookies).
_RECORDING_FIELDS = (
    "id", "status", "source_kind", "source", "url", "room_id", "stream_id", "title", "watcher_key",
    "file_path", "file_size", "duration", "video_codec", "audio_codec", "width", "height", "fps",
    "thumbnail_path", "error_code", "error_message", "segments_captured", "segments_missing", "parts_count",
    "started_at", "completed_at", "created_at",
)


def _iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value


def recording_payload(recording: Recording) -> dict[str, Any]:
    payload = {name: _iso(getattr(recording, name)) for name in _RECORDING_FIELDS}
    payload["status"] = recording.status.value
    payload["url"] = _strip_query(recording.url)
    return payload


def _strip_query(url: str | None) -> str | None:
    """Signed CDN tokens in a source URL's query are secrets too."""
    return url.split("?", 1)[0] if url else url


class Notifier:
    """Queues events for `LIVEVAULT_WEBHOOK_URLS` plus the recording's or watcher's own `notify_url`."""

    def __init__(
        self, targets: Sequence[str], validate_url: Callable[[str], str], *,
        public_url: str | None = None, on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._targets = list(dict.fromkeys(targets))
        self._validate = validate_url
        self._public_url = (public_url or "").rstrip("/") or None
        self._on_queued = on_queued

    @property
    def enabled(self) -> bool:
        return bool(self._targets)

    def targets_for(self, options: dict[str, Any] | None) -> list[str]:
        own = (options or {}).get("notify_url")
        targets = list(self._targets)
        if isinstance(own, str) and own:
            try:
                targets.append(self._validate(own))  # checked when it was set; checked again in case rules changed
            except LivevaultError as exc:
                log.warning("notify_url refused: %s", exc.message)
        return list(dict.fromkeys(targets))

    def recording_event(
        self, session: Session, event: EventType, recording: Recording, *, once: str | None = None, **extra: Any
    ) -> str | None:
        """Queue `event` about `recording`; returns the event id (None when nobody listens). With `once`, the
        event id is derived from the recording, the event and `once`: announcing it again queues nothing."""
        targets = self.targets_for(recording.options)
        if not targets:
            return None
        data: dict[str, Any] = {"recording": recording_payload(recording), **extra}
        if self._public_url and recording.file_path:
            data["recording"]["download_url"] = f"{self._public_url}/recordings/{recording.id}/download"
        stream = f"recording:{recording.id}"
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"livevault:{stream}:{event.value}:{once}")) if once else None
        return self._queue(session, event, stream, recording.id, targets, data, recording.correlation_id,
                           event_id=event_id)

    def watcher_event(
        self, session: Session, event: EventType, watcher: Watcher, *, recording: Recording | None = None,
    ) -> str | None:
        """Queue `event` about `watcher`; with the recording it started, in that recording's order."""
        targets = self.targets_for(watcher.options)
        if not targets:
            return None
        data: dict[str, Any] = {"watcher": {"key": watcher.key, "source_kind": watcher.source_kind,
                                            "target": watcher.target, "room_id": watcher.room_id,
                                            "url": _strip_query(watcher.url)}}
        if recording is None:
            return self._queue(session, event, f"watcher:{watcher.id}", None, targets, data, None)
        data["recording_id"] = recording.id
        data["recording"] = recording_payload(recording)
        return self._queue(session, event, f"recording:{recording.id}", recording.id, targets, data,
                           recording.correlation_id)

    def _queue(
        self, session: Session, event: EventType, stream: str, recording_id: str | None,
        targets: list[str], data: dict[str, Any], correlation_id: str | None, *, event_id: str | None = None,
    ) -> str:
        event_id = event_id or str(uuid.uuid4())
        body = json.dumps({
            "id": event_id,
            "type": event.value,
            "created_at": _iso(datetime.now(UTC)),
            "correlation_id": correlation_id or current_correlation_id(),
            "data": data,
        }, separators=(",", ":"), default=str)
        NotificationRepository(session).add([
            {"id": str(uuid.uuid4()), "event_id": event_id, "event_type": event.value, "stream": stream,
             "recording_id": recording_id, "target": target, "body": body}
            for target in targets
        ])
        if self._on_queued is not None:
            self._on_queued()
        return event_id
