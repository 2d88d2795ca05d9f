"""A bounded, thread-safe cache of encoded and muxed media, built at most once per key.

Many streams with the same media settings ask for the same keys; the first caller builds, the others
wait for that build (never for a queued one, so the worker threads cannot deadlock) and then share
the bytes. Builds run in a small thread pool so the event loop never encodes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar, cast

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 384 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Job(Generic[T]):
    """How to build one cached value, and its key."""

    key: Hashable
    build: Callable[[], T]


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    builds: int = 0
    evictions: int = 0


def _size(value: object) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    nbytes = getattr(value, "nbytes", None)
    return nbytes if isinstance(nbytes, int) else 1024


class MediaCache:
    """LRU by total bytes; ``get`` builds on a miss, ``aget`` builds in the pool, ``prefetch`` ahead of need."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, workers: int = 2) -> None:
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._workers = workers
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._building: dict[Hashable, threading.Lock] = {}
        self._pending: set[Hashable] = set()
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="testsrc-media")
            return self._executor

    @property
    def size(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def peek(self, job: Job[T]) -> T | None:
        with self._lock:
            hit = self._entries.get(job.key)
            if hit is None:
                return None
            self._entries.move_to_end(job.key)
            self.stats.hits += 1
            return cast("T", hit[0])

    def get(self, job: Job[T]) -> T:
        """The value, building it in this thread on a miss (or waiting for the thread building it)."""
        with self._lock:
            hit = self._entries.get(job.key)
            if hit is not None:
                self._entries.move_to_end(job.key)
                self.stats.hits += 1
                return cast("T", hit[0])
            key_lock = self._building.setdefault(job.key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._entries.get(job.key)
                if hit is not None:
                    self._entries.move_to_end(job.key)
                    return cast("T", hit[0])
            try:
                value = job.build()
            finally:
                with self._lock:
                    self._building.pop(job.key, None)
            self._store(job.key, value)
            return value

    async def aget(self, job: Job[T]) -> T:
        """The value; a miss is built in the pool while the event loop keeps serving."""
        value = self.peek(job)
        if value is not None:
            return value
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.get, job)

    def prefetch(self, job: Job[T]) -> None:
        """Start building ``job`` in the pool unless it is cached or already on its way."""
        with self._lock:
            if job.key in self._entries or job.key in self._pending or job.key in self._building:
                return
            self._pending.add(job.key)
        self.executor.submit(self._prefetch, job)

    def _prefetch(self, job: Job[T]) -> None:
        try:
            self.get(job)
        except Exception:  # a failed prefetch is retried by whoever needs the value
            log.warning("prefetch of %r failed", job.key, exc_info=True)
        finally:
            with self._lock:
                self._pending.discard(job.key)

    def _store(self, key: Hashable, value: object) -> None:
        size = _size(value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            self.stats.builds += 1
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
                self.stats.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_shared: MediaCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> MediaCache:
    """The process-wide cache every server uses unless given its own."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MediaCache()
        return _shared
