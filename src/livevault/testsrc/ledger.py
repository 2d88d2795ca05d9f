"""A live test stream's records: served segments, requests, faults and progressive connections.

`StreamRecords` is a base of :class:`~livevault.testsrc.stream.LiveStream`, which sets up the state it keeps
(under the stream's lock); the methods are safe to call from any thread. Times are wall clock.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from livevault.testsrc.records import FaultRecord, ProgressiveConnection, RequestRecord, ServedSegment

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from livevault.testsrc.config import SegmentInfo

MAX_RECORDS = 100_000  # per record list; the oldest half goes when a list is full (long-running servers)


def _trim(records: list[Any]) -> None:
    if len(records) > MAX_RECORDS:
        del records[: MAX_RECORDS // 2]


class StreamRecords:
    """What a stream served, was asked and went through; set up by ``LiveStream.__init__``."""

    _lock: threading.RLock
    _served: list[ServedSegment]
    _connections: list[ProgressiveConnection]
    _aborts: dict[int, Callable[[], None]]
    _requests: list[RequestRecord]
    _faults: list[FaultRecord]

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

    def _fault(self, kind: str, applies_to: int | None, **params: Any) -> None:
        self._faults.append(FaultRecord(kind, time.time(), applies_to, params))
