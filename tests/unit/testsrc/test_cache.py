"""The shared media cache: one build per key, LRU by bytes, prefetch in the pool."""

from __future__ import annotations

import asyncio
import threading
import time

from livevault.testsrc.cache import Job, MediaCache, shared_cache


def test_concurrent_gets_build_once() -> None:
    cache = MediaCache()
    builds = []

    def build() -> bytes:
        builds.append(1)
        time.sleep(0.05)
        return b"x" * 10

    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(Job("k", build)))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert results == [b"x" * 10] * 8
    assert cache.size == 10
    assert len(cache) == 1


def test_least_recently_used_entries_are_evicted_by_size() -> None:
    cache = MediaCache(max_bytes=25)
    for key in "abc":
        cache.get(Job(key, lambda: b"0123456789"))
    assert cache.peek(Job("a", lambda: b"")) is None
    assert cache.peek(Job("c", lambda: b"")) == b"0123456789"
    assert cache.size == 20
    assert cache.stats.evictions == 1
    cache.clear()
    assert len(cache) == 0


def test_prefetch_builds_in_the_pool_and_aget_finds_it() -> None:
    cache = MediaCache()
    job = Job("p", lambda: b"payload")
    cache.prefetch(job)
    cache.prefetch(job)
    deadline = time.monotonic() + 5
    while cache.peek(job) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.stats.builds == 1
    assert asyncio.run(cache.aget(job)) == b"payload"
    assert asyncio.run(cache.aget(Job("q", lambda: b"built in the pool"))) == b"built in the pool"


def test_a_failed_prefetch_leaves_the_key_buildable() -> None:
    cache = MediaCache()

    def broken() -> bytes:
        raise RuntimeError("no")

    cache.prefetch(Job("f", broken))
    time.sleep(0.1)
    assert cache.get(Job("f", lambda: b"ok")) == b"ok"
    assert shared_cache() is shared_cache()
