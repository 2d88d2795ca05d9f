"""Watchers: the standing orders the scheduler checks. Claiming due watchers is one short transaction."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from livevault.db.repositories._mapping import checked_changes, plain
from livevault.db.tables import WATCHER_COLUMNS, WatcherRow, utcnow
from livevault.domain.watcher import Watcher, WatcherStatus
from livevault.errors import Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

WatcherList = list[Watcher]
WATCHER_FIELDS = tuple(f.name for f in fields(Watcher))
WATCHER_UPDATABLE = WATCHER_COLUMNS - {"id", "key", "created_at", "updated_at"}


def to_watcher(row: WatcherRow) -> Watcher:
    values = {name: getattr(row, name) for name in WATCHER_FIELDS}
    values["status"] = WatcherStatus(row.status)
    values["options"] = dict(row.options or {})
    return Watcher(**values)


def watcher_values(watcher: Watcher) -> dict[str, Any]:
    values = {name: plain(getattr(watcher, name)) for name in WATCHER_FIELDS}
    values["options"] = dict(watcher.options or {})
    return values


class WatcherRepository:
    """Watchers as `domain.watcher.Watcher`; never commits (the caller's transaction does)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, watcher: Watcher) -> Watcher:
        """Insert a watcher; a key that exists (even deleted) is a Conflict — revive it with `update`."""
        row = WatcherRow(**watcher_values(watcher))
        self._session.add(row)
        try:
            self._session.flush()
        except IntegrityError as exc:
            raise Conflict("a watcher with this key exists", details={"key": watcher.key}) from exc
        return to_watcher(row)

    def _row(self, key: str) -> WatcherRow | None:
        return self._session.scalars(select(WatcherRow).where(WatcherRow.key == key)).first()

    def get(self, key: str, *, include_deleted: bool = False) -> Watcher | None:
        row = self._row(key)
        if row is None or (row.status == WatcherStatus.DELETED.value and not include_deleted):
            return None
        return to_watcher(row)

    def update(self, key: str, **changes: Any) -> Watcher:
        values = checked_changes(changes, WATCHER_UPDATABLE, "watcher")
        row = self._row(key)
        if row is None:
            raise NotFound("Watcher not found", details={"key": key})
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        self._session.flush()
        return to_watcher(row)

    def list(
        self, *, status: WatcherStatus | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[WatcherList, int]:
        """Newest first; deleted watchers only when asked for by status."""
        where = (
            [WatcherRow.status == status.value]
            if status is not None
            else [WatcherRow.status != WatcherStatus.DELETED.value]
        )
        total = self._session.scalar(select(func.count()).select_from(WatcherRow).where(*where)) or 0
        query = (
            select(WatcherRow).where(*where).order_by(WatcherRow.created_at.desc(), WatcherRow.id)
            .limit(limit).offset(offset)
        )
        return [to_watcher(row) for row in self._session.scalars(query)], int(total)

    def count(self, status: WatcherStatus) -> int:
        query = select(func.count()).select_from(WatcherRow).where(WatcherRow.status == status.value)
        return int(self._session.scalar(query) or 0)

    def with_retention_limits(self) -> WatcherList:
        """Watchers (not deleted) that set max_recordings, max_bytes or retention_days."""
        w = WatcherRow
        query = select(w).where(
            w.status != WatcherStatus.DELETED.value,
            or_(w.max_recordings.is_not(None), w.max_bytes.is_not(None), w.retention_days.is_not(None)),
        )
        return [to_watcher(row) for row in self._session.scalars(query)]

    def claim_due(self, now: datetime, limit: int, hold: float) -> WatcherList:
        """Active watchers whose check is due, oldest due first; their next check moves `hold` seconds
        ahead so no other pass (or process) takes them while this one checks them.

        On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent schedulers split the work.
        """
        query = (
            select(WatcherRow)
            .where(WatcherRow.status == WatcherStatus.ACTIVE.value, WatcherRow.next_check_at <= now)
            .order_by(WatcherRow.next_check_at)
            .limit(limit)
        )
        if self._session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(self._session.scalars(query))
        if not rows:
            return []
        claimed = [to_watcher(row) for row in rows]
        held = now + timedelta(seconds=hold)
        self._session.execute(
            update(WatcherRow).where(WatcherRow.id.in_([row.id for row in rows])).values(next_check_at=held)
        )
        return claimed

    def save_checks(self, results: Sequence[dict[str, Any]]) -> None:
        """Write many check results at once; each dict has `id` plus the columns to set."""
        if results:
            self._session.execute(update(WatcherRow), [dict(r) for r in results])

    def next_due(self) -> datetime | None:
        query = select(func.min(WatcherRow.next_check_at)).where(WatcherRow.status == WatcherStatus.ACTIVE.value)
        value: datetime | None = self._session.scalar(query)
        return value
