"""A live test stream's fault switches (flipped from the test thread) and the fault state the server asks about.

`FaultSwitches` is a base of :class:`~livevault.testsrc.stream.LiveStream`, which sets up the state and
provides the live clock and the event-loop wake-ups it uses; every switch is recorded as a fault.
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING

from livevault.testsrc.ledger import StreamRecords
from livevault.testsrc.timeline import EpochCause

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.testsrc.timeline import Timeline


class FaultSwitches(StreamRecords):
    """Errors, stalls, freezes, 403s, login walls, outages, epoch changes, dropped connections and the end."""

    _timeline: Timeline
    _end_count: int | None
    _stall_until: float
    _forbidden_until: float
    _frozen: tuple[float, float]
    _login_until: float
    _offline_until: float
    _error_p: float
    _rng: random.Random

    if TYPE_CHECKING:  # LiveStream's live clock and event-loop side
        def _current(self, now: float) -> int: ...
        def _final(self) -> int | None: ...
        def _count(self, now: float) -> int: ...
        def _call_in_loop(self, callback: Callable[[], object]) -> None: ...
        def _notify(self) -> None: ...

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
