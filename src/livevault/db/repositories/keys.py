"""API keys managed in the database, and the quota counts of what a key made (recordings, watchers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select, update

from livevault.db.tables import ApiKeyRow, RecordingRow, WatcherRow
from livevault.domain.keys import ApiKey
from livevault.domain.recording import ACTIVE_RECORDING_STATUSES
from livevault.domain.watcher import WatcherStatus

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session


def to_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, scope=row.scope, prefix=row.prefix, key_hash=row.key_hash,
                  created_at=row.created_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at,
                  max_recordings=row.max_recordings, max_watchers=row.max_watchers)


class ApiKeyRepository:
    """Keys as `domain.keys.ApiKey`; never commits (the caller's transaction does)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key: ApiKey) -> ApiKey:
        row = ApiKeyRow(id=key.id, name=key.name, scope=key.scope, prefix=key.prefix, key_hash=key.key_hash,
                        created_at=key.created_at, max_recordings=key.max_recordings, max_watchers=key.max_watchers)
        self._session.add(row)
        self._session.flush()
        return to_key(row)

    def get(self, key_id: str) -> ApiKey | None:
        row = self._session.get(ApiKeyRow, key_id)
        return to_key(row) if row is not None else None

    def by_prefix(self, prefix: str) -> ApiKey | None:
        row = self._session.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).first()
        return to_key(row) if row is not None else None

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if not include_revoked:
            query = query.where(ApiKeyRow.revoked_at.is_(None))
        return [to_key(row) for row in self._session.scalars(query)]

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark the key revoked (a second revoke keeps the first time); None when there is no such key."""
        self._session.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                              .values(revoked_at=at))
        return self.get(key_id)

    def touch(self, key_id: str, at: datetime, *, not_since: datetime) -> bool:
        """Set last_used_at to `at` unless it is already after `not_since` (one write per interval, any process)."""
        result = self._session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id,
                   or_(ApiKeyRow.last_used_at.is_(None), ApiKeyRow.last_used_at < not_since))
            .values(last_used_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    # -- quotas ------------------------------------------------------------------------------------

    def active_recordings(self, key_id: str) -> int:
        statuses = [s.value for s in ACTIVE_RECORDING_STATUSES]
        query = select(func.count()).select_from(RecordingRow).where(
            RecordingRow.api_key_id == key_id, RecordingRow.status.in_(statuses))
        return int(self._session.scalar(query) or 0)

    def watchers(self, key_id: str) -> int:
        query = select(func.count()).select_from(WatcherRow).where(
            WatcherRow.api_key_id == key_id, WatcherRow.status != WatcherStatus.DELETED.value)
        return int(self._session.scalar(query) or 0)

    def own_recording(self, recording_id: str, key_id: str) -> None:
        self._session.execute(update(RecordingRow).where(RecordingRow.id == recording_id).values(api_key_id=key_id))

    def own_watcher(self, watcher_id: str, key_id: str) -> None:
        self._session.execute(update(WatcherRow).where(WatcherRow.id == watcher_id).values(api_key_id=key_id))
