"""`LocalStore`: keys are files under one root directory (RECORDINGS_DIR).

Besides the `Store` interface it owns the local naming rules: `path(key)` never leaves the root, and
`claim(key)` creates the file with O_EXCL so that two recordings can never be handed the same file (a taken
name gets `-1`, `-2`, ... before its suffix).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from livevault.storage.base import ObjectInfo, Progress, PutResult, StoreError
from livevault.storage.checksums import file_md5

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_CLAIM_TRIES = 10_000


class LocalStore:
    kind = "local"
    bucket: str | None = None
    public_urls = False

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """The file of `key`; a key that would leave the root is refused.

        Raises:
            StoreError: the key escapes the root.
        """
        target = (self.root / key).resolve()
        if self.root not in target.parents:
            raise StoreError("path escapes the recordings directory", details={"key": key[:200]})
        return target

    def object_key(self, key: str) -> str:
        return key

    def key_of(self, path: Path) -> str:
        return str(PurePosixPath(path.resolve().relative_to(self.root)))

    def candidates(self, key: str) -> Iterator[str]:
        """`key`, then `name-1.ext`, `name-2.ext`, ...: the names a claim tries in order."""
        pure = PurePosixPath(key)
        yield key
        for n in range(1, MAX_CLAIM_TRIES):
            yield str(pure.with_name(f"{pure.stem}-{n}{pure.suffix}"))

    def create_exclusive(self, key: str) -> bool:
        """Create an empty file for `key` unless it exists (O_CREAT | O_EXCL); True when this call created it."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def claim(self, key: str, accept: Callable[[str], bool] | None = None) -> str:
        """The first free name for `key`, created empty with O_EXCL. `accept(name)` may refuse a name the disk
        does not know is taken (the database's claim); a refused name's file is removed again.

        Raises:
            StoreError: no free name.
        """
        for candidate in self.candidates(key):
            if not self.create_exclusive(candidate):
                continue
            if accept is None or accept(candidate):
                return candidate
            self.path(candidate).unlink(missing_ok=True)
        raise StoreError("no free file name", details={"key": key[:200]})

    # -- Store -------------------------------------------------------------------------------------

    def put_file(
        self, key: str, source: Path, *, progress: Progress | None = None,
        checkpoint: Callable[[Progress], None] | None = None,
    ) -> PutResult:
        del progress, checkpoint  # a local copy is one rename or one copy
        target = self.path(key)
        size = source.stat().st_size
        if source.resolve() != target:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            try:
                shutil.copyfile(source, tmp)
                tmp.replace(target)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise StoreError(f"could not write {key}: {exc}", details={"key": key}) from exc
        return PutResult(key=key, size=size, etag=file_md5(target).hex(), parts_sent=1, multipart=False)

    def stat(self, key: str) -> ObjectInfo | None:
        target = self.path(key)
        if not target.is_file():
            return None
        return ObjectInfo(key=key, size=target.stat().st_size, etag=file_md5(target).hex())

    def read(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {key}: {exc}", details={"key": key}) from exc

    def download(self, key: str, target: Path) -> None:
        try:
            shutil.copyfile(self.path(key), target)
        except OSError as exc:
            raise StoreError(f"cannot read {key}: {exc}", details={"key": key}) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found = sorted(
            (self.key_of(p), p) for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".")
        )
        for key, p in found:
            if key.startswith(prefix):
                yield ObjectInfo(key=key, size=p.stat().st_size, etag=None)

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete {key}: {exc}", details={"key": key}) from exc

    def abort(self, key: str, upload_id: str) -> None:
        del key, upload_id  # nothing is ever half-written under a key: copies go through a temp file

    def url(self, key: str, expires: int) -> str:
        del expires  # links that expire are signed by the API (services/delivery)
        return self.object_url(key)

    def object_url(self, key: str) -> str:
        return self.path(key).as_uri()
