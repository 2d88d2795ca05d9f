"""HLS live capture (RFC 8216 §6.3): a playlist worker, bounded parallel segment fetchers, an in-order writer.

Start position: `CaptureOptions.start_from`. The default `live_edge` starts where a player would, at the
latest segment beginning at least three target durations before the end of the first playlist seen
(what the user saw when pressing record); `window_start` takes the whole window. A playlist that has
EXT-X-ENDLIST is recorded whole, and so is a stream whose first playlist was still empty. After a crash,
a spool that already holds segments continues right after its last sequence while that is in the window.

Segments are deduplicated by media sequence number. Sequences that fell out of the window unseen become
a gap; a segment that keeps failing is retried with backoff while it is in the window (at most
`segment_retries` times) and then recorded as a gap. EXT-X-DISCONTINUITY, a media-sequence reset and a
changed EXT-X-MAP each open a new part, so every part has continuous timestamps.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import time
from collections import deque
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from livevault.capture.crypto import KeyCache, decrypt_aes128, sequence_iv
from livevault.capture.http import GONE_STATUSES, Body, HttpClient, http_status
from livevault.capture.m3u8 import (
    InitSection,
    Key,
    MasterPlaylist,
    MediaPlaylist,
    Segment,
    parse_media_playlist,
    parse_playlist,
    select_variant,
    start_index,
)
from livevault.capture.progressive import notify_progress
from livevault.domain.capture import CaptureOutcome, EndReason, GapCause, GapRecord, PartContainer, PartReason
from livevault.errors import DecryptionFailed, DiskFull, LivevaultError

if TYPE_CHECKING:
    import aiohttp

    from livevault.capture.base import CaptureControl, CaptureOptions
    from livevault.capture.spool import PartWriter, Spool
    from livevault.domain.stream import StreamInfo

log = logging.getLogger(__name__)

_MIN_RELOAD = 0.1
_FAILED_RELOAD = 1.0
_BACKOFF_START = 0.25
_STOP_GRACE = 0.5
_SEEN_KEPT = 2048
_FMP4_BOXES = {b"ftyp", b"styp", b"moof", b"sidx", b"moov"}
_EXTENSIONS = {".ts": PartContainer.TS, ".aac": PartContainer.AAC, ".m4s": PartContainer.FMP4,
               ".mp4": PartContainer.FMP4, ".m4a": PartContainer.FMP4, ".m4v": PartContainer.FMP4,
               ".cmfv": PartContainer.FMP4, ".cmfa": PartContainer.FMP4}


class _Verdict(Enum):
    OK = "ok"
    STALE = "stale"
    RESET = "reset"


class _Unreachable(Exception):
    def __init__(self, error: LivevaultError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True, slots=True)
class _Gap:
    cause: GapCause
    started: float
    ended: float
    from_seq: int | None = None
    to_seq: int | None = None
    missing: int = 0
    duration: float = 0.0


@dataclass(slots=True)
class _Fetched:
    body: Body | None = None
    init: bytes | None = None
    error: LivevaultError | None = None
    expired: bool = False
    started: float = 0.0


@dataclass(slots=True, eq=False)
class _Item:
    """One entry of the in-order queue: a segment to fetch and write, or a gap to record."""

    segment: Segment | None = None
    gap: _Gap | None = None
    epoch: int = 0
    reset: bool = False
    task: asyncio.Task[_Fetched] | None = None


def _name(uri: str) -> str:
    """A segment's identity across reloads: its file name (hosts and query tokens may change)."""
    return PurePosixPath(urlsplit(uri).path).name


def detect_container(segment: Segment, head: bytes) -> PartContainer:
    """The container of a segment: fMP4 when it has a map, else from its first bytes, else its extension."""
    if segment.init is not None:
        return PartContainer.FMP4
    if head[:1] == b"\x47":
        return PartContainer.TS
    if head[4:8] in _FMP4_BOXES:
        return PartContainer.FMP4
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xF0 == 0xF0):
        return PartContainer.AAC
    return _EXTENSIONS.get(PurePosixPath(urlsplit(segment.uri).path).suffix.lower(), PartContainer.TS)


def _segment_gap(segment: Segment, cause: GapCause, started: float) -> _Gap:
    return _Gap(cause, started, time.time(), segment.sequence, segment.sequence, 1, segment.duration)


async def _wait_stop(control: CaptureControl) -> None:
    while not await control.wait(3600.0):
        pass


class _Window:
    """Which media sequences were seen, to deduplicate, spot skipped ones and detect resets.

    A segment is known by its sequence and file name (hosts and query tokens may change between
    reloads). Some servers never send EXT-X-DISCONTINUITY-SEQUENCE, so the numbering of every segment
    after a discontinuity drops by one when the tag leaves the window; that shift is learned from the
    overlap and undone, so it neither splits parts nor looks like a reset.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.next_seq: int | None = None
        self.last_disc = 0
        self.latest: MediaPlaylist | None = None
        self.applied_at = time.monotonic()
        self.applied_wall = time.time()
        self._seen: dict[int, tuple[str, int]] = {}
        self._suspect = False
        self._disc_shift = 0

    def remember(self, playlist: MediaPlaylist) -> None:
        for seg in playlist.segments:
            self._seen[seg.sequence] = (_name(seg.uri), seg.discontinuity_sequence)
        while len(self._seen) > _SEEN_KEPT:
            del self._seen[next(iter(self._seen))]
        self.latest = playlist
        self.applied_at, self.applied_wall = time.monotonic(), time.time()

    def known(self, seg: Segment) -> bool:
        seen = self._seen.get(seg.sequence)
        return seen is not None and seen[0] == _name(seg.uri)

    def normalize(self, playlist: MediaPlaylist) -> MediaPlaylist:
        shift = self._disc_shift
        if not shift:
            return playlist
        segments = tuple(replace(s, discontinuity_sequence=s.discontinuity_sequence + shift)
                         for s in playlist.segments)
        return replace(playlist, segments=segments, discontinuity_sequence=playlist.discontinuity_sequence + shift)

    def classify(self, raw: MediaPlaylist) -> tuple[_Verdict, MediaPlaylist]:
        """OK to take new segments from, STALE (an older copy; ignore) or RESET (the encoder restarted).

        Returns the verdict and the playlist with the learned discontinuity numbering applied.
        """
        assert self.next_seq is not None
        playlist = self.normalize(raw)
        if not playlist.segments:
            return _Verdict.STALE, playlist
        if playlist.last_sequence < self.next_seq - 1:
            if any(self.known(s) for s in playlist.segments):
                self._suspect = False
                return _Verdict.STALE, playlist
            # behind with nothing in common: a reset, once a second reload shows it is no stale copy
            self._suspect = not self._suspect
            return (_Verdict.STALE if self._suspect else _Verdict.RESET), raw
        self._suspect = False
        if self._renumbered(playlist):
            return _Verdict.RESET, raw
        playlist = self.normalize(raw)
        fresh = [s for s in playlist.segments if s.sequence >= self.next_seq]
        if (fresh and fresh[0].discontinuity_sequence < self.last_disc) or self._jumped(playlist):
            return _Verdict.RESET, raw
        return _Verdict.OK, playlist

    def _renumbered(self, playlist: MediaPlaylist) -> bool:
        """True when a seen sequence now has another name and numbering (a reset); learns a shift."""
        for seg in playlist.segments:
            seen = self._seen.get(seg.sequence)
            if seen is None or seen[1] == seg.discontinuity_sequence:
                continue
            if seen[0] != _name(seg.uri):
                return True
            self._disc_shift += seen[1] - seg.discontinuity_sequence
            return False
        return False

    def _jumped(self, playlist: MediaPlaylist) -> bool:
        """Far more sequences skipped than the time since the last playlist can explain."""
        assert self.next_seq is not None
        skipped = playlist.media_sequence - self.next_seq
        elapsed = time.monotonic() - self.applied_at
        return skipped > 2 * (elapsed / max(playlist.target_duration, 0.5) + len(playlist.segments)) + 10

    def start_over(self) -> None:
        self.epoch += 1
        self._seen.clear()
        self._suspect = False
        self._disc_shift = 0


class HlsCapture:
    """The CaptureEngine for HLS; one instance serves every HLS recording of the process."""

    def __init__(self, session: aiohttp.ClientSession, options: CaptureOptions) -> None:
        self._session = session
        self._options = options

    async def run(self, stream: StreamInfo, spool: Spool, control: CaptureControl) -> CaptureOutcome:
        return await _HlsRun(self._session, self._options, stream, spool, control).execute()


class _HlsRun:
    """The state of one HLS capture."""

    def __init__(self, session: aiohttp.ClientSession, options: CaptureOptions, stream: StreamInfo,
                 spool: Spool, control: CaptureControl) -> None:
        self._session, self._options, self._stream = session, options, stream
        self._spool, self._control = spool, control
        self._client: HttpClient | None = None
        self._keys: KeyCache | None = None
        self._inits: dict[tuple[str, object], bytes] = {}
        self._init_lock = asyncio.Lock()
        self._window = _Window()
        self._media_url = stream.url
        self._last_text = ""
        self._last_ok = time.monotonic()
        self._outage = False
        self._ended = False
        self._saw_empty = False
        self._items: deque[_Item] = deque()
        self._unstarted: deque[_Item] = deque()
        self._active = 0
        self._wake = asyncio.Event()
        self._adding_done = False
        self._stopping = False
        self._end: tuple[EndReason, LivevaultError | None] | None = None
        self._open_reason = PartReason.RESUME if spool.parts() else PartReason.START
        self._part_disc: int | None = None
        self._part_init: tuple[str, object] | None = None
        self._reset_pending = False
        self._spill_dir = spool.directory / ".hls-tmp"

    # ---- supervision -------------------------------------------------------------------------------

    async def execute(self) -> CaptureOutcome:
        try:
            self._client = HttpClient(self._session, headers=self._stream.headers, proxy=self._stream.proxy,
                                      timeout=self._options.http_timeout)
        except LivevaultError as exc:
            return CaptureOutcome(EndReason.ERROR, exc.code, exc.message)
        self._keys = KeyCache(self._client.get_bytes)
        producer = asyncio.create_task(self._produce())
        writer = asyncio.create_task(self._write_loop())
        stopper = asyncio.create_task(_wait_stop(self._control))
        try:
            await asyncio.wait({writer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            return await self._conclude(producer, writer)
        finally:
            await self._abandon(producer, writer, stopper)

    async def _conclude(self, producer: asyncio.Task[None], writer: asyncio.Task[None]) -> CaptureOutcome:
        try:
            if not writer.done():
                await self._stop_gracefully(producer, writer)
                return CaptureOutcome(EndReason.STOPPED if self._control.stop.is_set() else EndReason.DURATION)
            writer.result()
        except LivevaultError as exc:
            return CaptureOutcome(EndReason.ERROR, exc.code, exc.message)
        except Exception as exc:
            log.exception("HLS capture failed")
            return CaptureOutcome(EndReason.ERROR, LivevaultError.code, f"{type(exc).__name__}: {exc}")
        reason, error = self._end or (EndReason.STOPPED, None)
        return CaptureOutcome(reason, error.code if error else None, error.message if error else None)

    async def _stop_gracefully(self, producer: asyncio.Task[None], writer: asyncio.Task[None]) -> None:
        """Give in-flight segments a moment, write the ones that arrived, abandon the rest."""
        self._stopping = True
        producer.cancel()
        pending = [i.task for i in self._items if i.task is not None and not i.task.done()]
        if pending:
            await asyncio.wait(pending, timeout=_STOP_GRACE)
        writer.cancel()
        results = await asyncio.gather(writer, return_exceptions=True)
        if isinstance(results[0], LivevaultError):
            raise results[0]
        while self._items:
            item = self._items[0]
            task = item.task
            if item.segment is not None and (task is None or not task.done() or task.cancelled()):
                break
            self._write_item(item, task.result() if task is not None else None)
            self._items.popleft()

    async def _abandon(self, *tasks: asyncio.Task[None]) -> None:
        fetches = [i.task for i in self._items if i.task is not None]
        for task in (*tasks, *fetches):
            task.cancel()
        await asyncio.gather(*tasks, *fetches, return_exceptions=True)
        await asyncio.to_thread(self._spool.close_part)  # fsync off the event loop
        shutil.rmtree(self._spill_dir, ignore_errors=True)

    def _finish(self, reason: EndReason, error: LivevaultError | None = None) -> None:
        if self._end is None:
            self._end = (reason, error)
        self._adding_done = True
        self._wake.set()

    # ---- playlist worker ---------------------------------------------------------------------------

    async def _produce(self) -> None:
        try:
            if await self._playlist_loop():
                self._finish(EndReason.END_OF_STREAM)
        except _Unreachable as exc:
            log.warning("playlist unreachable for %.0fs: %s", self._options.playlist_grace, exc.error.message)
            self._finish(EndReason.UNREACHABLE, exc.error)
        except LivevaultError as exc:
            self._finish(EndReason.ERROR, exc)
        except Exception as exc:
            log.exception("HLS playlist worker failed")
            self._finish(EndReason.ERROR, LivevaultError(f"internal error: {type(exc).__name__}: {exc}"))

    async def _playlist_loop(self) -> bool:
        """Load and reload the media playlist until EXT-X-ENDLIST (True) or a stop (False)."""
        started = time.monotonic()
        if not await self._initial_playlist():
            return False
        changed = True
        while not self._ended:
            latest = self._window.latest
            target = latest.target_duration if latest is not None else 1.0
            interval = target if changed else target / 2
            if self._outage:
                interval = min(interval, _FAILED_RELOAD)
            if await self._control.wait(max(_MIN_RELOAD, started + interval - time.monotonic())):
                return False
            started = time.monotonic()
            changed = await self._reload()
        return True

    async def _initial_playlist(self) -> bool:
        """The first media playlist (following a master playlist); retried within the grace period."""
        while True:
            try:
                playlist = await self._load_first()
                break
            except LivevaultError as exc:
                if not (exc.retryable or http_status(exc) in GONE_STATUSES):
                    raise
                if time.monotonic() - self._last_ok > self._options.playlist_grace:
                    raise
            if await self._control.wait(_FAILED_RELOAD):
                return False
        self._last_ok = time.monotonic()
        self._apply(playlist)
        return True

    async def _load_first(self) -> MediaPlaylist:
        assert self._client is not None
        text, url = await self._client.get_text(self._stream.url)
        playlist = parse_playlist(text, url)
        if isinstance(playlist, MasterPlaylist):
            variant = select_variant(playlist, self._stream.quality)
            log.info("HLS variant %d bit/s %s", variant.bandwidth, variant.resolution)
            self._media_url = variant.uri
            text, url = await self._client.get_text(variant.uri)
            playlist = parse_media_playlist(text, url)
        self._last_text = text
        return playlist

    async def _reload(self) -> bool:
        """Reload the media playlist; True when it brought something new."""
        assert self._client is not None
        try:
            text, url = await self._client.get_text(self._media_url)
            if text == self._last_text:
                self._last_ok, self._outage = time.monotonic(), False
                return False
            playlist = parse_media_playlist(text, url)
        except LivevaultError as exc:
            self._outage = True
            if time.monotonic() - self._last_ok > self._options.playlist_grace:
                raise _Unreachable(exc) from exc
            return False
        self._last_text = text
        self._last_ok = time.monotonic()
        changed = self._apply(playlist)
        self._outage = False
        return changed

    def _apply(self, playlist: MediaPlaylist) -> bool:
        """Take what is new in a (re)loaded playlist; True when it brought segments or a reset."""
        window = self._window
        if window.next_seq is None:
            return self._start(playlist)
        verdict, playlist = window.classify(playlist)
        if verdict is _Verdict.STALE:
            return False
        self._ended = playlist.endlist
        if verdict is _Verdict.RESET:
            log.warning("HLS media sequence reset: %d after %d", playlist.media_sequence, window.next_seq - 1)
            fresh = [s for s in playlist.segments if not window.known(s)]
            window.start_over()
            window.remember(playlist)
            window.next_seq = playlist.last_sequence + 1
            window.last_disc = playlist.segments[-1].discontinuity_sequence
            self._enqueue(fresh, reset=True)
            return True
        self._note_skipped(playlist, window.next_seq)
        window.remember(playlist)
        fresh = [s for s in playlist.segments if s.sequence >= window.next_seq]
        window.next_seq = max(window.next_seq, playlist.last_sequence + 1)
        self._enqueue(fresh)
        return bool(fresh)

    def _start(self, playlist: MediaPlaylist) -> bool:
        if not playlist.segments:
            self._saw_empty = True
            self._window.latest = playlist
            self._ended = playlist.endlist
            return False
        index = self._resume_index(playlist)
        if index is None:
            index = 0 if self._saw_empty else start_index(playlist, self._options.start_from)
        self._window.remember(playlist)
        self._enqueue(list(playlist.segments[index:]))
        self._window.next_seq = playlist.last_sequence + 1
        self._ended = playlist.endlist
        return True

    def _resume_index(self, playlist: MediaPlaylist) -> int | None:
        """After a crash: the index right after the spool's last segment, when the window still has it."""
        records = self._spool.segments() if self._open_reason is PartReason.RESUME else []
        if not records:
            return None
        last = records[-1]
        for index, seg in enumerate(playlist.segments):
            if seg.sequence == last.sequence:
                return index + 1 if seg.discontinuity_sequence == last.discontinuity_sequence else None
        first = playlist.segments[0]
        if 0 < first.sequence - last.sequence <= len(playlist.segments) and \
                first.discontinuity_sequence >= last.discontinuity_sequence:
            return 0
        return None

    def _note_skipped(self, playlist: MediaPlaylist, next_seq: int) -> None:
        missing = playlist.media_sequence - next_seq
        if missing <= 0:
            return
        cause = GapCause.PLAYLIST_UNREACHABLE if self._outage else GapCause.SEGMENT_EXPIRED
        log.warning("HLS sequences %d-%d left the window unseen", next_seq, playlist.media_sequence - 1)
        gap = _Gap(cause, self._window.applied_wall, time.time(), next_seq, playlist.media_sequence - 1,
                   missing, missing * playlist.target_duration)
        self._add(_Item(gap=gap, epoch=self._window.epoch))

    def _enqueue(self, segments: list[Segment], *, reset: bool = False) -> None:
        for index, seg in enumerate(segments):
            if seg.key is not None and (seg.key.method != "AES-128" or seg.key.keyformat.lower() != "identity"):
                raise DecryptionFailed(
                    f"the stream uses {seg.key.method} encryption ({seg.key.keyformat}); livevault records "
                    "clear and AES-128 HLS only", details={"method": seg.key.method})
            item = _Item(epoch=self._window.epoch, reset=reset and index == 0)
            if seg.gap:
                item.gap = _segment_gap(seg, GapCause.SEGMENT_FAILED, time.time())
            else:
                item.segment = seg
            self._window.last_disc = seg.discontinuity_sequence
            self._add(item)

    def _add(self, item: _Item) -> None:
        self._items.append(item)
        if item.segment is not None:
            self._unstarted.append(item)
        self._pump()
        self._wake.set()

    def _pump(self) -> None:
        while not self._stopping and self._unstarted and self._active < max(1, self._options.segment_concurrency):
            item = self._unstarted.popleft()
            item.task = asyncio.create_task(self._fetch(item))
            self._active += 1

    # ---- segment fetchers --------------------------------------------------------------------------

    def _target(self) -> float:
        latest = self._window.latest
        return max(latest.target_duration if latest is not None else 10.0, _MIN_RELOAD)

    def _in_window(self, item: _Item) -> bool:
        latest = self._window.latest
        if item.epoch != self._window.epoch or latest is None or item.segment is None:
            return False
        return latest.endlist or latest.media_sequence <= item.segment.sequence <= latest.last_sequence

    async def _fetch(self, item: _Item) -> _Fetched:
        """Fetch one segment with retries and backoff; failure is a result (a gap), never a stall."""
        assert item.segment is not None
        seg, started, delay, attempt = item.segment, time.time(), _BACKOFF_START, 0
        while True:
            attempt += 1
            try:
                return await self._fetch_once(seg, started)
            except DiskFull:
                raise
            except LivevaultError as exc:
                error = exc
            except Exception as exc:
                log.exception("unexpected failure fetching segment %d", seg.sequence)
                error = LivevaultError(f"internal error: {type(exc).__name__}: {exc}")
            if isinstance(error, DecryptionFailed) and seg.key is not None and seg.key.uri:
                assert self._keys is not None
                self._keys.forget(seg.key.uri)
            in_window = self._in_window(item)
            if attempt > self._options.segment_retries or not in_window:
                status = http_status(error)
                log.warning("HLS segment %d lost: %s", seg.sequence, error.message)
                expired = not in_window and status is not None and 400 <= status < 500
                return _Fetched(error=error, expired=expired, started=started)
            await asyncio.sleep(min(delay, self._target()))
            delay *= 2

    async def _fetch_once(self, seg: Segment, started: float) -> _Fetched:
        assert self._client is not None
        init = await self._init_bytes(seg.init, seg.sequence) if seg.init is not None else None
        byte_range = (seg.byterange.offset, seg.byterange.length) if seg.byterange is not None else None
        total = self._options.http_timeout + 3 * self._target()
        try:
            if seg.key is None:
                body = await self._client.get_body(seg.uri, byte_range=byte_range, total=total,
                                                   spill_dir=self._spill_dir)
            else:
                data = await self._client.get_bytes(seg.uri, byte_range=byte_range, total=total)
                data = await self._decrypt(seg.key, data, seg.sequence)
                body = Body(data=data, size=len(data), head=data[:16])
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFull("no space left for a temporary segment file") from exc
            raise
        return _Fetched(body=body, init=init, started=started)

    async def _decrypt(self, key: Key, data: bytes, sequence: int) -> bytes:
        assert self._keys is not None
        if key.method != "AES-128" or not key.uri:
            raise DecryptionFailed(f"cannot decrypt {key.method} without a key URI")
        secret = await self._keys.get(key.uri)
        return decrypt_aes128(data, secret, key.iv or sequence_iv(sequence))

    async def _init_bytes(self, init: InitSection, sequence: int) -> bytes:
        """The EXT-X-MAP section, fetched once per (URI, byte range)."""
        assert self._client is not None
        ident = (init.uri, init.byterange)
        async with self._init_lock:
            cached = self._inits.get(ident)
            if cached is None:
                byte_range = (init.byterange.offset, init.byterange.length) if init.byterange else None
                cached = await self._client.get_bytes(init.uri, byte_range=byte_range)
                if init.key is not None:
                    cached = await self._decrypt(init.key, cached, 0)
                self._inits = {**dict(list(self._inits.items())[-3:]), ident: cached}
        return cached

    # ---- in-order writer ---------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            if not self._items:
                if self._adding_done:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._items[0]
            if item.segment is not None and item.task is None:
                self._pump()
                if item.task is None:  # stopping: nothing more is fetched
                    self._wake.clear()
                    await self._wake.wait()
                    continue
            fetched = None
            if item.task is not None:
                await asyncio.wait((item.task,))
                fetched = item.task.result()
            self._write_item(item, fetched)
            self._items.popleft()
            if item.task is not None:
                self._active -= 1
                self._pump()

    def _write_item(self, item: _Item, fetched: _Fetched | None) -> None:
        self._reset_pending = self._reset_pending or item.reset
        if item.gap is not None:
            self._add_gap(item.gap)
            return
        assert item.segment is not None
        assert fetched is not None
        if fetched.body is None:
            cause = GapCause.SEGMENT_EXPIRED if fetched.expired else GapCause.SEGMENT_FAILED
            self._add_gap(_segment_gap(item.segment, cause, fetched.started))
            return
        try:
            self._write_segment(item.segment, fetched.body, fetched.init)
        finally:
            fetched.body.discard()

    def _write_segment(self, seg: Segment, body: Body, init: bytes | None) -> None:
        part, reason = self._part_for(seg, detect_container(seg, body.head))
        if reason is not None and init is not None:
            part.write(init)
        for chunk in body.chunks():
            part.write(chunk)
        record = part.commit_segment(
            sequence=seg.sequence, duration=seg.duration, discontinuity_sequence=seg.discontinuity_sequence,
            discontinuity=reason is PartReason.DISCONTINUITY, program_date_time=seg.program_date_time,
        )
        self._spool.note_segment(record)
        notify_progress(self._spool, self._control)

    def _part_for(self, seg: Segment, container: PartContainer) -> tuple[PartWriter, PartReason | None]:
        """The part this segment goes to, opening a new one (with its init section) when needed."""
        init = (seg.init.uri, seg.init.byterange) if seg.init is not None else None
        current = self._spool.current
        reason: PartReason | None = None
        if current is None or current.closed:
            reason = self._open_reason
        elif self._reset_pending:
            reason = PartReason.SEQUENCE_RESET
        elif seg.discontinuity_sequence != self._part_disc:
            reason = PartReason.DISCONTINUITY
        elif init != self._part_init or container is not current.info.container:
            reason = PartReason.INIT_CHANGE
        self._part_disc, self._part_init, self._reset_pending = seg.discontinuity_sequence, init, False
        if reason is None and current is not None:
            return current, None
        log.info("HLS part opened (%s, %s)", reason, container.value)
        return self._spool.open_part(container, reason or PartReason.START), reason

    def _add_gap(self, gap: _Gap) -> None:
        current = self._spool.current
        parts = self._spool.parts()
        part = current.index if current is not None else (parts[-1].index if parts else 0)
        self._spool.add_gap(GapRecord(
            part=part, started_at=gap.started, ended_at=max(gap.ended, gap.started), cause=gap.cause,
            from_sequence=gap.from_seq, to_sequence=gap.to_seq, missing_segments=gap.missing,
            duration=round(gap.duration, 3),
        ))
