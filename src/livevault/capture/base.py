"""The contract every capture engine follows, and the knobs it is given."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.capture.spool import Spool
    from livevault.domain.capture import CaptureOutcome, GapCause
    from livevault.domain.stream import StreamInfo


_EPSILON = 1e-6  # segment durations add up in floating point
_MEDIA_POLL = 0.05
"""With a media limit, a wait never sleeps less than this (media may lag the wall clock)."""


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    """Timeouts and limits for one capture; built from Settings by the composition root."""

    http_timeout: float = 10.0
    segment_concurrency: int = 3
    segment_retries: int = 6
    playlist_grace: float = 30.0
    stall_timeout: float = 10.0
    reconnect_window: float = 60.0
    user_agent: str = "livevault/0.1"
    chunk_size: int = 64 * 1024
    progressive_index_interval: float = 1.0
    start_from: str = "live_edge"
    """Where an HLS capture starts in the first playlist: `live_edge` (like a player) or `window_start`."""
    lean_http: bool = True
    """Playlists and segments over the lean keep-alive GET (capture.lean); False: aiohttp for every request."""
    url_signer: Callable[[str], str] | None = None
    """Turns an `s3://bucket/key` address into a presigned HTTP URL (bucket sources); None: no s3:// reads."""


@dataclass(frozen=True, slots=True)
class CaptureProgress:
    elapsed: float
    bytes: int
    segments: int
    gaps: int
    parts: int


@dataclass
class CaptureControl:
    """How the outside world steers a running capture: a stop event and optional limits.

    `max_media` limits the seconds of media captured (the `duration` a user asks for): `media()` reads what
    is captured so far (the spool's running total, including parts written before a restart), and a capture
    with a window to back-fill (`start == "window_start"`) raises the limit by the back-filled seconds with
    `allow_backfill`. `max_duration` is a plain wall-clock limit. `resume_cause`, set by the recorder before
    it captures again after a blip, names the gap the next part follows (instead of a process restart).
    """

    max_duration: float | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    on_progress: Callable[[CaptureProgress], None] | None = None
    started: float = field(default_factory=time.monotonic)
    max_media: float | None = None
    media: Callable[[], float] | None = None
    start: str | None = None
    """Where an HLS capture starts in its first playlist (`live_edge` / `window_start`); None: the engine's."""
    resume_cause: GapCause | None = None
    backfill: float = 0.0
    reconnect_window: float | None = None
    """This recording's reconnect window (seconds); None: the engine's `CaptureOptions.reconnect_window`."""
    live_edge: int | None = None  # the newest media sequence the source announced (HLS), for the lag metric

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def media_seconds(self) -> float:
        return self.media() if self.media is not None else 0.0

    def allow_backfill(self, seconds: float) -> None:
        """Media from before the live edge that does not count against `max_media`."""
        self.backfill += max(0.0, seconds)

    def remaining(self) -> float | None:
        """Seconds until a limit is reached (for the media limit: assuming media keeps arriving in real time)."""
        left: float | None = None
        if self.max_duration is not None:
            left = max(0.0, self.max_duration - self.elapsed())
        if self.max_media is not None:
            media_left = max(0.0, self.max_media + self.backfill - self.media_seconds())
            left = media_left if left is None else min(left, media_left)
        return left

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= _EPSILON

    def should_stop(self) -> bool:
        return self.stop.is_set() or self.expired()

    async def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on stop or deadline; returns True when the capture should end."""
        remaining = self.remaining()
        if remaining is not None:
            seconds = min(seconds, max(remaining, _MEDIA_POLL if self.max_media is not None else 0.0))
        if seconds > 0 and not self.stop.is_set():
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=seconds)
            except TimeoutError:
                pass
        return self.should_stop()


class CaptureEngine(Protocol):
    async def run(self, stream: StreamInfo, spool: Spool, control: CaptureControl) -> CaptureOutcome:
        """Record `stream` into `spool` until it ends, the control says stop, or it cannot continue.

        Args:
            stream: what to pull (URL, headers, format, quality).
            spool: where bytes, the segment index and the gap ledger go.
            control: stop event and deadline.

        Returns:
            Why the capture ended; errors that end it are reported here, not raised.
        """
        ...
