"""`GET /files` (seeds 000/001)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class FileOut(BaseModel):
    name: str
    size: int
    mtime: datetime | None
    path: str
    recording_id: str
    room_id: str | None
    url: str | None


class FileList(BaseModel):
    items: list[FileOut]
    page: int
    page_size: int
    total: int
    pages: int
