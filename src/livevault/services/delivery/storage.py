"""`StorageService`: the one entry point for where a recording's files live.

- `claim_output(recording, piece)`: the output file's name, rendered from the template and claimed
  atomically (O_EXCL on disk + a unique row in `recording_files`), so two recordings never share a file.
- `store_finalized(recording_id, files)`: finalize (and the piece splitter) hand over each finished,
  verified file; it is registered with its size and checksum and, when the recording uploads to S3, an
  upload job is scheduled.
- `locate` / `link`: where to read a file (local path, or a presigned / public S3 URL) and signed links.
- `delete_files`: objects, local files, then rows; what fails stays marked and is retried (`removal.py`).
- `sweep`: the durable retry schedule (uploads, lapsed uploaders, unfinished deletes, abandoned claims;
  `schedule.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from livevault.db.repositories import FileRepository, RecordingRepository
from livevault.domain.files import FileKind, FileState, FinalizedFile, Location, StoredFile
from livevault.domain.templates import DEFAULT_OUTPUT_TEMPLATE, render_output_path, source_key
from livevault.errors import Conflict, InvalidInput, NotFound, StorageUnavailable
from livevault.services.delivery.links import LinkSigner
from livevault.services.delivery.removal import FileRemoval
from livevault.services.delivery.schedule import CLAIM_GRACE, RetrySchedule
from livevault.services.delivery.upload import Uploader
from livevault.services.recording.record import utcnow
from livevault.storage.checksums import file_md5

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from livevault.config import Settings
    from livevault.domain.recording import Recording
    from livevault.observability import Metrics
    from livevault.runners.base import JobRunner
    from livevault.services.notify.emit import Notifier
    from livevault.services.uow import Database
    from livevault.storage.base import Store
    from livevault.storage.local import LocalStore

log = logging.getLogger(__name__)

UPLOAD_JOB = "livevault.upload"
MAX_LINK_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Located:
    """Where to read a file: a local path, else a URL of the stored object."""

    file: StoredFile
    path: Path | None
    url: str | None


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    expires_at: datetime | None  # None: a public URL that does not expire
    location: Location
    kind: str  # "signed" (local, through the API), "presigned" or "public" (S3)


class StorageService:
    def __init__(
        self, settings: Settings, db: Database, runner: JobRunner, metrics: Metrics, local: LocalStore,
        remote: Store | None, *, files_changed: Callable[[], None] | None = None, notifier: Notifier | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._runner = runner
        self._metrics = metrics
        self.local = local
        self.remote = remote
        self.files_changed = files_changed
        self.uploader = Uploader(settings, db, metrics, local, remote, notifier=notifier)
        self.signer = LinkSigner.from_settings(settings.url_signing_key, settings.api_keys)
        self.removal = FileRemoval(settings, db, local, remote, files_changed=files_changed)
        self.schedule = RetrySchedule(self, settings, db)

    # -- naming and claims ---------------------------------------------------------------------

    def output_key(self, recording: Recording, piece: int = 0) -> str:
        """The template's name for the recording (`_pNNN` before the suffix for pieces after the first)."""
        template = recording.output_template or self._settings.default_output_template or DEFAULT_OUTPUT_TEMPLATE
        key = recording.room_id or (source_key(recording.url) if recording.url else None)
        relative = render_output_path(
            template, room_id=key, source=recording.source if not recording.url else source_key(recording.url),
            recording_id=recording.id, started_at=recording.started_at or recording.created_at,
            title=recording.title, stream_key=_stream_key(recording),
        )
        if piece:
            relative = relative.with_name(f"{relative.stem}_p{piece:03d}{relative.suffix}")
        return str(relative)

    def claim_output(self, recording: Recording, piece: int = 0, kind: FileKind = FileKind.VIDEO) -> Path:
        """Claim the recording's output file: the first free name (on disk, O_EXCL, and in the database),
        created empty. Blocking: call it in a thread.

        Raises:
            StorageUnavailable: no free name, or the path escapes RECORDINGS_DIR.
        """
        now = utcnow()
        keep = self.keep_local(recording)
        mine = self._db.run(lambda s: [
            f for f in FileRepository(s).for_recording(recording.id)
            if f.state is FileState.CLAIMED and f.kind is kind and f.piece == piece
        ])
        if mine:  # a finalize that crashed (or was taken over) claimed it already: write it again
            path = self.local.path(mine[0].local_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            return path

        def accept(name: str) -> bool:
            file = StoredFile(
                id=str(uuid.uuid4()), recording_id=recording.id, kind=kind, piece=piece, local_path=name,
                location=Location.LOCAL, state=FileState.CLAIMED, created_at=now, keep_local=keep,
            )
            try:
                self._db.run(lambda s: self._add_claim(s, file, now))
            except Conflict:
                return False
            return True

        name = self.local.claim(self.output_key(recording, piece), accept)
        return self.local.path(name)

    def _add_claim(self, session: Any, file: StoredFile, now: datetime) -> None:
        repo = FileRepository(session)
        repo.add(file)
        repo.update(file.id, next_attempt_at=now + CLAIM_GRACE)

    def release(self, path: Path) -> None:
        """Finalize failed: give the claimed name back and remove what was written under it."""
        key = self.local.key_of(path)

        def work(session: Any) -> None:
            repo = FileRepository(session)
            found = repo.by_path(key)
            if found is not None and found.state is FileState.CLAIMED:
                repo.delete(found.id)

        self._db.run(work)
        path.unlink(missing_ok=True)

    # -- hand-over from finalize ---------------------------------------------------------------

    def upload_wanted(self, recording: Recording) -> bool:
        wanted = (recording.options or {}).get("upload_s3")
        return bool(self._settings.s3_upload_default if wanted is None else wanted)

    async def store_piece(self, recording_id: str, index: int, video: Path, thumbnail: Path | None) -> None:
        """A finished piece of a split recording: registered, and uploaded while the stream goes on."""
        files = [FinalizedFile(video, FileKind.VIDEO, index)]
        if thumbnail is not None:
            files.append(FinalizedFile(thumbnail, FileKind.THUMBNAIL, index))
        await self.store_finalized(recording_id, files)

    def keep_local(self, recording: Recording) -> bool:
        keep = (recording.options or {}).get("keep_local")
        return bool(self._settings.s3_keep_local if keep is None else keep)

    async def store_finalized(self, recording_id: str, files: Sequence[FinalizedFile]) -> list[StoredFile]:
        """Register finished files of a recording (claimed by `claim_output` or not) with their size and
        checksum, and schedule their upload when the recording uploads to S3.

        Raises:
            NotFound: no such recording.
            Conflict: a file's name belongs to another recording.
        """
        measured = [(f, await asyncio.to_thread(self._measure, f.path)) for f in files if f.path.is_file()]
        stored = await self._db.run_async(lambda s: self._register(s, recording_id, measured))
        if any(f.state is FileState.PENDING for f in stored):
            self.schedule_upload(recording_id)
        if self.files_changed is not None:
            await asyncio.to_thread(self.files_changed)
        return stored

    @staticmethod
    def _measure(path: Path) -> tuple[int, str]:
        return path.stat().st_size, file_md5(path).hex()

    def _register(self, session: Any, recording_id: str,
                  files: Sequence[tuple[FinalizedFile, tuple[int, str]]]) -> list[StoredFile]:
        recording = RecordingRepository(session).get(recording_id)
        if recording is None:
            raise NotFound("Recording not found", details={"id": recording_id})
        upload = self.upload_wanted(recording)  # without S3 configured the upload fails visibly (S3_UPLOAD_FAILED)
        keep = self.keep_local(recording)
        repo = FileRepository(session)
        now = utcnow()
        out: list[StoredFile] = []
        for finalized, (size, checksum) in files:
            key = self.local.key_of(finalized.path)
            found = repo.by_path(key)
            if found is not None and found.recording_id != recording_id:
                raise Conflict("the file belongs to another recording", details={"path": key})
            if found is not None and found.state not in (FileState.CLAIMED, FileState.LOCAL):
                out.append(found)  # handed over before: its upload is under way or done
                continue
            changes: dict[str, Any] = {
                "kind": FileKind(finalized.kind), "piece": finalized.piece, "size": size, "checksum": checksum,
                "location": Location.LOCAL, "keep_local": keep,
                "state": FileState.PENDING if upload else FileState.LOCAL,
                "next_attempt_at": now + timedelta(seconds=self._settings.s3_upload_claim_ttl) if upload else None,
            }
            if upload and self.remote is not None:
                changes["bucket"] = self.remote.bucket
                changes["key"] = self.remote_key(key)
            if found is None:
                found = repo.add(StoredFile(
                    id=str(uuid.uuid4()), recording_id=recording_id, kind=FileKind(finalized.kind),
                    piece=finalized.piece, local_path=key, location=Location.LOCAL, state=FileState.CLAIMED,
                    created_at=now,
                ))
            out.append(repo.update(found.id, **changes))
        if upload:
            self.uploader.report(session, recording_id)  # result.s3 starts as [] until the objects are stored
        return out

    def register_remote(self, session: Any, recording: Recording, key: str, size: int,
                        *, thumbnail_key: str | None = None, thumbnail_size: int = 0) -> list[StoredFile]:
        """Catalog objects another system wrote straight into the bucket (LiveKit Egress): the recording's
        files are then located, linked and deleted like uploaded ones, with no local copy."""
        if self.remote is None:
            raise StorageUnavailable("object storage is not configured (S3_BUCKET)")
        repo, now = FileRepository(session), utcnow()
        out: list[StoredFile] = []
        for kind, name, length in ((FileKind.VIDEO, key, size), (FileKind.THUMBNAIL, thumbnail_key, thumbnail_size)):
            if not name:
                continue
            found = repo.by_path(name)
            if found is not None:
                if found.recording_id != recording.id:
                    raise Conflict("the object belongs to another recording", details={"key": name})
                out.append(found)
                continue
            out.append(repo.add(StoredFile(
                id=str(uuid.uuid4()), recording_id=recording.id, kind=kind, piece=0, local_path=name,
                location=Location.S3, state=FileState.UPLOADED, created_at=now, size=length,
                bucket=self.remote.bucket, key=self.remote.object_key(name), uploaded_at=now,
            )))
        return out

    def remote_key(self, local_key: str) -> str:
        return self.remote.object_key(local_key) if self.remote is not None else local_key

    def schedule_upload(self, recording_id: str) -> None:
        self._runner.submit(UPLOAD_JOB, str(uuid.uuid4()), recording_id=recording_id)

    async def run_upload(self, job_id: str, recording_id: str, correlation_id: str | None = None) -> None:
        """The `livevault.upload` job."""
        await self.uploader.run(job_id, recording_id, correlation_id)
        if self.files_changed is not None:
            await asyncio.to_thread(self.files_changed)

    # -- catalog -------------------------------------------------------------------------------

    def files_of(self, recording_id: str) -> list[StoredFile]:
        return self._db.run(lambda s: FileRepository(s).for_recording(recording_id))

    def files_for(self, recording_ids: Sequence[str]) -> dict[str, list[StoredFile]]:
        return self._db.run(lambda s: FileRepository(s).for_recordings(recording_ids))

    def backlog(self) -> tuple[int, int]:
        files, size = self._db.run(lambda s: FileRepository(s).backlog())
        self._metrics.s3_backlog_files.set(files)
        self._metrics.s3_backlog_bytes.set(size)
        return files, size

    def locate(self, recording: Recording, kind: FileKind = FileKind.VIDEO, piece: int = 0) -> Located:
        """Where to read one file of a recording: its local copy when there is one, else its S3 object.

        Raises:
            NotFound: the recording has no such file (yet), or it is nowhere to be read.
        """
        file = self._file(recording, kind, piece)
        if file.local:
            with contextlib.suppress(StorageUnavailable):
                path = self.local.path(file.local_path)
                if path.is_file():
                    return Located(file, path, None)
        if file.remote and self.remote is not None:
            return Located(file, None, self.remote.url(file.local_path, 3600))
        raise NotFound("the file is not available", details={"path": file.local_path})

    def _file(self, recording: Recording, kind: FileKind, piece: int) -> StoredFile:
        usable = [f for f in self.files_of(recording.id)
                  if f.kind is kind and f.state not in (FileState.CLAIMED, FileState.DELETING)]
        for file in usable:
            if file.piece == piece:
                return file
        if piece == 0 and usable:  # a split recording has no whole file: its first piece stands for it
            return min(usable, key=lambda f: f.piece)
        legacy = recording.file_path if kind is FileKind.VIDEO else recording.thumbnail_path
        if legacy and piece == 0:  # finished before files were catalogued
            return StoredFile(id="", recording_id=recording.id, kind=kind, piece=0, local_path=legacy,
                              location=Location.LOCAL, state=FileState.LOCAL, created_at=recording.created_at)
        raise NotFound(f"recording has no {kind.value} file", details={"status": recording.status.value})

    def link(self, recording: Recording, *, expires: int, base_url: str, kind: FileKind = FileKind.VIDEO,
             piece: int = 0) -> Link:
        """A URL that downloads the file without an API key: the public or presigned S3 URL when it is stored
        in S3, else a signed, expiring link to this API's download route.

        Raises:
            InvalidInput: `expires` outside 1 s .. 7 days.
            NotFound: no such file.
        """
        if not 1 <= expires <= MAX_LINK_SECONDS:
            raise InvalidInput("expires must be between 1 and 604800 seconds (7 days)",
                               details={"expires": expires})
        file = self._file(recording, kind, piece)
        if file.remote and self.remote is not None:
            public = self.remote.public_urls
            url = self.remote.url(file.local_path, expires)
            at = None if public else utcnow() + timedelta(seconds=expires)
            return Link(url=url, expires_at=at, location=file.location, kind="public" if public else "presigned")
        expires_at = int(time.time()) + expires
        signature = self.signer.sign(recording.id, kind.value, piece, expires_at)
        route = "download" if kind is FileKind.VIDEO else "thumbnail"
        query = f"expires={expires_at}&signature={signature}" + (f"&piece={piece}" if piece else "")
        url = f"{base_url.rstrip('/')}/recordings/{recording.id}/{route}?{query}"
        return Link(url=url, expires_at=datetime.fromtimestamp(expires_at, utcnow().tzinfo), location=file.location,
                    kind="signed")

    def check_link(self, recording_id: str, kind: FileKind, piece: int, expires: int, signature: str) -> bool:
        return self.signer.valid(recording_id, kind.value, piece, expires, signature)

    # -- retention's seam: local copies that may go first when the disk runs low ---------------

    def verified_remote(self, recording_ids: Sequence[str]) -> set[str]:
        """Recordings whose every video file has a verified remote copy AND still a local one (uploaded, location
        both: kept by `keep_local`) — the local copies retention may drop first when the disk runs low."""
        found = self.files_for(recording_ids)
        out: set[str] = set()
        for recording_id, files in found.items():
            videos = [f for f in files if f.kind is FileKind.VIDEO]
            if videos and all(f.state is FileState.UPLOADED and f.location is Location.BOTH for f in videos):
                out.add(recording_id)
        return out

    def drop_local_copies(self, recording_id: str) -> int:
        """Remove the local copy of each file of the recording that has a verified remote copy (the object and
        the rows stay; downloads then come from S3). Returns the bytes freed. Blocking."""
        return self.removal.drop_local_copies(self.files_of(recording_id))

    def delete_files(self, recording: Recording) -> None:
        """Remove the recording's S3 objects and local files, then their rows. Blocking.

        Raises:
            StorageUnavailable: something could not be removed; it stays marked and the retry schedule
                finishes it (and then removes the recording).
        """
        self.removal.delete_files(recording)

    # -- the retry schedule (services/delivery/schedule.py) ---------------------------------------

    async def sweep(self) -> int:
        """One pass of the durable retry schedule; returns how many files it acted on."""
        return await self.schedule.sweep()

    async def start(self) -> None:
        """Embedded mode: run the retry schedule in this process (workers get it from Celery beat)."""
        await self.schedule.start()

    async def stop(self) -> None:
        await self.schedule.stop()


def _stream_key(recording: Recording) -> str | None:
    """The `{stream_key}` of a push or bucket recording (`push:<stream_key>`), else None."""
    if recording.source_kind in {"push", "bucket"} and recording.source.startswith("push:"):
        return recording.source[len("push:"):]
    return None
