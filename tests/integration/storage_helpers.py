"""Finished recordings for storage tests without a live capture: a completed row and job plus a real file,
handed to the storage service exactly as finalize hands its output over."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from typing import Any

from livevault.bootstrap import Container
from livevault.db.repositories import FileRepository, JobRepository, RecordingRepository
from livevault.domain.files import FileKind, StoredFile
from livevault.domain.recording import Job, JobStatus, Recording, RecordingStatus
from livevault.services.delivery import FinalizedFile
from livevault.services.record import utcnow


def finished_recording(container: Container, size: int, *, template: str = "tests/{recording_id}.mp4",
                       options: dict[str, Any] | None = None, thumbnail: bool = True) -> tuple[str, str]:
    """A completed recording whose video (random bytes, `size` long) was claimed and handed over; returns its
    id and the video's MD5."""
    now = utcnow()
    recording = Recording(
        id=str(uuid.uuid4()), source_kind="url", source="http://127.0.0.1/live.m3u8", status=RecordingStatus.COMPLETED,
        created_at=now, started_at=now, completed_at=now, output_template=template, options=options or {},
        job_id=str(uuid.uuid4()), title="show",
    )
    job = Job(id=recording.job_id or "", kind="record", status=JobStatus.SUCCESS, created_at=now,
              recording_id=recording.id, result={"returncode": 0, "files": [], "s3": []})

    def add(session: Any) -> None:
        RecordingRepository(session).add(recording)
        JobRepository(session).add(job)

    container.db.run(add)
    video = container.storage.claim_output(recording)
    data = os.urandom(size)
    video.write_bytes(data)
    files = [FinalizedFile(video, FileKind.VIDEO, 0)]
    if thumbnail:
        thumb = video.with_suffix(".jpg")
        thumb.write_bytes(b"\xff\xd8jpeg" + os.urandom(100))
        files.append(FinalizedFile(thumb, FileKind.THUMBNAIL, 0))
    relative = container.storage.local.key_of(video)
    container.db.run(lambda s: RecordingRepository(s).update(
        recording.id, file_path=relative, file_size=size,
        thumbnail_path=container.storage.local.key_of(files[-1].path) if thumbnail else None,
    ))
    asyncio.run(container.storage.store_finalized(recording.id, files))
    return recording.id, hashlib.md5(data).hexdigest()


def stored_files(container: Container, recording_id: str) -> list[StoredFile]:
    return container.db.run(lambda s: FileRepository(s).for_recording(recording_id))


def video_of(container: Container, recording_id: str) -> StoredFile:
    return next(f for f in stored_files(container, recording_id) if f.kind is FileKind.VIDEO)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
