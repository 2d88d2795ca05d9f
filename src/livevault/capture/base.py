"""The contract every capture engine follows, and the knobs it is given."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.capture.spool import Spool
    from livevault.domain.capture import CaptureOutcome
    from livevault.domain.stream import StreamInfo


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
    """How the outside world steers a running capture: a stop event and an optional wall-clock limit."""

    max_duration: float | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    on_progress: Callable[[CaptureProgress], None] | None = None
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float | None:
        if self.max_duration is None:
            return None
        return max(0.0, self.max_duration - self.elapsed())

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def should_stop(self) -> bool:
        return self.stop.is_set() or self.expired()

    async def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on stop or deadline; returns True when the capture should end."""
        remaining = self.remaining()
        if remaining is not None:
            seconds = min(seconds, remaining)
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
