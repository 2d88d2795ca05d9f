"""Repositories: all SQL lives here. They take a Session, never commit, and return domain dataclasses."""

from livevault.db.repositories.jobs import JobRepository
from livevault.db.repositories.recordings import RecordingRepository

__all__ = ["JobRepository", "RecordingRepository"]
