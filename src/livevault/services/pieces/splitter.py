"""Cut a split recording into pieces while it is captured, and finish its last piece at the end."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from livevault.capture.spool import Spool
from livevault.db.repositories import JobRepository, RecordingRepository
from livevault.domain.notification import EventType
from livevault.errors import LivevaultError, NothingRecorded
from livevault.postprocess import Split, make_thumbnail, probe, remux_parts, verify
from livevault.services.pieces.book import Piece, PieceBook, split_rule

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from livevault.config import Settings
    from livevault.domain.recording import Recording
    from livevault.postprocess import Cut
    from livevault.services.notify.emit import Notifier
    from livevault.services.recording.finalize import Finalizer
    from livevault.services.uow import Database

    OnPiece = Callable[[str, int, Path, Path | None], Awaitable[None] | None]
    ClaimPiece = Callable[[Recording, int], Path]
else:
    OnPiece = Any
    ClaimPiece = Any

log = logging.getLogger(__name__)

CHECK_INTERVAL = 2.0  # seconds between looks at how much media the current piece has
MARGIN_SECONDS = 3.0  # media past `split_every` before a cut is tried (the keyframe and one frame after it)
MARGIN_BYTES = 0.05  # likewise, as a share of `split_bytes`


class Splitter:
    """One per process. `watch` runs a recording's piece loop during capture; `finish` makes its last piece.

    `on_piece(recording_id, piece_index, video_path, thumbnail_path)` (sync or async) is called after each
    piece is finished and recorded, with absolute paths: the hand-off to storage/upload."""

    def __init__(self, settings: Settings, db: Database, finalizer: Finalizer, *, claim: ClaimPiece,
                 on_piece: OnPiece | None = None, notifier: Notifier | None = None,
                 interval: float = CHECK_INTERVAL) -> None:
        self._claim = claim  # storage's name for piece n of a recording, claimed (unique on disk and in the db)
        self._notifier = notifier
        self._settings = settings
        self._db = db
        self._finalizer = finalizer
        self.on_piece = on_piece
        self._interval = interval
        self._watches: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def applies(recording: Recording) -> bool:
        return split_rule(recording) != (None, None)

    def watch(self, recording: Recording, spool: Spool) -> None:
        """Start cutting pieces of a capture that has begun (nothing happens for recordings not split)."""
        if not self.applies(recording) or recording.id in self._watches:
            return
        stop = asyncio.Event()
        task = asyncio.create_task(self._loop(recording, spool, stop), name=f"pieces-{recording.id}")
        self._watches[recording.id] = (task, stop)

    async def unwatch(self, recording_id: str) -> None:
        """Stop the loop; a piece being made is completed first (never abandoned half-written)."""
        entry = self._watches.pop(recording_id, None)
        if entry is None:
            return
        task, stop = entry
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        for recording_id in list(self._watches):
            await self.unwatch(recording_id)

    async def _loop(self, recording: Recording, spool: Spool, stop: asyncio.Event) -> None:
        seconds, size = split_rule(recording)
        directory = spool.directory
        want_s = seconds + MARGIN_SECONDS if seconds else None
        want_b = size * (1 + MARGIN_BYTES) if size else None
        book = await asyncio.to_thread(PieceBook, directory)
        have = await asyncio.to_thread(_media_after, directory, book.next_start())
        mark = (time.monotonic(), spool.bytes_total)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
            if stop.is_set() or book.finished:
                return
            media_s = have[0] + time.monotonic() - mark[0]
            media_b = have[1] + spool.bytes_total - mark[1]
            if not ((want_s is not None and media_s >= want_s) or (want_b is not None and media_b >= want_b)):
                continue
            try:
                piece = await self._make(recording, directory, book, spool=spool, final=False)
            except Exception:  # the capture goes on; this media ends up in a later piece
                log.exception("making a piece failed", extra={"recording_id": recording.id})
                piece = None
            if piece is None:  # no clean cut yet (a long GOP, a reconnect): look again a bit later
                want_s = media_s + max(MARGIN_SECONDS, (seconds or 0) / 4) if want_s is not None else None
                want_b = media_b + (size or 0) / 4 if want_b is not None else None
                continue
            have = await asyncio.to_thread(_media_after, directory, book.next_start())
            mark = (time.monotonic(), spool.bytes_total)
            want_s = seconds + MARGIN_SECONDS if seconds else None
            want_b = size * (1 + MARGIN_BYTES) if size else None

    async def finish(self, recording: Recording, spool_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """Make the last piece (the rest after the last cut) and return the recording's fields and the job
        result's `files` and `pieces`. Raises when there is no piece at all."""
        book = await asyncio.to_thread(PieceBook, spool_dir)
        if not book.finished:
            try:
                await self._make(recording, spool_dir, book, spool=None, final=True)
            except NothingRecorded:
                if not book.pieces():
                    raise
                log.info("nothing after the last piece", extra={"recording_id": recording.id})
        pieces = book.pieces()
        first = pieces[0]
        fields = {
            "file_path": first.file_path,
            "file_size": sum(p.size for p in pieces),
            "duration": sum(p.duration for p in pieces),
            "video_codec": first.video_codec,
            "audio_codec": first.audio_codec,
            "width": first.width,
            "height": first.height,
            "fps": first.fps,
            "thumbnail_path": first.thumbnail_path,
        }
        return fields, listing(pieces)

    def finished_pieces(self, spool_dir: Path) -> list[Piece]:
        return PieceBook(spool_dir).pieces()

    async def _make(self, recording: Recording, directory: Path, book: PieceBook, *, spool: Spool | None,
                    final: bool) -> Piece | None:
        lock = self._locks.setdefault(recording.id, asyncio.Lock())
        async with lock:
            fence = spool.fence if spool is not None else None
            index, start = book.next_index(), book.next_start()
            name = book.begun(index)
            if name is None:  # claimed from storage, named from the recording as it is now (a title may have come)
                fresh = await self._db.run_async(lambda s: RecordingRepository(s).get(recording.id))
                if fence is not None:
                    fence()
                path = await asyncio.to_thread(self._claim, fresh or recording, index)
                name = str(path.relative_to(self._settings.recordings_dir.resolve()))
                await asyncio.to_thread(book.begin, index, name)
            seconds, size = (None, None) if final else split_rule(recording)
            split = Split(start=start, seconds=seconds, size=size)
            piece = await self._finalizer.offload(self._produce, directory, name, index, split, book.next_time())
            if piece is None:
                return None
            if fence is not None:
                fence()
            await asyncio.to_thread(book.done, piece)
        log.info("piece %d finished: %s (%.1f s)", index, piece.file_path, piece.duration,
                 extra={"recording_id": recording.id})
        if not final:
            await self._db.run_async(lambda s: _publish(s, recording, book.pieces()))
        await self._hand_off(recording.id, piece)
        await self._announce(recording, piece)
        return piece

    async def _announce(self, recording: Recording, piece: Piece) -> None:
        """`recording.piece_completed`, once per piece (a redo after a crash announces nothing new)."""
        notifier = self._notifier
        if notifier is None or not notifier.targets_for(recording.options):
            return
        await self._db.run_async(lambda s: notifier.recording_event(
            s, EventType.PIECE_COMPLETED, recording, once=f"piece-{piece.index}", piece=piece.public(),
        ))

    async def _hand_off(self, recording_id: str, piece: Piece) -> None:
        if self.on_piece is None:
            return
        root = self._settings.recordings_dir.resolve()
        thumb = root / piece.thumbnail_path if piece.thumbnail_path else None
        try:
            outcome = self.on_piece(recording_id, piece.index, root / piece.file_path, thumb)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # the piece is safe on disk; the receiver retries on its own terms
            log.exception("on_piece hook failed for piece %d", piece.index, extra={"recording_id": recording_id})

    def _produce(self, directory: Path, name: str, index: int, split: Split, start_time: float) -> Piece | None:
        """In a finalize thread: remux the piece, verify, probe and thumbnail it. While the capture goes on
        (a bounded split), the last part is still growing: only its indexed bytes are read."""
        root = self._settings.recordings_dir.resolve()
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        spool = Spool(directory)
        parts = spool.part_paths()
        limits: dict[int, int] = {}
        if split.bounded and parts:
            last = parts[-1][0]
            split = replace(split, growing=last.index)
            limits[last.index] = spool.committed_bytes(last)
        # a whole recording: the index says how long it is, so the MP4's index gets its room up front
        whole = not split.bounded and split.start is None
        result = remux_parts(parts, target, split, limits, spool.media_seconds if whole else None)
        if split.bounded and result.cut is None:
            return None
        try:
            if self._settings.verify != "off":
                verify(target, mode=self._settings.verify)
            info = probe(target)
        except LivevaultError:
            target.unlink(missing_ok=True)
            raise
        thumb = None
        if self._settings.thumbnails:
            try:
                thumb = make_thumbnail(target, target.with_suffix(".jpg"))
            except Exception:  # a missing thumbnail never fails a piece
                log.warning("thumbnail failed for %s", target.name, exc_info=True)
        return Piece(
            index=index, file_path=str(target.relative_to(root)),
            thumbnail_path=str(thumb.relative_to(root)) if thumb else None,
            size=target.stat().st_size, duration=info.duration, start_time=round(start_time, 3),
            end_time=round(start_time + info.duration, 3), video_codec=info.video_codec,
            audio_codec=info.audio_codec, width=info.width, height=info.height, fps=info.fps, end=result.cut,
        )


def listing(pieces: list[Piece]) -> dict[str, Any]:
    """The job result's `files` (videos in piece order, then their thumbnails) and `pieces`."""
    files = [p.file_path for p in pieces] + [p.thumbnail_path for p in pieces if p.thumbnail_path]
    return {"files": files, "pieces": [p.public() for p in pieces]}


def _publish(session: Any, recording: Recording, pieces: list[Piece]) -> None:
    """While the stream goes on: the finished pieces on the recording's job (`result.files`, `result.pieces`)."""
    if not recording.job_id:
        return
    jobs = JobRepository(session)
    job = jobs.get(recording.job_id)
    if job is None:
        return
    jobs.update(recording.job_id, result={**(job.result or {}), **listing(pieces), "s3": [],
                                          "recording_id": recording.id})


def _media_after(directory: Path, start: Cut | None) -> tuple[float, int]:
    """Seconds and bytes the spool's index holds after `start` (a cut's byte position), roughly."""
    seconds, size = 0.0, 0
    for record in Spool(directory).segments():
        if start is not None and (record.part < start.part or
                                  (record.part == start.part and record.offset + record.bytes <= start.pos)):
            continue
        seconds += record.duration
        size += record.bytes
    return seconds, size
