"""TTL caches with generations, and the `/files` page cache built on them (real SQLite, real Redis)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livevault.cache.base import SharedStateUnavailable, TtlCache
from livevault.cache.memory import MemoryCache
from livevault.cache.redis_store import RedisCache, RedisStore
from livevault.db.repositories import RecordingRepository
from livevault.db.session import create_engine_for, make_session_factory, upgrade
from livevault.domain.recording import Recording, RecordingStatus
from livevault.services.files import FileEntry, FilePage, FileService, decode_page, encode_page
from livevault.services.uow import Database
from tests.redisfixtures import closed_port_url, redis_namespace, require_redis

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[TtlCache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    url = require_redis()
    with redis_namespace(url) as namespace:
        store = RedisStore.from_url(url)
        yield RedisCache(store, f"{namespace}:")
        store.close()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'files.db'}")
    upgrade(engine)
    yield Database(make_session_factory(engine))
    engine.dispose()


def add_completed(db: Database, n: int, room_id: str = "room") -> None:
    recording = Recording(
        id=f"00000000-0000-0000-0000-{n:012d}", source_kind="direct", source=f"https://example.com/{n}.m3u8",
        status=RecordingStatus.COMPLETED, created_at=T0, room_id=room_id, file_path=f"{room_id}/{n}.mp4",
        file_size=1000 + n, completed_at=T0 + timedelta(minutes=n),
    )
    db.run(lambda s: RecordingRepository(s).add(recording))


def test_values_expire_and_generations_count_up(cache: TtlCache) -> None:
    assert cache.get("a") is None
    cache.set("a", b"one", ttl=0.2)
    assert cache.get("a") == b"one"
    assert cache.generation("g") == 0
    assert cache.bump("g") == 1
    assert cache.bump("g") == 2
    assert cache.generation("g") == 2
    time.sleep(0.25)
    assert cache.get("a") is None


def test_the_memory_cache_keeps_only_the_newest_entries() -> None:
    clock = Clock()
    cache = MemoryCache(max_entries=2, clock=clock)
    for key in ("a", "b", "c"):
        cache.set(key, key.encode(), ttl=30)
    assert [cache.get(k) for k in ("a", "b", "c")] == [None, b"b", b"c"]
    clock.now += 30
    assert cache.get("b") is None


def test_a_file_page_survives_the_cache_codec() -> None:
    items = [
        FileEntry("1.mp4", 10, T0, "r/1.mp4", "id-1", "r", None),
        FileEntry("2.mp4", 0, None, "", "id-2", None, "https://x/2.m3u8"),
    ]
    page = FilePage(items=items, total=7, page=2, page_size=2)
    assert decode_page(encode_page(page)) == page


def test_files_pages_are_served_from_the_cache_until_a_recording_changes(
    cache: TtlCache, database: Database, tmp_path: Path
) -> None:
    files = FileService(tmp_path, database, cache)
    add_completed(database, 1)
    assert files.search().total == 1
    # Given a recording committed without telling the file index (as a second process would before invalidating)
    add_completed(database, 2)
    # Then the same query is still the cached page, but another query is fresh
    assert files.search().total == 1
    assert files.search(page_size=10).total == 2
    # When a completion or delete invalidates the index, every query is fresh again
    files.invalidate()
    page = files.search()
    assert page.total == 2
    assert [item.recording_id[-1] for item in page.items] == ["2", "1"]
    assert page.items[0].mtime == T0 + timedelta(minutes=2)


def test_a_page_read_before_an_invalidation_is_not_cached_for_after_it(
    cache: TtlCache, database: Database, tmp_path: Path
) -> None:
    files = FileService(tmp_path, database, cache)
    generation = cache.generation("files:generation")
    stale = files.search(room_id="room")  # cached under the current generation
    add_completed(database, 3)
    files.invalidate()
    assert cache.generation("files:generation") == generation + 1
    assert stale.total == 0
    assert files.search(room_id="room").total == 1


def test_without_redis_the_file_index_reads_the_database(database: Database, tmp_path: Path) -> None:
    down = RedisStore.from_url(closed_port_url())
    files = FileService(tmp_path, database, RedisCache(down, "livevault:"))
    add_completed(database, 1)
    assert files.search().total == 1
    add_completed(database, 2)
    assert files.search().total == 2
    files.invalidate()  # logged, not raised
    with pytest.raises(SharedStateUnavailable):
        RedisCache(down, "livevault:").get("x")
    down.close()
