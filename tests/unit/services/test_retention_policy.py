"""The retention policy as a pure function: what goes, what stays, and the reasons given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from livevault.domain.recording import Recording, RecordingStatus
from livevault.services.retention.disk import DiskStatus
from livevault.services.retention.policy import Action, Candidate, WatcherLimits, plan

NOW = datetime(2026, 6, 1, tzinfo=UTC)
GIB = 1024**3


def rec(name: str, days: float, *, status: RecordingStatus = RecordingStatus.COMPLETED, size: int = 100,
        **extra: Any) -> Recording:
    when = NOW - timedelta(days=days)
    finished = status in {RecordingStatus.COMPLETED, RecordingStatus.FAILED}
    return Recording(id=name, source_kind="url", source=f"https://example.com/{name}", status=status,
                     created_at=when, completed_at=when if finished else None,
                     file_path=f"{name}.mp4" if status is RecordingStatus.COMPLETED else None,
                     file_size=size if status is RecordingStatus.COMPLETED else 0,
                     bytes_captured=size, **extra)


def decide(recordings: list[Recording], *, days: float | None = None, watchers: Sequence[WatcherLimits] = (),
           remote: frozenset[str] = frozenset(), disk: DiskStatus | None = None) -> dict[str, Any]:
    decisions = plan([Candidate(r, r.id in remote) for r in recordings], now=NOW, global_days=days,
                     watchers={w.key: w for w in watchers}, disk=disk)
    return {d.recording_id: d for d in decisions}


def test_global_age_deletes_only_finished_unpinned_recordings() -> None:
    out = decide([
        rec("old", 40), rec("old-failed", 40, status=RecordingStatus.FAILED), rec("new", 5),
        rec("old-pinned", 40, pinned=True), rec("old-recording", 40, status=RecordingStatus.RECORDING),
        rec("old-pending", 40, status=RecordingStatus.PENDING),
        rec("old-processing", 40, status=RecordingStatus.PROCESSING),
    ], days=30)
    assert set(out) == {"old", "old-failed"}
    assert out["old"].action is Action.DELETE
    assert "older than 30 days (LIVEVAULT_RETENTION_DAYS)" in out["old"].reasons[0]


def test_no_policy_keeps_everything() -> None:
    assert decide([rec("a", 4000), rec("b", 1)]) == {}
    assert decide([rec("a", 4000)], days=0) == {}


def test_max_recordings_keeps_the_newest_per_watcher() -> None:
    recordings = [rec(f"w{i}", i, watcher_key="w") for i in range(5)] + [rec("other", 9, watcher_key="x")]
    out = decide(recordings, watchers=[WatcherLimits("w", max_recordings=2)])
    assert set(out) == {"w2", "w3", "w4"}
    assert out["w4"].reasons == ("watcher w keeps its newest 2 recordings (max_recordings)",)


def test_pinned_and_active_recordings_do_not_count_toward_the_limits() -> None:
    recordings = [rec("pinned", 0.1, watcher_key="w", pinned=True),
                  rec("live", 0.05, watcher_key="w", status=RecordingStatus.RECORDING),
                  rec("a", 1, watcher_key="w"), rec("b", 2, watcher_key="w")]
    assert set(decide(recordings, watchers=[WatcherLimits("w", max_recordings=1)])) == {"b"}


def test_max_bytes_keeps_the_newest_that_fit() -> None:
    recordings = [rec("a", 1, watcher_key="w", size=100), rec("b", 2, watcher_key="w", size=100),
                  rec("c", 3, watcher_key="w", size=100)]
    out = decide(recordings, watchers=[WatcherLimits("w", max_bytes=250)])
    assert set(out) == {"c"}
    assert "keeps at most 250 bytes (max_bytes)" in out["c"].reasons[0]


def test_a_failed_recording_counts_its_captured_parts() -> None:
    recordings = [rec("ok", 1, watcher_key="w", size=100),
                  rec("failed", 2, watcher_key="w", status=RecordingStatus.FAILED, size=500)]
    assert set(decide(recordings, watchers=[WatcherLimits("w", max_bytes=300)])) == {"failed"}


def test_watcher_retention_days_overrides_the_global_days() -> None:
    recordings = [rec("short", 2, watcher_key="short"), rec("long", 40, watcher_key="long"),
                  rec("plain", 40), rec("forever", 400, watcher_key="forever")]
    out = decide(recordings, days=30, watchers=[WatcherLimits("short", retention_days=1),
                                                WatcherLimits("long", retention_days=90),
                                                WatcherLimits("forever", retention_days=0)])
    assert set(out) == {"short", "plain"}
    assert "watcher short retention_days" in out["short"].reasons[0]


def disk(free: int, *, total: int = 100 * GIB, min_free: int = GIB, alert: float = 80.0) -> DiskStatus:
    return DiskStatus(path="/x", free_bytes=free, total_bytes=total, min_free_bytes=min_free, alert_percent=alert)


def test_low_disk_drops_local_copies_with_a_verified_remote_copy_oldest_first() -> None:
    recordings = [rec("a", 3, size=5 * GIB), rec("b", 2, size=5 * GIB), rec("c", 1, size=5 * GIB),
                  rec("local-only", 9, size=50 * GIB)]
    out = decide(recordings, remote=frozenset({"a", "b", "c"}), disk=disk(12 * GIB))  # 88 % used
    assert set(out) == {"a", "b"}  # 8 GiB needed to be under 80 %; the only local copy is never touched
    assert all(d.action is Action.DROP_LOCAL for d in out.values())
    assert "verified remote copy" in out["a"].reasons[0]


def test_without_remote_copies_nothing_goes_for_disk_space() -> None:
    assert decide([rec("a", 3, size=GIB)], disk=disk(100)) == {}


def test_a_healthy_disk_drops_nothing() -> None:
    assert decide([rec("a", 3, size=GIB)], remote=frozenset({"a"}), disk=disk(50 * GIB)) == {}


def test_disk_status_thresholds() -> None:
    low = disk(GIB - 1)
    assert low.low
    assert low.alert
    assert not low.as_dict()["accepting_recordings"]
    busy = disk(15 * GIB)
    assert not busy.low
    assert busy.alert
    assert busy.used_percent == 85.0
    assert busy.bytes_to_free() == 5 * GIB
    assert not disk(30 * GIB).alert
