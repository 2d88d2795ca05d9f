"""One named live stream: its settings, live clock, epochs and windows, keys and URLs.

Its fault switches are in :mod:`livevault.testsrc.faults` and its records in :mod:`livevault.testsrc.ledger`
(bases of :class:`LiveStream`, re-exported here). Every public method is safe to call from any thread (the
test thread flips faults while the server's event loop serves). Times in records are wall clock
(``time.time()``); the live clock is monotonic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
import random
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from livevault.testsrc.config import SegmentInfo, StreamConfig, Window
from livevault.testsrc.faults import FaultSwitches as FaultSwitches
from livevault.testsrc.ledger import MAX_RECORDS as MAX_RECORDS
from livevault.testsrc.ledger import StreamRecords as StreamRecords
from livevault.testsrc.ledger import _trim as _trim
from livevault.testsrc.records import FaultRecord as FaultRecord
from livevault.testsrc.records import ProducedSegment
from livevault.testsrc.records import ProgressiveConnection as ProgressiveConnection
from livevault.testsrc.records import RequestRecord as RequestRecord
from livevault.testsrc.records import ServedSegment as ServedSegment
from livevault.testsrc.timeline import Epoch, Timeline
from livevault.testsrc.timeline import EpochCause as EpochCause

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.testsrc.media import Rendition


class LiveStream(FaultSwitches):
    """A named stream on a :class:`~livevault.testsrc.server.StreamServer` (see ``server.stream()``)."""

    def __init__(self, name: str, config: StreamConfig, base_url: str = "") -> None:
        self.name = name
        self.config = config
        self.base_url = base_url
        self._lock = threading.RLock()
        duration = config.segment_duration
        self.created = time.monotonic()
        self.started = self.created - config.preroll * duration
        self.wall_started = time.time() - config.preroll * duration
        self._timeline = Timeline(config.rendition("hi").segment_ticks)
        self._end_count: int | None = None
        self._stall_until = 0.0
        self._forbidden_until = 0.0
        self._frozen: tuple[float, float] = (0.0, 0.0)
        self._login_until = 0.0
        self._offline_until = 0.0
        self._error_p = 0.0
        # bandit B311: pseudo-random is fine here (test media, not a secret)
        self._rng = random.Random(0)  # nosec B311
        self._served: list[ServedSegment] = []
        self._connections: list[ProgressiveConnection] = []
        self._aborts: dict[int, Callable[[], None]] = {}
        self._requests: list[RequestRecord] = []
        self._faults: list[FaultRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()

    # --- the live clock ---------------------------------------------------------------------

    @property
    def segment_duration(self) -> float:
        return self.config.segment_duration

    def _current(self, now: float) -> int:
        return max(0, math.floor((now - self.started) / self.config.segment_duration + 1e-9))

    def _final(self) -> int | None:
        limits = [n for n in (self._end_count, self.config.max_segments) if n is not None]
        return min(limits) if limits else None

    def _count(self, now: float) -> int:
        final = self._final()
        current = self._current(now)
        return current if final is None else min(current, final)

    def count(self, now: float | None = None) -> int:
        """How many segments are available (have been completely produced)."""
        with self._lock:
            return self._count(time.monotonic() if now is None else now)

    def final_count(self) -> int | None:
        """The number of segments the stream will ever have, once it is known (end or max_segments)."""
        with self._lock:
            return self._final()

    def ended(self, now: float | None = None) -> bool:
        with self._lock:
            final = self._final()
            return final is not None and self._count(time.monotonic() if now is None else now) >= final

    def available_at(self, index: int) -> float:
        """Monotonic time at which segment ``index`` becomes available."""
        return self.started + (index + 1) * self.config.segment_duration

    def wait_for_segments(self, count: int, timeout: float | None = None) -> int:
        """Block (test thread) until ``count`` segments exist; returns the count. TimeoutError if not in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            available = self.count(now)
            final = self.final_count()
            if available >= count or (final is not None and available >= final):
                return available
            wake = self.available_at(available)
            if deadline is not None:
                if now >= deadline:
                    raise TimeoutError(f"{self.name}: {available} of {count} segments after {timeout}s")
                wake = min(wake, deadline)
            time.sleep(max(0.005, wake - now))

    # --- segments and windows ---------------------------------------------------------------

    def info(self, index: int) -> SegmentInfo:
        with self._lock:
            epoch = self._timeline.epoch_of(index)
        frames = self.config.frames_per_segment
        return SegmentInfo(
            index=index,
            sequence=epoch.sequence_of(index),
            epoch=epoch,
            first_frame=index * frames,
            frame_count=frames,
            duration=self.config.segment_duration,
            program_date_time=self.wall_started + index * self.config.segment_duration,
        )

    def window(self, now: float | None = None) -> Window:
        with self._lock:
            now = time.monotonic() if now is None else now
            frozen_at, frozen_until = self._frozen
            if frozen_at <= now < frozen_until:  # a frozen playlist: what it was when it froze
                now = frozen_at
            count = self._count(now)
            final = self._final()
            group = self._timeline.group_start(count - 1) if count else 0
            first = max(group, count - self.config.window)
            segments = tuple(self.info(index) for index in range(first, count))
            return Window(segments, final is not None and count >= final, group, count)

    def resolve(self, sequence: int, now: float | None = None) -> tuple[SegmentInfo | None, bool]:
        """The segment a URI's sequence number names now, and whether it may still be served."""
        with self._lock:
            now = time.monotonic() if now is None else now
            count = self._count(now)
            if not count:
                return None, False
            index = self._timeline.group_start(count - 1) + sequence
            if sequence < 0 or index >= count:
                return None, False
            info = self.info(index)
            return info, index >= count - 2 * self.config.window

    def rendition(self, variant: str, epoch: Epoch) -> Rendition:
        return self.config.rendition(variant, epoch.alt)

    def produced(self) -> list[ProducedSegment]:
        """Every segment that exists so far, oldest first."""
        with self._lock:
            infos = [self.info(index) for index in range(self._count(time.monotonic()))]
        return [ProducedSegment.of(info, self.wall_started + (info.index + 1) * info.duration) for info in infos]

    def epochs(self) -> list[Epoch]:
        with self._lock:
            return list(self._timeline.epochs)

    # --- AES-128 ----------------------------------------------------------------------------

    def key_period(self, sequence: int) -> int:
        return sequence // self.config.key_period if self.config.key_period else 0

    def key_uri(self, period: int) -> str:
        return f"key-{period}.bin" if self.config.key_period else "key.bin"

    def key(self, period: int) -> bytes:
        return hashlib.sha256(f"livevault-testsrc:{self.name}:key:{period}".encode()).digest()[:16]

    def iv(self, info: SegmentInfo) -> tuple[bytes, bool]:
        """(IV, whether the playlist states it): explicit IVs are per segment, implicit = sequence number."""
        mode = self.config.aes_iv
        explicit = mode == "explicit" or (mode == "alternate" and self.key_period(info.sequence) % 2 == 0)
        if explicit:
            return hashlib.sha256(f"livevault-testsrc:{self.name}:iv:{info.index}".encode()).digest()[:16], True
        return info.sequence.to_bytes(16, "big"), False

    # --- URLs -------------------------------------------------------------------------------

    @property
    def query(self) -> str:
        return f"?token={quote(self.config.token, safe='')}" if self.config.token else ""

    def url(self, path: str = "master.m3u8") -> str:
        return f"{self.base_url}/live/{self.name}/{path}{self.query}"

    @property
    def master_url(self) -> str:
        return self.url("master.m3u8")

    def playlist_url(self, variant: str = "hi") -> str:
        return self.url(f"{variant}/index.m3u8")

    @property
    def flv_url(self) -> str:
        return self.url("stream.flv")

    @property
    def ts_url(self) -> str:
        return self.url("stream.ts")

    def token_ok(self, given: str | None) -> bool:
        expected = self.config.token
        return expected is None or (given is not None and hmac.compare_digest(given.encode(), expected.encode()))

    # --- the event loop side ----------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def _call_in_loop(self, callback: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback)

    def _notify(self) -> None:
        self._call_in_loop(self._wake)

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def wake(self) -> None:
        """Wake everything waiting in :meth:`changed` (thread-safe)."""
        self._notify()

    async def changed(self, timeout: float) -> None:
        """Sleep until ``timeout`` passes or a fault switch flips (event loop only)."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, timeout))
