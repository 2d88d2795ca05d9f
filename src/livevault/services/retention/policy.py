"""The retention policy as one pure function: which finished recordings go, and why.

Rules, applied to finished (completed or failed), unpinned recordings only — a pinned recording and one that
is pending, recording or processing are never chosen, whatever the limits say:

1. Age: older (by `completed_at`, else `created_at`) than the watcher's `retention_days` when the recording
   came from a watcher that sets it, else than LIVEVAULT_RETENTION_DAYS. Unset or 0 keeps forever.
2. Per watcher, counting from its newest recording: beyond `max_recordings`, or past `max_bytes` in total
   (bytes of the file, or of the captured parts when a recording has no file). Pinned recordings do not count.
3. Disk pressure: while the disk is below LIVEVAULT_MIN_FREE_BYTES or at LIVEVAULT_DISK_ALERT_PERCENT, the
   local copies of recordings that have a verified remote copy are dropped, oldest first, until enough space
   would be free (the recording and its remote copy stay). A recording whose only copy is local is never
   deleted for disk space.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from livevault.domain.recording import FINISHED_RECORDING_STATUSES

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from livevault.domain.recording import Recording
    from livevault.services.retention.disk import DiskStatus

DAY = 86400.0


class Action(StrEnum):
    DELETE = "delete"  # the recording, its files wherever they are, and its row
    DROP_LOCAL = "drop_local"  # only the local copy; a verified remote copy stays


@dataclass(frozen=True, slots=True)
class WatcherLimits:
    key: str
    max_recordings: int | None = None
    max_bytes: int | None = None
    retention_days: float | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recording retention may look at; `remote_verified` = a remote copy exists and was verified."""

    recording: Recording
    remote_verified: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    recording_id: str
    action: Action
    reasons: tuple[str, ...]
    bytes: int
    watcher_key: str | None
    finished_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {"recording_id": self.recording_id, "action": self.action.value, "reasons": list(self.reasons),
                "bytes": self.bytes, "watcher_key": self.watcher_key,
                "finished_at": self.finished_at.isoformat().replace("+00:00", "Z")}


def finished_at(recording: Recording) -> datetime:
    return recording.completed_at or recording.created_at


def size_of(recording: Recording) -> int:
    return recording.file_size if recording.file_path else recording.bytes_captured


def _eligible(candidate: Candidate) -> bool:
    rec = candidate.recording
    return rec.status in FINISHED_RECORDING_STATUSES and not rec.pinned


def _age_reason(rec: Recording, now: datetime, global_days: float | None, limits: WatcherLimits | None) -> str | None:
    days: float | None = global_days
    where = "LIVEVAULT_RETENTION_DAYS"
    if limits is not None and limits.retention_days is not None:
        days, where = limits.retention_days, f"watcher {limits.key} retention_days"
    if not days:
        return None
    age = (now - finished_at(rec)).total_seconds() / DAY
    if age <= days:
        return None
    return f"finished {age:.1f} days ago, older than {days:g} days ({where})"


def _limit_reasons(limits: WatcherLimits, kept: Sequence[Recording], reasons: dict[str, list[str]]) -> None:
    """Newest first: the first `max_recordings` that fit in `max_bytes` stay."""
    count = 0
    total = 0
    for rec in sorted(kept, key=lambda r: (finished_at(r), r.id), reverse=True):
        size = size_of(rec)
        if limits.max_recordings is not None and count >= limits.max_recordings:
            reasons[rec.id].append(
                f"watcher {limits.key} keeps its newest {limits.max_recordings} recordings (max_recordings)")
            continue
        if limits.max_bytes is not None and total + size > limits.max_bytes:
            reasons[rec.id].append(
                f"watcher {limits.key} keeps at most {limits.max_bytes} bytes (max_bytes); its newer "
                f"recordings hold {total} and this one {size}")
            continue
        count += 1
        total += size


def plan(
    candidates: Sequence[Candidate],
    *,
    now: datetime,
    global_days: float | None,
    watchers: Mapping[str, WatcherLimits],
    disk: DiskStatus | None = None,
) -> list[Decision]:
    """What the cleanup job does, oldest recording first (see the module docstring for the rules)."""
    eligible = [c for c in candidates if _eligible(c)]
    reasons: dict[str, list[str]] = {c.recording.id: [] for c in eligible}
    for candidate in eligible:
        rec = candidate.recording
        reason = _age_reason(rec, now, global_days, watchers.get(rec.watcher_key or ""))
        if reason:
            reasons[rec.id].append(reason)
    by_watcher: dict[str, list[Recording]] = {}
    for candidate in eligible:
        rec = candidate.recording
        if rec.watcher_key is not None and rec.watcher_key in watchers and not reasons[rec.id]:
            by_watcher.setdefault(rec.watcher_key, []).append(rec)
    for key, kept in by_watcher.items():
        _limit_reasons(watchers[key], kept, reasons)

    decisions: list[Decision] = []
    freed = 0
    for candidate in eligible:
        rec = candidate.recording
        if reasons[rec.id]:
            decisions.append(Decision(rec.id, Action.DELETE, tuple(reasons[rec.id]), size_of(rec),
                                      rec.watcher_key, finished_at(rec)))
            freed += size_of(rec)
    if disk is not None and disk.alert:
        need = disk.bytes_to_free()
        for candidate in sorted(eligible, key=lambda c: (finished_at(c.recording), c.recording.id)):
            rec = candidate.recording
            if freed >= need:
                break
            if reasons[rec.id] or not candidate.remote_verified or not rec.file_path:
                continue
            why = "below LIVEVAULT_MIN_FREE_BYTES" if disk.low else f"at {disk.used_percent:g} % used"
            decisions.append(Decision(
                rec.id, Action.DROP_LOCAL,
                (f"disk {why}; the local copy goes first because a verified remote copy exists",),
                rec.file_size, rec.watcher_key, finished_at(rec)))
            freed += rec.file_size
    decisions.sort(key=lambda d: (d.finished_at, d.recording_id))
    return decisions
