"""Embedded-mode twin of the Redis cache: one process, one lock, the same semantics (rate limits: `cache.limiter`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class MemoryCache:
    """A bounded TTL cache (least recently stored goes first) with in-process generation counters."""

    def __init__(self, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, value = found
            if self._clock() >= expires:
                del self._entries[key]
                return None
            return value

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock() + ttl, value)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def generation(self, name: str) -> int:
        with self._lock:
            return self._generations.get(name, 0)

    def bump(self, name: str) -> int:
        with self._lock:
            value = self._generations.get(name, 0) + 1
            self._generations[name] = value
            return value
