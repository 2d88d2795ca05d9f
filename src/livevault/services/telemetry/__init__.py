"""The `/metrics` answer: every process's counters (`observability.Metrics`, summed across processes in
multiprocess mode) plus what the database knows at scrape time — recordings by state, active watchers,
finished files, free disk, and the health of each running recording, whichever process records it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from livevault.db.repositories.telemetry import TelemetryRepository
from livevault.observability import GaugeFamily, StaticCollector

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.observability import Metrics
    from livevault.services.uow import Database

HEALTH_SERIES = (
    ("livevault_recording_gap_seconds", "Seconds of gaps in a running recording so far", "gap_seconds"),
    ("livevault_recording_reconnects", "Times a running recording reconnected (parts after the first)",
     "reconnects"),
    ("livevault_recording_segment_lag", "Segments a running HLS recording is behind the live edge", "segment_lag"),
    ("livevault_recording_bytes_per_second", "Media bytes per second a running recording appended lately",
     "bytes_per_second"),
)


@dataclass
class Snapshot:
    by_status: dict[str, int] = field(default_factory=dict)
    watchers: int = 0
    files: int = 0
    health: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


class TelemetryService:
    def __init__(self, db: Database, metrics: Metrics, disk_free: Callable[[], int],
                 *, refresh: list[Callable[[], object]] | None = None) -> None:
        self._db = db
        self._metrics = metrics
        self._disk_free = disk_free
        self._refresh = refresh or []  # gauges other services set at scrape time (the upload backlog)

    def snapshot(self) -> Snapshot:
        def work(session: Any) -> Snapshot:
            repo = TelemetryRepository(session)
            return Snapshot(repo.recordings_by_status(), repo.active_watchers(), repo.recording_files(),
                            repo.health())

        return self._db.run(work)

    def families(self, snap: Snapshot, now: float | None = None) -> list[GaugeFamily]:
        now = time.time() if now is None else now
        out = [
            GaugeFamily("livevault_recordings_active", "Recordings capturing now (any process)", [],
                        [((), float(snap.by_status.get("recording", 0)))]),
            GaugeFamily("livevault_recordings_in_state", "Recordings by current state", ["status"],
                        [((status,), float(n)) for status, n in sorted(snap.by_status.items())]),
            GaugeFamily("livevault_watchers_active", "Active watchers", [], [((), float(snap.watchers))]),
            GaugeFamily("livevault_recording_files", "Completed recordings with a file", [],
                        [((), float(snap.files))]),
        ]
        try:
            out.append(GaugeFamily("livevault_disk_free_bytes", "Free bytes on the recordings disk", [],
                                   [((), float(self._disk_free()))]))
        except OSError:
            pass
        labels = ["recording_id", "source"]
        stall = [((rid, kind), max(0.0, now - float(h.get("last_progress_at") or now))) for rid, kind, h in snap.health]
        out.append(GaugeFamily("livevault_recording_stall_seconds",
                               "Seconds since a running recording last appended media", labels, stall))
        for name, doc, key in HEALTH_SERIES:
            samples = [((rid, kind), float(h[key])) for rid, kind, h in snap.health if h.get(key) is not None]
            out.append(GaugeFamily(name, doc, labels, samples))
        return out

    def render(self) -> bytes:
        """The Prometheus text exposition for `/metrics`."""
        for refresh in self._refresh:
            refresh()
        return self._metrics.exposition(StaticCollector(self.families(self.snapshot())))
