"""Stored files: each finished file of a recording (video or thumbnail, by piece) and where it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path


class FileKind(StrEnum):
    VIDEO = "video"
    THUMBNAIL = "thumbnail"


class Location(StrEnum):
    LOCAL = "local"
    S3 = "s3"
    BOTH = "both"


class FileState(StrEnum):
    """`claimed`: the name is taken, the file is being written. `local`: finished, no upload wanted.
    `pending` / `uploading` / `failed` (waiting for the retry schedule) / `uploaded`. `deleting`: a delete
    asked for it and has not finished everywhere yet (retried by the schedule)."""

    CLAIMED = "claimed"
    LOCAL = "local"
    PENDING = "pending"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    FAILED = "failed"
    DELETING = "deleting"


UPLOAD_BACKLOG_STATES = frozenset({FileState.PENDING, FileState.UPLOADING, FileState.FAILED})


@dataclass(slots=True)
class StoredFile:
    id: str
    recording_id: str
    kind: FileKind
    piece: int
    local_path: str  # the claimed name under RECORDINGS_DIR; kept (and reserved) after the local copy goes
    location: Location
    state: FileState
    created_at: datetime
    size: int = 0
    checksum: str | None = None  # hex MD5 of the local file
    bucket: str | None = None
    key: str | None = None
    keep_local: bool = False
    attempts: int = 0
    next_attempt_at: datetime | None = None
    upload_id: str | None = None
    part_size: int = 0
    parts: list[tuple[int, str]] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    uploaded_at: datetime | None = None

    @property
    def local(self) -> bool:
        return self.location in (Location.LOCAL, Location.BOTH)

    @property
    def remote(self) -> bool:
        return self.location in (Location.S3, Location.BOTH)


class FinalizedFile(NamedTuple):
    """One finished, verified file: where it is now, what it is, and which piece of the recording."""

    path: Path
    kind: FileKind | str = FileKind.VIDEO
    piece: int = 0
