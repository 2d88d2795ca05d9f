"""The free-space watermark of the recordings and spool disks."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livevault.errors import DiskFull

if TYPE_CHECKING:
    from pathlib import Path

    from livevault.config import Settings
    from livevault.observability import Metrics


@dataclass(frozen=True, slots=True)
class DiskStatus:
    """The fullest of the disks livevault writes to (recordings, spool), against the two thresholds."""

    path: str
    free_bytes: int
    total_bytes: int
    min_free_bytes: int
    alert_percent: float

    @property
    def used_percent(self) -> float:
        if self.total_bytes <= 0:
            return 0.0
        return round(100.0 * (self.total_bytes - self.free_bytes) / self.total_bytes, 2)

    @property
    def low(self) -> bool:
        """Below the watermark: no new recording starts."""
        return self.free_bytes < self.min_free_bytes

    @property
    def alert(self) -> bool:
        return self.low or self.used_percent >= self.alert_percent

    def bytes_to_free(self) -> int:
        """How much must go for the disk to be above the watermark and under the alert percent again."""
        below_alert = math.ceil(self.total_bytes * (100.0 - self.alert_percent) / 100.0)
        return max(0, self.min_free_bytes - self.free_bytes, below_alert - self.free_bytes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "free_bytes": self.free_bytes, "total_bytes": self.total_bytes,
            "used_percent": self.used_percent, "min_free_bytes": self.min_free_bytes,
            "alert_percent": self.alert_percent, "low": self.low, "alert": self.alert,
            "accepting_recordings": not self.low,
        }


class DiskWatch:
    """Measures free space where recordings are spooled and finalized; refuses new recordings below the
    watermark. Thresholds are read from the settings at every call."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics

    def paths(self) -> list[Path]:
        return [self._settings.recordings_dir, self._settings.spool_dir]

    def status(self) -> DiskStatus:
        """The fullest disk (raises OSError when a directory cannot be created or measured)."""
        worst: tuple[int, int, Path] | None = None
        for path in self.paths():
            path.mkdir(parents=True, exist_ok=True)
            usage = shutil.disk_usage(path)
            if worst is None or usage.free < worst[0]:
                worst = (usage.free, usage.total, path)
        assert worst is not None
        status = DiskStatus(path=str(worst[2]), free_bytes=worst[0], total_bytes=worst[1],
                            min_free_bytes=self._settings.min_free_bytes,
                            alert_percent=self._settings.disk_alert_percent)
        if self._metrics is not None:
            self._metrics.disk_used_percent.set(status.used_percent)
            self._metrics.disk_low.set(1 if status.low else 0)
            self._metrics.disk_alert.set(1 if status.alert else 0)
        return status

    def ensure_room(self) -> DiskStatus:
        """Raise DISK_FULL when free space is below LIVEVAULT_MIN_FREE_BYTES (a new recording must not start)."""
        status = self.status()
        if status.low:
            if self._metrics is not None:
                self._metrics.recordings_refused.labels("disk_full").inc()
            raise DiskFull(
                f"only {status.free_bytes} bytes free on the recordings disk, below LIVEVAULT_MIN_FREE_BYTES "
                f"({status.min_free_bytes}): no new recording starts until space is freed (recordings already "
                "running go on to the end; delete or unpin recordings, or lower the retention limits)",
                details={"free_bytes": status.free_bytes, "min_free_bytes": status.min_free_bytes},
            )
        return status
