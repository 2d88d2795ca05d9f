"""MD5 checksums the way S3 reports them: the hex MD5 of a single-part object, and `md5(md5(part)...)-N` of a
multipart one (MinIO and R2 report the same), so a remote object can be verified against the local file."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

CHUNK = 1024 * 1024


def file_md5(path: Path, *, offset: int = 0, length: int | None = None) -> bytes:
    """The MD5 digest of `length` bytes of `path` from `offset` (the whole rest of the file when None)."""
    digest = hashlib.md5(usedforsecurity=False)
    remaining = length
    with path.open("rb") as fh:
        fh.seek(offset)
        while remaining is None or remaining > 0:
            block = fh.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    return digest.digest()


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def multipart_etag(path: Path, part_size: int) -> str:
    """What S3 answers as the ETag of `path` uploaded in parts of `part_size` bytes."""
    size = path.stat().st_size
    count = part_count(size, part_size)
    digests = b"".join(file_md5(path, offset=i * part_size, length=part_size) for i in range(count))
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{count}"


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def clean_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None
