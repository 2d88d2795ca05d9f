"""Repositories: all SQL lives here. They take a Session, never commit, and return domain dataclasses."""

from livevault.db.repositories.downloads import DownloadRepository
from livevault.db.repositories.files import FileRepository
from livevault.db.repositories.jobs import JobRepository
from livevault.db.repositories.keys import ApiKeyRepository
from livevault.db.repositories.notifications import NotificationRepository
from livevault.db.repositories.recordings import RecordingRepository
from livevault.db.repositories.watchers import WatcherRepository

__all__ = [
    "ApiKeyRepository",
    "DownloadRepository",
    "FileRepository",
    "JobRepository",
    "NotificationRepository",
    "RecordingRepository",
    "WatcherRepository",
]
