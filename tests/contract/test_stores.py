"""The storage contract: the same cases against every `Store` (the local disk and S3 on a moto server)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx
import pytest

from livevault.errors import StorageUnavailable
from livevault.storage.base import Progress, Store, verify
from livevault.storage.checksums import multipart_etag
from livevault.storage.local import LocalStore
from livevault.storage.s3 import MIN_PART_SIZE, S3Config, S3Store
from tests.s3fixtures import ACCESS_KEY, REGION, SECRET_KEY, MotoServer

PART = MIN_PART_SIZE


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    server: MotoServer = request.getfixturevalue("moto_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    return S3Store(S3Config(bucket=bucket, endpoint_url=server.url, access_key_id=ACCESS_KEY,
                            secret_access_key=SECRET_KEY, region=REGION, force_path_style=True,
                            key_prefix="prefix/", multipart_threshold=PART, part_size=PART))


def _file(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def _fetch(url: str) -> bytes:
    if url.startswith("file:"):
        return Path(url2pathname(urlsplit(url).path)).read_bytes()
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return response.content


def test_put_stat_read_list_delete(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path, "a.mp4", 1000)
    result = store.put_file("room/2026/a.mp4", source)
    assert result.size == 1000
    assert not result.multipart
    info = verify(store, "room/2026/a.mp4", result)
    assert info.size == 1000
    assert info.etag == hashlib.md5(source.read_bytes()).hexdigest()
    assert store.read("room/2026/a.mp4") == source.read_bytes()
    store.download("room/2026/a.mp4", tmp_path / "copy.mp4")
    assert (tmp_path / "copy.mp4").read_bytes() == source.read_bytes()
    store.put_file("room/2026/b.jpg", _file(tmp_path, "b.jpg", 10))
    store.put_file("other/c.mp4", _file(tmp_path, "c.mp4", 10))
    assert [o.key for o in store.list("room/")] == ["room/2026/a.mp4", "room/2026/b.jpg"]
    store.delete("room/2026/a.mp4")
    assert store.stat("room/2026/a.mp4") is None
    store.delete("room/2026/a.mp4")  # deleting what is gone is fine
    assert [o.key for o in store.list("room/")] == ["room/2026/b.jpg"]


def test_missing_object(store: Store) -> None:
    assert store.stat("nope/missing.mp4") is None
    with pytest.raises(StorageUnavailable):
        store.read("nope/missing.mp4")


def test_large_file_is_verified_by_checksum(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path, "big.mp4", 2 * PART + 12345)
    result = store.put_file("big/big.mp4", source)
    if result.multipart:
        assert result.etag == multipart_etag(source, PART)
        assert result.parts_sent == 3
    info = verify(store, "big/big.mp4", result)
    assert info.size == source.stat().st_size
    assert store.read("big/big.mp4") == source.read_bytes()


def test_interrupted_upload_resumes_from_finished_parts(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path, "resume.mp4", 3 * PART + 1)
    saved: list[Progress] = []

    class Crash(Exception):
        pass

    def crash_after_two(progress: Progress) -> None:
        saved.append(Progress(progress.upload_id, progress.part_size, list(progress.parts)))
        if len(progress.parts) == 2:
            raise Crash

    try:
        store.put_file("r/resume.mp4", source, checkpoint=crash_after_two)
    except Crash:
        pass
    progress = saved[-1] if saved else Progress()
    finished_before = len(progress.parts)
    result = store.put_file("r/resume.mp4", source, progress=progress)
    if result.multipart:
        assert finished_before == 2
        assert result.parts_sent == 2  # of 4: the two finished parts were not sent again
    verify(store, "r/resume.mp4", result)
    assert store.read("r/resume.mp4") == source.read_bytes()


def test_url_reads_the_object(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path, "u.jpg", 777)
    store.put_file("u/u.jpg", source)
    assert _fetch(store.url("u/u.jpg", 60)) == source.read_bytes()
    assert "u/u.jpg" in store.object_url("u/u.jpg")


def test_overwrite_replaces(store: Store, tmp_path: Path) -> None:
    store.put_file("o/o.mp4", _file(tmp_path, "o1.mp4", 50))
    second = _file(tmp_path, "o2.mp4", 70)
    result = store.put_file("o/o.mp4", second)
    assert verify(store, "o/o.mp4", result).size == 70


def test_abort_unknown_upload_is_harmless(store: Store) -> None:
    store.abort("x/none.mp4", "no-such-upload")


def test_local_store_claims_exclusively_and_stays_under_its_root(tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "rec")
    first = local.claim("room/a.mp4")
    second = local.claim("room/a.mp4")
    assert (first, second) == ("room/a.mp4", "room/a-1.mp4")
    refused: list[str] = []

    def db_says_taken(name: str) -> bool:
        refused.append(name)
        return len(refused) > 1

    assert local.claim("room/b.mp4", db_says_taken) == "room/b-1.mp4"
    assert not (tmp_path / "rec" / "room" / "b.mp4").exists()  # the refused name's file was removed again
    with pytest.raises(StorageUnavailable):
        local.path("../escape.mp4")


