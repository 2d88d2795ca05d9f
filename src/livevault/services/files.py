"""The file index (`GET /files`) and safe resolution of downloadable paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import RecordingRepository
from livevault.errors import NotFound

if TYPE_CHECKING:
    from datetime import datetime

    from livevault.services.uow import Database


@dataclass(frozen=True, slots=True)
class FileEntry:
    name: str
    size: int
    mtime: datetime | None
    path: str
    recording_id: str
    room_id: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class FilePage:
    items: list[FileEntry]
    total: int
    page: int
    page_size: int


class FileService:
    def __init__(self, recordings_dir: Path, db: Database) -> None:
        self._root = recordings_dir
        self._db = db

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
        def work(session: Any) -> FilePage:
            recordings, total = RecordingRepository(session).files(
                room_id=room_id, url=url, from_=from_, to=to, limit=page_size, offset=(page - 1) * page_size
            )
            items = [
                FileEntry(
                    name=Path(r.file_path or "").name,
                    size=r.file_size,
                    mtime=r.completed_at,
                    path=r.file_path or "",
                    recording_id=r.id,
                    room_id=r.room_id,
                    url=r.url,
                )
                for r in recordings
            ]
            return FilePage(items=items, total=total, page=page, page_size=page_size)

        return self._db.run(work)

    def resolve(self, relative: str, *, base: Path | None = None) -> Path:
        """An existing file under `base` (default RECORDINGS_DIR); anything outside it is NotFound."""
        root = (base or self._root).resolve()
        target = (root / relative).resolve()
        if root not in target.parents or not target.is_file():
            raise NotFound("file not found", details={"path": relative})
        return target
