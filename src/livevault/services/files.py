"""The file index (`GET /files`): finished recordings and where their file is (the storage catalog).

Pages are cached for FILES_CACHE_TTL seconds (seed 001 §6.2), keyed by the query under a generation counter
that a completed or deleted recording advances: a page read before the change is never served after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livevault.cache.base import SharedStateUnavailable
from livevault.db.repositories import FileRepository, RecordingRepository
from livevault.domain.files import FileKind

if TYPE_CHECKING:
    from livevault.cache.base import TtlCache
    from livevault.services.uow import Database

log = logging.getLogger(__name__)
FILES_CACHE_TTL = 30.0
GENERATION_KEY = "files:generation"


@dataclass(frozen=True, slots=True)
class FileEntry:
    name: str
    size: int
    mtime: datetime | None
    path: str
    recording_id: str
    room_id: str | None
    url: str | None
    location: str | None = None  # local, s3 or both (None: finished before files were catalogued: local)
    bucket: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class FilePage:
    items: list[FileEntry]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class FileQuery:
    room_id: str | None = None
    url: str | None = None
    from_: datetime | None = None
    to: datetime | None = None
    page: int = 1
    page_size: int = 50

    def digest(self) -> str:
        fields = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def encode_page(page: FilePage) -> bytes:
    items = [{**asdict(item), "mtime": item.mtime.isoformat() if item.mtime else None} for item in page.items]
    return json.dumps({"items": items, "total": page.total, "page": page.page, "page_size": page.page_size}).encode()


def decode_page(data: bytes) -> FilePage:
    raw: dict[str, Any] = json.loads(data)
    items = [
        FileEntry(**{**item, "mtime": datetime.fromisoformat(item["mtime"]) if item["mtime"] else None})
        for item in raw["items"]
    ]
    return FilePage(items=items, total=raw["total"], page=raw["page"], page_size=raw["page_size"])


class FileService:
    def __init__(
        self, recordings_dir: Path, db: Database, cache: TtlCache | None = None, *, ttl: float = FILES_CACHE_TTL
    ) -> None:
        self._root = recordings_dir
        self._db = db
        self._cache = cache
        self._ttl = ttl

    def search(
        self,
        *,
        room_id: str | None = None,
        url: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> FilePage:
        """One page of finished files, newest first; from the cache when an unchanged index was read recently."""
        query = FileQuery(room_id=room_id, url=url, from_=from_, to=to, page=page, page_size=page_size)
        if self._cache is None:
            return self._query(query)
        try:
            key = f"files:page:{self._cache.generation(GENERATION_KEY)}:{query.digest()}"
            cached = self._cache.get(key)
        except SharedStateUnavailable:
            return self._query(query)
        if cached is not None:
            return decode_page(cached)
        result = self._query(query)
        try:
            self._cache.set(key, encode_page(result), self._ttl)
        except SharedStateUnavailable:
            pass
        return result

    def invalidate(self) -> None:
        """A recording completed or was deleted: cached pages are stale. Call after the change is committed."""
        if self._cache is None:
            return
        try:
            self._cache.bump(GENERATION_KEY)
        except SharedStateUnavailable as exc:
            log.warning("files cache not invalidated (%s); pages may be up to %.0f s stale", exc, self._ttl)

    def _query(self, query: FileQuery) -> FilePage:
        def work(session: Any) -> FilePage:
            recordings, total = RecordingRepository(session).files(
                room_id=query.room_id, url=query.url, from_=query.from_, to=query.to,
                limit=query.page_size, offset=(query.page - 1) * query.page_size,
            )
            stored = FileRepository(session).for_recordings([r.id for r in recordings])
            items = []
            for r in recordings:
                video = next((f for f in stored.get(r.id, []) if f.kind is FileKind.VIDEO and f.piece == 0), None)
                items.append(FileEntry(
                    name=Path(r.file_path or "").name,
                    size=r.file_size,
                    mtime=r.completed_at,
                    path=r.file_path or "",
                    recording_id=r.id,
                    room_id=r.room_id,
                    url=r.url,
                    location=video.location.value if video else "local",
                    bucket=video.bucket if video and video.remote else None,
                    key=video.key if video and video.remote else None,
                ))
            return FilePage(items=items, total=total, page=query.page, page_size=query.page_size)

        return self._db.run(work)
