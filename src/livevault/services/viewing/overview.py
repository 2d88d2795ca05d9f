"""The system page's numbers: disk free against the watermark, what is running and waiting, versions."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING

from livevault import __version__
from livevault.domain.recording import RecordingStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.config import Settings
    from livevault.services.record import RecordingService
    from livevault.services.watch import WatcherService

_COMPONENTS = ("fastapi", "sqlalchemy", "av", "celery", "yt-dlp", "streamlink")


@dataclass(frozen=True, slots=True)
class SystemOverview:
    disk_free: int
    disk_watermark: int
    recording: int
    pending: int
    processing: int
    failed: int
    completed: int
    watchers_active: int
    runner: str
    upload_backlog: int | None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def disk_ok(self) -> bool:
        return self.disk_free >= self.disk_watermark


def versions() -> dict[str, str]:
    found = {"livevault": __version__, "python": platform.python_version()}
    for name in _COMPONENTS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


class Overview:
    """`upload_backlog` is None until an upload queue reports one (`upload_backlog_of`)."""

    def __init__(self, settings: Settings, recordings: RecordingService, watchers: WatcherService,
                 disk_free: Callable[[], int], *, upload_backlog_of: Callable[[], int] | None = None) -> None:
        self._settings = settings
        self._recordings = recordings
        self._watchers = watchers
        self._disk_free = disk_free
        self._upload_backlog_of = upload_backlog_of
        self._versions: dict[str, str] | None = None

    def system(self) -> SystemOverview:
        counts = {status: self._recordings.search(status=status, page_size=1).total for status in RecordingStatus}
        if self._versions is None:
            self._versions = versions()
        return SystemOverview(
            disk_free=self._disk_free(),
            disk_watermark=self._settings.min_free_bytes,  # LIVEVAULT_MIN_FREE_BYTES
            recording=counts[RecordingStatus.RECORDING],
            pending=counts[RecordingStatus.PENDING],
            processing=counts[RecordingStatus.PROCESSING],
            failed=counts[RecordingStatus.FAILED],
            completed=counts[RecordingStatus.COMPLETED],
            watchers_active=self._watchers.count_active(),
            runner=self._settings.runner,
            upload_backlog=None if self._upload_backlog_of is None else self._upload_backlog_of(),
            versions=dict(self._versions),
        )
