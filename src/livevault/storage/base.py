"""The `Store` interface: put a finished file under a key, verify it, read, list, link and delete it.

Keys are relative POSIX paths (`room/2026/12/06/…mp4`); a store maps them to a file under its root or to an
object in its bucket (with its key prefix). Implementations are synchronous and blocking: services call them
in a thread. Every implementation passes `tests/contract/test_stores.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from livevault.errors import StorageUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


StoreError = StorageUnavailable  # a store operation failed (network, credentials, a mismatch); safe to retry


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None  # S3's ETag without quotes; for a local file the hex MD5
    modified: float | None = None  # last change, Unix seconds (the store's clock), where the listing says
    etag_is_md5: bool = True  # False for objects encrypted with SSE-KMS or SSE-C, whose ETag is no MD5


@dataclass(slots=True)
class Progress:
    """A resumable multipart upload: what the database keeps between attempts, restarts and takeovers."""

    upload_id: str | None = None
    part_size: int = 0
    parts: list[tuple[int, str]] = field(default_factory=list)  # finished (part number, ETag)


@dataclass(frozen=True, slots=True)
class PutResult:
    key: str
    size: int
    etag: str  # the ETag the stored object must report (see checksums.py)
    parts_sent: int  # requests that carried media in this call (1 for a single put)
    multipart: bool


class Store(Protocol):
    kind: str  # "local" or "s3"
    bucket: str | None
    public_urls: bool  # `url` gives public, non-expiring URLs (S3_PUBLIC_BASE_URL)

    def object_key(self, key: str) -> str:
        """The name the store files `key` under (the key prefix applied)."""
        ...

    def put_file(
        self, key: str, source: Path, *, progress: Progress | None = None,
        checkpoint: Callable[[Progress], None] | None = None,
    ) -> PutResult:
        """Store `source` under `key`. A multipart upload resumes from `progress` (finished parts are checked
        against the server and skipped) and calls `checkpoint` after each part and when it starts.

        Raises:
            StoreError: the store failed; the source is untouched.
        """
        ...

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and ETag of the stored object; None when there is none."""
        ...

    def read(self, key: str) -> bytes:
        """The whole object (small objects: thumbnails, tests).

        Raises:
            StoreError: no such object, or the store failed.
        """
        ...

    def download(self, key: str, target: Path) -> None:
        """Copy the object into the file `target` (streamed: any size).

        Raises:
            StoreError: no such object, or the store failed.
        """
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, in key order."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing one is not an error."""
        ...

    def abort(self, key: str, upload_id: str) -> None:
        """Drop an unfinished multipart upload (its parts); an unknown upload is not an error."""
        ...

    def url(self, key: str, expires: int) -> str:
        """A URL that reads the object for `expires` seconds (a public URL may not expire)."""
        ...

    def object_url(self, key: str) -> str:
        """A stable address of the object (not necessarily readable without credentials)."""
        ...


def verify(store: Store, key: str, expected: PutResult) -> ObjectInfo:
    """The stored object must have the size and checksum of what was sent.

    Raises:
        StoreError: missing, or size or checksum differ.
    """
    info = store.stat(key)
    if info is None:
        raise StoreError(f"{key} is missing after the upload", details={"key": key})
    if info.size != expected.size:
        raise StoreError(f"{key}: stored {info.size} bytes, sent {expected.size}", details={"key": key})
    # An SSE-KMS or SSE-C object's ETag is not an MD5 of its bytes, so it cannot be compared; every request
    # that sent those bytes carried Content-MD5, which the server checked on receipt (a mismatch is refused).
    if info.etag is not None and info.etag_is_md5 and info.etag != expected.etag:
        raise StoreError(f"{key}: stored checksum {info.etag} differs from {expected.etag}", details={"key": key})
    return info
