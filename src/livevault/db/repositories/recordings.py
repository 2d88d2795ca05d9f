"""Recordings: the one place that reads and writes the `recordings` table and its ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from livevault.db.repositories import ledger as ledger_rows
from livevault.db.repositories._mapping import (
    RECORDING_UPDATABLE,
    checked_changes,
    plain,
    recording_values,
    to_recording,
)
from livevault.db.repositories.leases import LeaseQueries
from livevault.db.tables import CAPTURING_WHERE, RecordingRow, utcnow
from livevault.domain.capture import GapRecord
from livevault.domain.recording import (
    ACTIVE_RECORDING_STATUSES,
    CAPTURING_RECORDING_STATUSES,
    FINISHED_RECORDING_STATUSES,
    Recording,
    RecordingStatus,
    can_transition,
)
from livevault.errors import AlreadyRecording, Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from livevault.db.repositories.ledger import Ledger
    from livevault.domain.capture import PartInfo, SegmentRecord

# Aliases: inside the class, `list` is the method below, not the builtin.
RecordingList = list[Recording]
RecordingsAndTotal = tuple[list[Recording], int]
GapList = list[GapRecord]

_COMPLETED = RecordingStatus.COMPLETED.value
_CAPTURING_INDEX = "uq_recordings_capturing_source"


def already_recording(active: Recording) -> AlreadyRecording:
    """409 ALREADY_RECORDING naming the recording that holds the source."""
    return AlreadyRecording(
        f"this source is already being recorded by recording {active.id}; stop it or wait for it to end",
        details={"recording_id": active.id, "task_id": active.job_id, "status": active.status.value,
                 "source_key": active.source_key},
    )


def _page_bounds(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")


class RecordingRepository(LeaseQueries):
    """Recordings as `domain.recording.Recording`; never commits (the caller's transaction does)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # -- single recordings -------------------------------------------------------------------

    def add(self, recording: Recording, spool_dir: str | None = None) -> Recording:
        """Insert a new recording; an existing id is a Conflict.

        A recording with a `source_key` whose source already has a capturing recording is AlreadyRecording:
        with that recording's id when this transaction can see it; without, when another transaction inserted
        it at the same moment (the unique index refused this row) — the caller looks it up in a new transaction.
        """
        if recording.source_key and recording.status in CAPTURING_RECORDING_STATUSES:
            active = self.capturing(recording.source_key)
            if active is not None:
                raise already_recording(active)
        row = RecordingRow(**recording_values(recording), spool_dir=spool_dir, updated_at=utcnow())
        self._session.add(row)
        try:
            self._session.flush()
        except IntegrityError as exc:
            message = str(exc.orig)
            if recording.source_key and ("source_key" in message or _CAPTURING_INDEX in message):
                raise AlreadyRecording(
                    "this source is already being recorded", details={"source_key": recording.source_key}
                ) from exc
            raise Conflict("recording already exists", details={"id": recording.id}) from exc
        return to_recording(row)

    def capturing(self, source_key: str) -> Recording | None:
        """The pending or recording recording of this source, if any (there is at most one).

        The status condition is the partial index's own predicate as literal SQL (no bound parameters), so
        both databases answer from `uq_recordings_capturing_source`."""
        query = select(RecordingRow).where(RecordingRow.source_key == source_key, text(CAPTURING_WHERE))
        row = self._session.scalars(query.limit(1)).first()
        return None if row is None else to_recording(row)

    def get(self, recording_id: str) -> Recording | None:
        row = self._session.get(RecordingRow, recording_id)
        return None if row is None else to_recording(row)

    def get_for_update(self, recording_id: str) -> Recording | None:
        """Like `get`, but locks the row until the transaction ends (PostgreSQL; plain read on SQLite)."""
        row = self._locked_row(recording_id)
        return None if row is None else to_recording(row)

    def update(self, recording_id: str, **changes: Any) -> Recording:
        """Set columns by name (not `status`: see `set_status`); NotFound when the id is unknown."""
        values = checked_changes(changes, RECORDING_UPDATABLE, "recording")
        row = self._row(recording_id)
        return self._apply(row, values)

    def set_status(self, recording_id: str, status: RecordingStatus, **changes: Any) -> Recording:
        """Move to `status` if the domain allows it from the current one (else Conflict), setting `changes`."""
        values = checked_changes(changes, RECORDING_UPDATABLE, "recording")
        row = self._locked_row(recording_id)
        if row is None:
            raise NotFound("Recording not found", details={"id": recording_id})
        current, target = RecordingStatus(row.status), RecordingStatus(status)
        if not can_transition(current, target):
            raise Conflict(
                f"recording cannot go from {current.value} to {target.value}",
                details={"id": recording_id, "status": current.value, "requested": target.value},
            )
        values["status"] = target.value
        return self._apply(row, values)

    def save_progress(self, counters: list[dict[str, Any]]) -> None:
        """Running counters of many recordings in one executemany UPDATE.

        Each item: `id`, `segments_captured`, `segments_missing`, `bytes_captured`, `parts_count`, and
        optionally `health` (a running capture's health for the metrics; every item or none).
        """
        if not counters:
            return
        stmt = (
            update(RecordingRow)
            .where(RecordingRow.id == bindparam("rid"))
            .values(
                segments_captured=bindparam("segments_captured"),
                segments_missing=bindparam("segments_missing"),
                bytes_captured=bindparam("bytes_captured"),
                parts_count=bindparam("parts_count"),
                updated_at=utcnow(),
                **({"health": bindparam("health")} if "health" in counters[0] else {}),
            )
        )
        rows = [{**{k: v for k, v in c.items() if k != "id"}, "rid": c["id"]} for c in counters]
        self._session.connection().execute(stmt, rows)

    def stop_requested(self, recording_ids: list[str]) -> set[str]:
        """Which of these recordings were asked to stop (possibly by another process)."""
        if not recording_ids:
            return set()
        stmt = select(RecordingRow.id).where(RecordingRow.id.in_(recording_ids), RecordingRow.stop_requested)
        return set(self._session.scalars(stmt))

    def outcomes(self, recording_ids: list[str]) -> dict[str, tuple[RecordingStatus, str | None, str | None]]:
        """(status, error_code, error_message) of each of these recordings that still exists."""
        if not recording_ids:
            return {}
        stmt = select(RecordingRow.id, RecordingRow.status, RecordingRow.error_code,
                      RecordingRow.error_message).where(RecordingRow.id.in_(recording_ids))
        return {rid: (RecordingStatus(status), code, message)
                for rid, status, code, message in self._session.execute(stmt)}

    def lapsed(self, now: datetime, pending_before: datetime, limit: int = 500) -> RecordingList:
        """Active recordings nobody is working on: a lease that lapsed (its worker died), or a pending
        recording that no worker picked up in time (its queued job was lost, e.g. with a Redis restart)."""
        lapsed_lease = and_(RecordingRow.lease_expires_at.is_not(None), RecordingRow.lease_expires_at < now,
                            RecordingRow.status.in_([RecordingStatus.RECORDING.value,
                                                     RecordingStatus.PROCESSING.value]))
        stale_pending = and_(  # pushed recordings start `recording` before any worker holds them
            RecordingRow.status.in_([RecordingStatus.PENDING.value, RecordingStatus.RECORDING.value]),
            RecordingRow.lease_owner.is_(None), RecordingRow.lease_expires_at.is_(None),
            RecordingRow.created_at < pending_before)
        query = select(RecordingRow).where(or_(lapsed_lease, stale_pending)).order_by(RecordingRow.created_at)
        return [to_recording(row) for row in self._session.scalars(query.limit(limit))]

    def request_stop(self, recording_id: str) -> Recording:
        return self.update(recording_id, stop_requested=True)

    def spool_dir(self, recording_id: str) -> str | None:
        return self._row(recording_id).spool_dir

    def delete(self, recording_id: str) -> None:
        """Delete the recording; the database cascades to its ledger and unlinks its jobs."""
        self._row(recording_id)
        self._session.execute(
            delete(RecordingRow).where(RecordingRow.id == recording_id),
            execution_options={"synchronize_session": "fetch"},
        )
        self._session.expire_all()  # jobs in this session may hold the old recording_id

    # -- queries -----------------------------------------------------------------------------

    def active(self) -> RecordingList:
        """Pending, recording and processing recordings, oldest first (what a restart recovers)."""
        statuses = sorted(s.value for s in ACTIVE_RECORDING_STATUSES)
        query = (
            select(RecordingRow)
            .where(RecordingRow.status.in_(statuses))
            .order_by(RecordingRow.created_at, RecordingRow.id)
        )
        return [to_recording(row) for row in self._session.scalars(query)]

    def list(
        self,
        *,
        status: RecordingStatus | None = None,
        source_kind: str | None = None,
        source: str | None = None,
        room_id: str | None = None,
        url: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        completed_only: bool = False,
        limit: int = 50,
        offset: int = 0,
        watcher_key: str | None = None,
    ) -> RecordingsAndTotal:
        """One page, newest first (created_at, then id, descending), and the total that match."""
        _page_bounds(limit, offset)
        r = RecordingRow
        conditions: list[ColumnElement[bool]] = []
        for column, value in (
            (r.status, plain(status)),
            (r.source_kind, source_kind),
            (r.source, source),
            (r.room_id, room_id),
            (r.url, url),
            (r.watcher_key, watcher_key),
        ):
            if value is not None:
                conditions.append(column == value)
        if completed_only:
            conditions.append(r.status == _COMPLETED)
        if created_from is not None:
            conditions.append(r.created_at >= created_from)
        if created_to is not None:
            conditions.append(r.created_at <= created_to)
        return self._page(conditions, (r.created_at.desc(), r.id.desc()), limit, offset)

    def files(
        self,
        *,
        room_id: str | None = None,
        url: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> RecordingsAndTotal:
        """Completed recordings that have a file, newest completed first; `from_`/`to` bound completed_at.

        Served by the partial index `ix_recordings_files` (status, completed_at, id).
        """
        _page_bounds(limit, offset)
        r = RecordingRow
        conditions: list[ColumnElement[bool]] = [r.status == _COMPLETED, r.file_path.is_not(None)]
        if room_id is not None:
            conditions.append(r.room_id == room_id)
        if url is not None:
            conditions.append(r.url == url)
        if from_ is not None:
            conditions.append(r.completed_at >= from_)
        if to is not None:
            conditions.append(r.completed_at <= to)
        return self._page(conditions, (r.completed_at.desc(), r.id.desc()), limit, offset)

    def retention_candidates(
        self, *, created_before: datetime | None, watcher_keys: Collection[str], everything: bool = False,
        limit: int = 200_000,
    ) -> RecordingList:
        """Completed and failed recordings that are not pinned, oldest first: those created before
        `created_before`, or started by one of `watcher_keys` (all of them when `everything`)."""
        r = RecordingRow
        statuses = sorted(s.value for s in FINISHED_RECORDING_STATUSES)
        conditions: list[ColumnElement[bool]] = [r.status.in_(statuses), r.pinned.is_(False)]
        if not everything:
            wanted: list[ColumnElement[bool]] = []
            if created_before is not None:
                wanted.append(r.created_at < created_before)
            if watcher_keys:
                wanted.append(r.watcher_key.in_(sorted(watcher_keys)))
            if not wanted:
                return []
            conditions.append(or_(*wanted))
        query = select(r).where(*conditions).order_by(r.created_at, r.id).limit(limit)
        return [to_recording(row) for row in self._session.scalars(query)]

    # -- ledger ------------------------------------------------------------------------------

    def replace_ledger(
        self,
        recording_id: str,
        parts: Sequence[PartInfo],
        segments: Sequence[SegmentRecord],
        gaps: Sequence[GapRecord],
    ) -> None:
        """Store the recording's parts, segment index and gaps, replacing any stored before."""
        self._row(recording_id)
        ledger_rows.replace_ledger(self._session, recording_id, parts, segments, gaps)

    def ledger(self, recording_id: str) -> Ledger:
        """(parts by index, segments in written order, gaps in written order); empty when none."""
        return ledger_rows.read_ledger(self._session, recording_id)

    def gaps(self, recording_id: str) -> GapList:
        return ledger_rows.read_gaps(self._session, recording_id)

    # -- helpers -----------------------------------------------------------------------------

    def _row(self, recording_id: str) -> RecordingRow:
        row = self._session.get(RecordingRow, recording_id)
        if row is None:
            raise NotFound("Recording not found", details={"id": recording_id})
        return row

    def _locked_row(self, recording_id: str) -> RecordingRow | None:
        query = (
            select(RecordingRow)
            .where(RecordingRow.id == recording_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return self._session.scalars(query).one_or_none()

    def _apply(self, row: RecordingRow, values: dict[str, Any]) -> Recording:
        for name, value in values.items():
            setattr(row, name, value)
        self._session.flush()
        return to_recording(row)

    def _page(
        self, conditions: Sequence[ColumnElement[bool]], order: Sequence[ColumnElement[Any]], limit: int, offset: int
    ) -> RecordingsAndTotal:
        total = self._session.scalar(select(func.count()).select_from(RecordingRow).where(*conditions)) or 0
        query = select(RecordingRow).where(*conditions).order_by(*order).limit(limit).offset(offset)
        return [to_recording(row) for row in self._session.scalars(query)], total
