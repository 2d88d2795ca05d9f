"""Push sources (seed 002): `stream.started` / `stream.ended` from a streaming server, signed and idempotent.

`started` creates a recording of `push:<stream_key>` unless one is already active for that key;
`ended` stops it gracefully (what was captured is finalized). When `stream.ended` never comes, the
capture still ends on EXT-X-ENDLIST or after LIVEVAULT_PLAYLIST_GRACE of unreachable playlist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import RecordingRepository
from livevault.domain.recording import Recording, RecordingRequest, RecordingStatus
from livevault.errors import (
    AlreadyRecording,
    Conflict,
    InvalidSignature,
    WebhookNotConfigured,
    WebhookReplayed,
)
from livevault.observability import current_correlation_id
from livevault.sources.bucket import playlist_url
from livevault.sources.push import STREAM_KEY_PATTERN as STREAM_KEY_PATTERN
from livevault.sources.push import origin_url, push_target

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from livevault.config import Settings
    from livevault.services.recording.record import RecordingService
    from livevault.services.uow import Database

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Livevault-Signature"
SIGNATURE_PREFIX = "sha256="
PUSH_SOURCE = "push"
BUCKET_SOURCE = "bucket"
_PUSH_KINDS = (PUSH_SOURCE, BUCKET_SOURCE)
_LOCK_STRIPES = 64
_MEMORY = 4096
_RECENT = 20
_CAPTURING = (RecordingStatus.PENDING, RecordingStatus.RECORDING)
_RECORDED = frozenset({RecordingStatus.PROCESSING, RecordingStatus.COMPLETED})


class StreamEventType(StrEnum):
    STARTED = "stream.started"
    ENDED = "stream.ended"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One seed 002 webhook body, already validated."""

    event: StreamEventType
    stream_key: str
    stream_id: str | None = None
    user_id: str | None = None
    timestamp: datetime | None = None
    title: str | None = None
    event_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class WebhookOutcome(StrEnum):
    """What an event did; sent back in the `X-Livevault-Webhook-Result` header."""

    RECORDING_STARTED = "recording_started"
    ALREADY_RECORDING = "already_recording"
    ALREADY_RECORDED = "already_recorded"
    ALREADY_ENDED = "already_ended"
    STOPPING = "stopping"
    ALREADY_STOPPING = "already_stopping"
    NOT_RECORDING = "not_recording"
    STALE = "stale"
    DUPLICATE = "duplicate"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class WebhookResult:
    outcome: WebhookOutcome
    recording_id: str | None = None


def sign(secret: str, body: bytes) -> str:
    """The `X-Livevault-Signature` value for `body`: `sha256=` and the hex HMAC-SHA256."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Check `header` against the HMAC-SHA256 of the raw `body`, in constant time.

    Raises:
        WebhookNotConfigured: no secret is set, so nothing can be verified (503).
        InvalidSignature: the header is missing, malformed or does not match (401).
    """
    if not secret:
        raise WebhookNotConfigured("webhooks are disabled until LIVEVAULT_WEBHOOK_SECRET is set")
    if not header:
        raise InvalidSignature(f"{SIGNATURE_HEADER} header is required")
    given = header.strip()
    if given[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        given = SIGNATURE_PREFIX + given[len(SIGNATURE_PREFIX):].lower()
    if not hmac.compare_digest(sign(secret, body).encode(), given.encode("utf-8", "replace")):
        raise InvalidSignature(f"{SIGNATURE_HEADER} does not match the body")


class _Memory:
    """A bounded insertion-ordered map: facts about recent streams, forgotten oldest first."""

    def __init__(self, size: int = _MEMORY) -> None:
        self._items: OrderedDict[str, str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._items.get(key)


class PushService:
    """Turns stream events into recordings: at most one capturing recording per stream key.

    Duplicate and out-of-order events are answered, never errors:

    - a second `stream.started` for a key that is being recorded joins that recording (and its
      `stream_id` becomes the recording's owner);
    - a `stream.started` whose `stream_id` already ended, or whose recording is finalizing or complete, is ignored;
    - `stream.ended` without an active recording is a no-op (its `stream_id` is remembered, so a late
      `stream.started` for it does not start a recording of a stream that is over);
    - `stream.ended` for a `stream_id` other than the one that owns the active recording (the last one
      started or joined) is stale and ignored.

    Concurrent duplicates are serialized by a process lock per stream key (striped) around the database
    check for active recordings of `push:<stream_key>`; across API replicas the database's unique index on
    capturing recordings' source keys lets only one of them start the recording (the others answer
    `already_recording`).
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        recordings: RecordingService,
        validate_url: Callable[[str], str],
    ) -> None:
        self._settings = settings
        self._db = db
        self._recordings = recordings
        self._validate_url = validate_url
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        self._ended = _Memory()
        self._owners = _Memory()
        self._event_ids = _Memory(_MEMORY * 4)

    def check_replay(self, event: StreamEvent, now: datetime | None = None) -> bool:
        """Refuse an event outside the timestamp window; True when its `event_id` was seen before (a duplicate).

        Raises:
            WebhookReplayed: the timestamp is further than LIVEVAULT_WEBHOOK_TOLERANCE from now (401).
        """
        tolerance = self._settings.webhook_tolerance
        if event.timestamp is not None:
            stamp = event.timestamp if event.timestamp.tzinfo else event.timestamp.replace(tzinfo=UTC)
            skew = ((now or datetime.now(UTC)) - stamp).total_seconds()
            if abs(skew) > tolerance:
                raise WebhookReplayed(
                    f"the event's timestamp is {abs(skew):.0f} s from now; at most {tolerance:g} s are accepted "
                    "(LIVEVAULT_WEBHOOK_TOLERANCE)", details={"tolerance": tolerance})
        if event.event_id is None:
            return False
        key = f"{event.event}:{event.event_id}"
        seen = self._event_ids.get(key) is not None
        self._event_ids.put(key, "1")
        return seen

    @property
    def source_kind(self) -> str:
        """`push` (HTTP origin, LIVEVAULT_PUSH_HLS_URL_TEMPLATE) or `bucket` (LIVEVAULT_PUSH_SOURCE=bucket)."""
        return BUCKET_SOURCE if self._settings.push_source == BUCKET_SOURCE else PUSH_SOURCE

    @staticmethod
    def target(stream_key: str) -> str:
        """`push:<stream_key>`, the one identity of a pushed stream (raises InvalidStreamKey)."""
        return push_target(stream_key)

    def origin_url(self, stream_key: str) -> str:
        """Where the stream's playlist is: the origin URL through the URL gate (blocking: it resolves the host),
        or the `s3://` address in the segments bucket."""
        if self.source_kind == BUCKET_SOURCE:
            settings = self._settings
            return playlist_url(settings.bucket_source_bucket, settings.bucket_playlist, stream_key)
        return self._validate_url(origin_url(self._settings.push_hls_url_template, stream_key))

    def started(self, event: StreamEvent) -> WebhookResult:
        """Start recording the stream unless that is already done. Blocking: call it from a worker thread."""
        return self._start(event)

    def discovered(self, stream_key: str, modified: float) -> WebhookResult:
        """The bucket poller saw `stream_key`'s playlist change at `modified` (Unix seconds, the store's clock)
        and no webhook announced it: start recording unless a recording of the key is active, finalizing, or
        ended after that change (the stream it recorded is the one still in the bucket)."""
        return self._start(StreamEvent(StreamEventType.STARTED, stream_key), discovered_at=modified)

    def idle(self, stream_key: str) -> WebhookResult:
        """The bucket poller saw no new segment of `stream_key` for LIVEVAULT_BUCKET_IDLE_GRACE: stop its active
        bucket recording gracefully (what was captured is finalized)."""
        target = push_target(stream_key)
        with self._lock_for(stream_key):
            active, _recent = self._db.run(lambda s: self._lookup(s, target))
            if active is None or active.source_kind != BUCKET_SOURCE:
                return WebhookResult(WebhookOutcome.NOT_RECORDING)
            if active.stop_requested:
                return WebhookResult(WebhookOutcome.ALREADY_STOPPING, active.id)
            try:
                self._recordings.stop(active.id)
            except Conflict:
                return WebhookResult(WebhookOutcome.ALREADY_STOPPING, active.id)
        log.info("bucket stream idle; stopping recording %s", active.id, extra={"recording_id": active.id})
        return WebhookResult(WebhookOutcome.IDLE, active.id)

    def capturing_bucket_keys(self) -> dict[str, Recording]:
        """Stream key -> its active bucket recording (pending or recording), for the poller."""
        def work(session: Session) -> dict[str, Recording]:
            repo = RecordingRepository(session)
            found: dict[str, Recording] = {}
            for status in _CAPTURING:
                offset = 0
                while True:
                    page, total = repo.list(source_kind=BUCKET_SOURCE, status=status, limit=500, offset=offset)
                    for rec in page:
                        found.setdefault(rec.source[len("push:"):], rec)
                    offset += len(page)
                    if not page or offset >= total:
                        break
            return found
        return self._db.run(work)

    def _start(self, event: StreamEvent, *, discovered_at: float | None = None) -> WebhookResult:
        target = push_target(event.stream_key)
        url = self.origin_url(event.stream_key)
        with self._lock_for(event.stream_key):
            active, recent = self._db.run(lambda s: self._lookup(s, target))
            if discovered_at is not None:
                seen = self._seen_before(active, recent, discovered_at)
                if seen is not None:
                    return seen
            if active is not None and not active.stop_requested:
                if event.stream_id:
                    self._owners.put(active.id, event.stream_id)
                return WebhookResult(WebhookOutcome.ALREADY_RECORDING, active.id)
            if event.stream_id:
                if self._ended.get(event.stream_id) is not None:
                    return WebhookResult(WebhookOutcome.ALREADY_ENDED)
                done = next((r for r in recent if r.stream_id == event.stream_id and r.status in _RECORDED), None)
                if done is not None:
                    return WebhookResult(WebhookOutcome.ALREADY_RECORDED, done.id)
            try:
                recording, _job = self._recordings.create(self._request(event, target, url, discovered=discovered_at))
            except AlreadyRecording as exc:  # another API process took the key at the same moment
                return WebhookResult(WebhookOutcome.ALREADY_RECORDING, exc.details.get("recording_id"))
            if event.stream_id:
                self._owners.put(recording.id, event.stream_id)
        log.info("push stream %s; recording %s", "discovered in the bucket" if discovered_at else "started",
                 recording.id, extra={"recording_id": recording.id, "stream_key": event.stream_key})
        return WebhookResult(WebhookOutcome.RECORDING_STARTED, recording.id)

    def ended(self, event: StreamEvent) -> WebhookResult:
        """Stop the stream's active recording gracefully.

        Call it on the event loop's thread: stopping sets the running capture's asyncio.Event.
        """
        target = push_target(event.stream_key)
        with self._lock_for(event.stream_key):
            if event.stream_id:
                self._ended.put(event.stream_id, event.stream_key)
            active, _recent = self._db.run(lambda s: self._lookup(s, target))
            if active is None:
                return WebhookResult(WebhookOutcome.NOT_RECORDING)
            owner = self._owners.get(active.id) or active.stream_id
            if event.stream_id and owner and owner != event.stream_id:
                return WebhookResult(WebhookOutcome.STALE, active.id)
            if active.stop_requested:
                return WebhookResult(WebhookOutcome.ALREADY_STOPPING, active.id)
            try:
                self._recordings.stop(active.id)
            except Conflict:
                return WebhookResult(WebhookOutcome.ALREADY_STOPPING, active.id)
        log.info("push stream ended; stopping recording %s", active.id, extra={"recording_id": active.id})
        return WebhookResult(WebhookOutcome.STOPPING, active.id)

    @staticmethod
    def _seen_before(active: Recording | None, recent: list[Recording], modified: float) -> WebhookResult | None:
        """Why the poller must not start a recording for a playlist changed at `modified`, or None."""
        if active is not None:
            outcome = WebhookOutcome.ALREADY_STOPPING if active.stop_requested else WebhookOutcome.ALREADY_RECORDING
            return WebhookResult(outcome, active.id)
        latest = recent[0] if recent else None
        if latest is None:
            return None
        if latest.status is RecordingStatus.PROCESSING:
            return WebhookResult(WebhookOutcome.ALREADY_RECORDED, latest.id)
        ended = latest.completed_at or latest.created_at
        if modified <= ended.timestamp():
            return WebhookResult(WebhookOutcome.ALREADY_RECORDED, latest.id)
        return None

    def _lock_for(self, stream_key: str) -> threading.Lock:
        return self._locks[zlib.crc32(stream_key.encode()) % _LOCK_STRIPES]

    @staticmethod
    def _lookup(session: Session, target: str) -> tuple[Recording | None, list[Recording]]:
        """(the newest recording of `target` still capturing, if any; its recent recordings, newest first).

        A recording already in `processing` no longer captures: a new stream on the same key gets a new one.
        """
        repo = RecordingRepository(session)
        active: list[Recording] = []
        recent: list[Recording] = []
        for kind in _PUSH_KINDS:  # one stream key, one recording, whether it comes from an origin or a bucket
            for status in _CAPTURING:
                found, _total = repo.list(source_kind=kind, source=target, status=status, limit=1)
                active.extend(found)
            page, _total = repo.list(source_kind=kind, source=target, limit=_RECENT)
            recent.extend(page)
        recent.sort(key=lambda r: r.created_at, reverse=True)
        newest = max(active, key=lambda r: r.created_at, default=None)
        return newest, recent

    def _request(
        self, event: StreamEvent, target: str, url: str, *, discovered: float | None = None
    ) -> RecordingRequest:
        if discovered is not None:
            return RecordingRequest(
                source_kind=self.source_kind, source=target, quality=self._settings.default_quality,
                output_template=self._settings.push_output_template,
                options={"bucket": {"stream_key": event.stream_key, "playlist": url, "discovered": True}},
                correlation_id=current_correlation_id(),
            )
        webhook: dict[str, Any] = {"stream_key": event.stream_key, "origin_url": url}
        if event.user_id:
            webhook["user_id"] = event.user_id
        if event.timestamp:
            webhook["timestamp"] = event.timestamp.isoformat().replace("+00:00", "Z")
        if event.metadata:
            webhook["metadata"] = event.metadata
        return RecordingRequest(
            source_kind=self.source_kind,
            source=target,
            stream_id=event.stream_id,
            title=event.title,
            quality=self._settings.default_quality,
            output_template=self._settings.push_output_template,
            options={"webhook": webhook},
            correlation_id=current_correlation_id(),
            recording_now=True,  # seed 002: `recording` from the moment `stream.started` is answered
        )
