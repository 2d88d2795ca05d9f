"""Recording leases: one recorder per recording, with a fencing token (the `lease_*` columns of `recordings`).
`RecordingRepository` inherits these queries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from livevault.db.tables import RecordingRow

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session


class LeaseQueries:
    """Lease reads and writes on the session of the repository that inherits them."""

    _session: Session

    def claim_lease(self, recording_id: str, owner: str, expires_at: datetime, now: datetime) -> int | None:
        """Take the recording's lease if it is free, lapsed or already `owner`'s; returns the new fencing
        token, or None when another owner holds a live lease. One atomic UPDATE on every database."""
        free = or_(
            RecordingRow.lease_owner.is_(None),
            RecordingRow.lease_expires_at.is_(None),
            RecordingRow.lease_expires_at < now,
            RecordingRow.lease_owner == owner,
        )
        stmt = (
            update(RecordingRow)
            .where(RecordingRow.id == recording_id, free)
            .values(lease_owner=owner, lease_token=RecordingRow.lease_token + 1, lease_expires_at=expires_at)
            .execution_options(synchronize_session=False)
        )
        if self._session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
            return None
        token = self._session.scalar(select(RecordingRow.lease_token).where(RecordingRow.id == recording_id))
        return None if token is None else int(token)

    def renew_leases(self, owner: str, tokens: dict[str, int], expires_at: datetime) -> set[str]:
        """Extend the leases `owner` still holds with these tokens (two statements for any number of them);
        returns the ids still held. An owner id is unique per process, so its rows carry its own tokens."""
        if not tokens:
            return set()
        ids = list(tokens)
        self._session.execute(
            update(RecordingRow)
            .where(RecordingRow.id.in_(ids), RecordingRow.lease_owner == owner)
            .values(lease_expires_at=expires_at)
            .execution_options(synchronize_session=False)
        )
        rows = self._session.execute(
            select(RecordingRow.id, RecordingRow.lease_token)
            .where(RecordingRow.id.in_(ids), RecordingRow.lease_owner == owner)
        )
        return {rid for rid, token in rows if tokens.get(rid) == token}

    def release_lease(self, recording_id: str, owner: str, token: int) -> bool:
        stmt = (
            update(RecordingRow)
            .where(RecordingRow.id == recording_id, RecordingRow.lease_owner == owner,
                   RecordingRow.lease_token == token)
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
        return bool(self._session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]

    def expire_leases(self, recording_ids: list[str], now: datetime) -> None:
        """Mark these leases lapsed (a restarted embedded process takes its own recordings back at once)."""
        if recording_ids:
            self._session.execute(
                update(RecordingRow).where(RecordingRow.id.in_(recording_ids)).values(lease_expires_at=now)
                .execution_options(synchronize_session=False)
            )
