"""`GET /files` (seeds 000/001)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FileOut(BaseModel):
    name: str
    size: int
    mtime: datetime | None
    path: str
    recording_id: str
    room_id: str | None
    url: str | None
    location: str | None = Field(default=None, description="where the file is: local, s3 or both")
    bucket: str | None = None
    key: str | None = None


class FileList(BaseModel):
    items: list[FileOut]
    page: int
    page_size: int
    total: int
    pages: int
