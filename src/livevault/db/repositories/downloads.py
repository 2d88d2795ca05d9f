"""Downloads: one row per video of a `POST /downloads` batch (seed 003); the batch id is its job's id."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError

from livevault.db.repositories._mapping import checked_changes, plain
from livevault.db.tables import DOWNLOAD_COLUMNS, DownloadRow
from livevault.errors import Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session


class DownloadStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


FINISHED_DOWNLOAD_STATUSES = frozenset({DownloadStatus.COMPLETED, DownloadStatus.FAILED})


@dataclass(frozen=True, slots=True)
class Download:
    """One video of a batch: where it came from, how it was fetched, what landed on disk."""

    id: str
    batch_id: str
    url: str
    strategy: str
    status: DownloadStatus
    created_at: datetime
    position: int = 0
    file_path: str | None = None
    file_size: int = 0
    title: str | None = None
    author: str | None = None
    duration: float | None = None
    video_info: dict[str, Any] | None = None
    keyframes: dict[str, Any] | None = None
    execution_time: float | None = None
    attempts: int = 0
    error_code: str | None = None
    error_message: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


DOWNLOAD_FIELDS = tuple(f.name for f in fields(Download))
DOWNLOAD_UPDATABLE = DOWNLOAD_COLUMNS - {"id", "batch_id", "position", "url", "created_at"}
DownloadList = list[Download]
DownloadsAndTotal = tuple[list[Download], int]
BatchIds = list[str]


def download_values(download: Download) -> dict[str, Any]:
    return {name: plain(getattr(download, name)) for name in DOWNLOAD_FIELDS}


def to_download(row: DownloadRow) -> Download:
    values = {name: getattr(row, name) for name in DOWNLOAD_FIELDS}
    values["status"] = DownloadStatus(row.status)
    for name in ("video_info", "keyframes"):
        values[name] = None if values[name] is None else dict(values[name])
    return Download(**values)


class DownloadRepository:
    """Downloads as `Download`; never commits (the caller's transaction does)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_all(self, downloads: Sequence[Download]) -> DownloadList:
        """Insert the videos of a new batch; an existing id is a Conflict."""
        rows = [DownloadRow(**download_values(d)) for d in downloads]
        self._session.add_all(rows)
        try:
            self._session.flush()
        except IntegrityError as exc:
            raise Conflict("download already exists") from exc
        return [to_download(row) for row in rows]

    def get(self, download_id: str) -> Download | None:
        row = self._session.get(DownloadRow, download_id)
        return None if row is None else to_download(row)

    def update(self, download_id: str, **changes: Any) -> Download:
        """Set columns by name; NotFound when the id is unknown."""
        values = checked_changes(changes, DOWNLOAD_UPDATABLE, "download")
        row = self._session.get(DownloadRow, download_id)
        if row is None:
            raise NotFound("Download not found", details={"id": download_id})
        for name, value in values.items():
            setattr(row, name, value)
        self._session.flush()
        return to_download(row)

    def for_batch(self, batch_id: str) -> DownloadList:
        """The batch's videos in the order they were given."""
        query = select(DownloadRow).where(DownloadRow.batch_id == batch_id).order_by(DownloadRow.position)
        return [to_download(row) for row in self._session.scalars(query)]

    def list(
        self,
        *,
        batch_id: str | None = None,
        status: DownloadStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> DownloadsAndTotal:
        """One page, newest batch first and in batch order within it, and the total that match."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        d = DownloadRow
        conditions: list[ColumnElement[bool]] = []
        if batch_id is not None:
            conditions.append(d.batch_id == batch_id)
        if status is not None:
            conditions.append(d.status == plain(status))
        total = self._session.scalar(select(func.count()).select_from(d).where(*conditions)) or 0
        query = (
            select(d)
            .where(*conditions)
            .order_by(d.created_at.desc(), d.batch_id, d.position)
            .limit(limit)
            .offset(offset)
        )
        return [to_download(row) for row in self._session.scalars(query)], total

    def unfinished_batches(self) -> BatchIds:
        """Batches with a video still pending or running (what a restart resumes)."""
        unfinished = [DownloadStatus.PENDING.value, DownloadStatus.RUNNING.value]
        query = select(DownloadRow.batch_id).where(DownloadRow.status.in_(unfinished)).distinct()
        return sorted(self._session.scalars(query))
