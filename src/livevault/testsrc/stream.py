"""One named live stream: its settings, live clock, epochs, fault switches and records.

Every public method is safe to call from any thread (the test thread flips faults while the server's
event loop serves). Times in records are wall clock (``time.time()``); the live clock is monotonic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import math
import random
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from livevault.testsrc.config import SegmentInfo, StreamConfig, Window
from livevault.testsrc.records import FaultRecord, ProducedSegment, ProgressiveConnection, RequestRecord, ServedSegment
from livevault.testsrc.timeline import Epoch, EpochCause, Timeline

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.testsrc.media import Rendition

MAX_RECORDS = 100_000  # per record list; the oldest half goes when a list is full (long-running servers)


def _trim(records: list[Any]) -> None:
    if len(records) > MAX_RECORDS:
        del records[: MAX_RECORDS // 2]


class LiveStream:
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

    # --- fault switches ---------------------------------------------------------------------

    def error_rate(self, p: float, seed: int = 0) -> None:
        """Answer a fraction ``p`` of segment requests with 503 (deterministic for a seed)."""
        if not 0.0 <= p <= 1.0:
            raise ValueError("p must be within [0, 1]")
        with self._lock:
            self._error_p = p
            # bandit B311: pseudo-random is fine here (test media, not a secret)
            self._rng = random.Random(seed)  # nosec B311
            self._fault("error_rate", None, p=p, seed=seed)

    def stall(self, seconds: float) -> None:
        """For ``seconds``, every request to this stream hangs (the live clock keeps running)."""
        with self._lock:
            self._stall_until = max(self._stall_until, time.monotonic() + seconds)
            self._fault("stall", None, seconds=seconds)
        self._notify()

    def freeze(self, seconds: float) -> None:
        """For ``seconds``, playlists keep answering but stop advancing (an encoder that stalled)."""
        with self._lock:
            now = time.monotonic()
            self._frozen = (now, now + seconds)
            self._fault("freeze", None, seconds=seconds)

    def forbidden(self, seconds: float) -> None:
        """For ``seconds``, every request to this stream answers 403 (a CDN block or an expired signature)."""
        with self._lock:
            self._forbidden_until = max(self._forbidden_until, time.monotonic() + seconds)
            self._fault("forbidden", None, seconds=seconds)

    def login_wall(self, seconds: float) -> None:
        """For ``seconds``, every request to this stream is redirected (302) to the server's ``/login`` page."""
        with self._lock:
            self._login_until = max(self._login_until, time.monotonic() + seconds)
            self._fault("login_wall", None, seconds=seconds)

    def gate(self, now: float | None = None) -> str | None:
        """What a request meets before the stream: "forbidden", "login" or None."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now < self._forbidden_until:
                return "forbidden"
            if now < self._login_until:
                return "login"
        return None

    def sequence_reset(self) -> None:
        """Encoder restart: media sequence from 0, timestamps restart, old segments leave the window."""
        self._change(EpochCause.SEQUENCE_RESET)

    def discontinuity(self) -> None:
        """The next segment gets EXT-X-DISCONTINUITY and a timestamp jump; sequence numbers continue."""
        self._change(EpochCause.DISCONTINUITY)

    def init_change(self) -> None:
        """A new resolution and fMP4 init segment from the next segment on (with a discontinuity)."""
        self._change(EpochCause.INIT_CHANGE)

    def drop_connections(self) -> None:
        """Abruptly close every open progressive (FLV/TS) connection."""
        with self._lock:
            aborts = list(self._aborts.values())
            self._aborts.clear()
            now = time.time()
            for conn in self._connections:
                if conn.open:
                    conn.reason = "dropped"
                    conn.closed_at = now
            self._fault("drop_connections", None, connections=len(aborts))
        self._call_in_loop(lambda: [abort() for abort in aborts])
        self._notify()

    def offline(self, seconds: float, *, reset: bool = False) -> None:
        """For ``seconds``, playlists and progressive endpoints answer 404; open bodies end.

        ``reset``: the stream comes back with its media sequence reset (an encoder restart two seconds
        before the outage ends); else the sequence simply continued.
        """
        with self._lock:
            self._offline_until = max(self._offline_until, time.monotonic() + seconds)
            self._fault("offline", None, seconds=seconds, reset=reset)
        if reset:  # the encoder restarts shortly before the stream is back, so it comes back numbered from 0
            timer = threading.Timer(max(0.0, seconds - min(2.0, seconds / 2)), self.sequence_reset)
            timer.daemon = True
            timer.start()
        self._notify()

    def end(self) -> None:
        """End of stream: EXT-X-ENDLIST, progressive bodies finish, new progressive requests 404."""
        with self._lock:
            if self._end_count is None:
                self._end_count = self._count(time.monotonic())
            self._fault("end", self._end_count)
        self._notify()

    def _change(self, cause: EpochCause) -> None:
        with self._lock:
            now = time.monotonic()
            final = self._final()
            index = self._current(now)
            if final is not None and index >= final:
                self._fault(str(cause), None, ignored="stream ended")
                return
            epoch = self._timeline.change(index, cause)
            self._fault(str(cause), index, epoch=epoch.number)
        self._notify()

    def _fault(self, kind: str, applies_to: int | None, **params: Any) -> None:
        self._faults.append(FaultRecord(kind, time.time(), applies_to, params))

    # --- state the server asks about ----------------------------------------------------------

    def stall_remaining(self, now: float | None = None) -> float:
        with self._lock:
            return max(0.0, self._stall_until - (time.monotonic() if now is None else now))

    def is_offline(self, now: float | None = None) -> bool:
        with self._lock:
            return (time.monotonic() if now is None else now) < self._offline_until

    def should_fail(self) -> bool:
        with self._lock:
            return self._error_p > 0 and self._rng.random() < self._error_p

    def epochs(self) -> list[Epoch]:
        with self._lock:
            return list(self._timeline.epochs)

    # --- records ----------------------------------------------------------------------------

    def record_served(self, segment: ServedSegment) -> ServedSegment:
        with self._lock:
            self._served.append(segment)
            _trim(self._served)
            return segment

    def mark_incomplete(self, record: ServedSegment) -> None:
        """The body of ``record`` could not be written completely after all."""
        with self._lock:
            for position in range(len(self._served) - 1, -1, -1):
                if self._served[position] is record:
                    self._served[position] = dataclasses.replace(record, completed=False)
                    return

    def record_request(self, path: str, status: int, method: str = "GET") -> None:
        with self._lock:
            self._requests.append(RequestRecord(path, status, time.time(), method))
            _trim(self._requests)

    def served(self, variant: str | None = None) -> list[ServedSegment]:
        with self._lock:
            return [s for s in self._served if variant is None or s.variant == variant]

    def produced(self) -> list[ProducedSegment]:
        """Every segment that exists so far, oldest first."""
        with self._lock:
            infos = [self.info(index) for index in range(self._count(time.monotonic()))]
        return [ProducedSegment.of(info, self.wall_started + (info.index + 1) * info.duration) for info in infos]

    def connections(self) -> list[ProgressiveConnection]:
        with self._lock:
            return [conn.snapshot() for conn in self._connections]

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def faults(self) -> list[FaultRecord]:
        with self._lock:
            return list(self._faults)

    def open_connection(self, kind: str, abort: Callable[[], None]) -> ProgressiveConnection:
        with self._lock:
            conn = ProgressiveConnection(len(self._connections), kind, time.time())
            self._connections.append(conn)
            self._aborts[conn.id] = abort
            return conn

    def sent(self, conn: ProgressiveConnection, info: SegmentInfo | None, size: int) -> None:
        with self._lock:
            conn.bytes += size
            if info is not None:
                conn.segments.append((info.index, info.first_frame, info.frame_count))

    def interrupted(self, conn: ProgressiveConnection, index: int) -> None:
        with self._lock:
            conn.interrupted = index

    def close_connection(self, conn: ProgressiveConnection, reason: str) -> None:
        with self._lock:
            self._aborts.pop(conn.id, None)
            if conn.closed_at is None:
                conn.closed_at = time.time()
                conn.reason = conn.reason or reason

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
