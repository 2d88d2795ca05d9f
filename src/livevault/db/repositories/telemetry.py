"""What the metrics read from the database at scrape time: counts, and the health of running recordings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from livevault.db.tables import RecordingRow, WatcherRow
from livevault.domain.recording import RecordingStatus
from livevault.domain.watcher import WatcherStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class TelemetryRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def recordings_by_status(self) -> dict[str, int]:
        rows = self._session.execute(select(RecordingRow.status, func.count()).group_by(RecordingRow.status))
        return {str(status): int(count) for status, count in rows}

    def active_watchers(self) -> int:
        query = select(func.count()).select_from(WatcherRow).where(WatcherRow.status == WatcherStatus.ACTIVE.value)
        return int(self._session.scalar(query) or 0)

    def recording_files(self) -> int:
        query = select(func.count()).select_from(RecordingRow).where(
            RecordingRow.status == RecordingStatus.COMPLETED.value, RecordingRow.file_path.is_not(None))
        return int(self._session.scalar(query) or 0)

    def health(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(recording id, source kind, health) of every recording in `recording` that has reported health."""
        query = select(RecordingRow.id, RecordingRow.source_kind, RecordingRow.health).where(
            RecordingRow.status == RecordingStatus.RECORDING.value, RecordingRow.health.is_not(None))
        return [(rid, kind, dict(h)) for rid, kind, h in self._session.execute(query) if h]
