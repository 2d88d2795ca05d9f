"""HLS live capture (RFC 8216 §6.3): a playlist worker, bounded parallel segment fetchers, an in-order writer.

Start position: `CaptureControl.start`, else `CaptureOptions.start_from`. The default `live_edge` starts at
the newest segment of the first playlist seen, so a media limit (`duration`) counts from now;
`window_start` takes the whole window (the back-fill does not count against the limit); `player` starts
where a player would (three target durations before the end). A media limit stops right after the segment
that reaches it. A playlist that still answers but brings nothing new for `playlist_grace` is
STREAM_STALLED; an unreachable playlist that comes back opens a new part after the gap. A playlist that has
EXT-X-ENDLIST is recorded whole, and so is a stream whose first playlist was still empty. After a crash,
a spool that already holds segments continues right after its last sequence while that is in the window;
otherwise the pause is a PROCESS_RESTART gap (`hls_window.resume_point`).

Segments are deduplicated by media sequence number. Sequences that fell out of the window unseen become
a gap; a segment that keeps failing is retried with backoff while it is in the window (at most
`segment_retries` times) and then recorded as a gap. EXT-X-DISCONTINUITY, a media-sequence reset and a
changed EXT-X-MAP each open a new part, so every part has continuous timestamps.

Responsibilities: `hls_window` tracks sequences, `hls_fetch` fetches and decrypts segments, `hls_write`
writes segments, parts and gaps to the spool; this module runs them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import deque
from typing import TYPE_CHECKING

from livevault.capture import m3u8
from livevault.capture._aio import on_tick, pause, wait_done, wait_stop
from livevault.capture.hls_fetch import Fetched, SegmentFetcher, check_supported
from livevault.capture.hls_window import (
    MIN_RELOAD,
    PendingGap,
    PlaylistUnreachable,
    SequenceWindow,
    Verdict,
    resume_point,
    segment_gap,
)
from livevault.capture.hls_write import HlsSpoolWriter, QueueItem
from livevault.capture.http import GONE_STATUSES, HttpClient, http_status
from livevault.domain.capture import CaptureOutcome, EndReason, GapCause, PartReason
from livevault.errors import LivevaultError, StreamStalled

if TYPE_CHECKING:
    import aiohttp

    from livevault.capture.base import CaptureControl, CaptureOptions
    from livevault.capture.spool import Spool
    from livevault.domain.stream import StreamInfo

__all__ = ["HlsCapture"]

log = logging.getLogger(__name__)

_FAILED_RELOAD = 1.0
_STOP_GRACE = 0.5


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
        self._fetcher: SegmentFetcher | None = None
        self._window = SequenceWindow()
        self._media_url = stream.url
        self._last_text = ""
        self._parsed = m3u8.ReloadCache()
        self._last_ok = time.monotonic()
        self._last_new = self._last_ok
        self._outage = False
        self._ended = False
        self._saw_empty = False
        self._pending_reset = False  # a reset seen in a playlist with nothing new yet: mark the next segment
        self._items: deque[QueueItem] = deque()
        self._unstarted: deque[QueueItem] = deque()
        self._active = 0
        self._wake = asyncio.Event()
        self._adding_done = False
        self._stopping = False
        self._end: tuple[EndReason, LivevaultError | None] | None = None
        self._stopper: asyncio.Task[None] | None = None
        records = spool.segments()
        self._resume_after = records[-1] if records else None
        resumed = PartReason.RECONNECT if control.resume_cause else PartReason.RESUME
        self._spool_writer = HlsSpoolWriter(spool, control, resumed if spool.parts() else PartReason.START)
        self._spill_dir = spool.directory / ".hls-tmp"

    # ---- supervision -------------------------------------------------------------------------------

    async def execute(self) -> CaptureOutcome:
        try:
            self._client = HttpClient(self._session, headers=self._stream.headers, proxy=self._stream.proxy,
                                      timeout=self._options.http_timeout, origin=self._stream.url,
                                      signer=self._options.url_signer, lean=self._options.lean_http)
        except LivevaultError as exc:
            return CaptureOutcome(EndReason.ERROR, exc.code, exc.message)
        self._fetcher = SegmentFetcher(self._client, self._options, self._spill_dir)
        producer = asyncio.create_task(self._produce())
        writer = asyncio.create_task(self._write_loop())
        stopper = self._stopper = asyncio.create_task(wait_stop(self._control))
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
        return CaptureOutcome(reason, error.code if error else None, error.message if error else None,
                              explicit_end=reason is EndReason.END_OF_STREAM and self._ended)

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
        except PlaylistUnreachable as exc:
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
            if await self._pause(on_tick(max(MIN_RELOAD, started + interval - time.monotonic()))):
                return False
            started = time.monotonic()
            changed = await self._reload()
            if changed:
                self._last_new = started
            elif started - self._last_new > self._options.playlist_grace and not self._outage:
                raise StreamStalled(
                    f"the playlist brought no new segment for {self._options.playlist_grace:g} s "
                    f"(LIVEVAULT_PLAYLIST_GRACE) while it still answered: the stream stalled")
        return True

    async def _pause(self, seconds: float) -> bool:
        return await pause(self._control, self._stopper, seconds)

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
            if await self._pause(_FAILED_RELOAD):
                return False
        self._last_ok = time.monotonic()
        self._apply(playlist)
        return True

    async def _load_first(self) -> m3u8.MediaPlaylist:
        assert self._client is not None
        text, url = await self._client.get_text(self._stream.url)
        playlist = m3u8.parse_playlist(text, url, self._parsed)
        if isinstance(playlist, m3u8.MasterPlaylist):
            variant = m3u8.select_variant(playlist, self._stream.quality)
            log.info("HLS variant %d bit/s %s", variant.bandwidth, variant.resolution)
            self._media_url = variant.uri
            text, url = await self._client.get_text(variant.uri)
            playlist = m3u8.parse_media_playlist(text, url, self._parsed)
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
            playlist = m3u8.parse_media_playlist(text, url, self._parsed)
        except LivevaultError as exc:
            self._outage = True
            if time.monotonic() - self._last_ok > self._options.playlist_grace:
                raise PlaylistUnreachable(exc) from exc
            return False
        self._last_text = text
        self._last_ok = time.monotonic()
        changed = self._apply(playlist)
        self._outage = False
        return changed

    def _apply(self, playlist: m3u8.MediaPlaylist) -> bool:
        """Take what is new in a (re)loaded playlist; True when it brought segments or a reset."""
        window = self._window
        if window.next_seq is None:
            return self._start(playlist)
        verdict, playlist = window.classify(playlist)
        if verdict is Verdict.STALE:
            return False
        self._ended = playlist.endlist
        if verdict is Verdict.RESET:
            log.warning("HLS media sequence reset: %d after %d", playlist.media_sequence, window.next_seq - 1)
            if self._outage:  # it came back renumbered: the outage is a gap of unknown sequences
                now = time.time()
                self._add(QueueItem(gap=PendingGap(GapCause.PLAYLIST_UNREACHABLE, window.applied_wall, now,
                                               duration=max(0.0, now - window.applied_wall)),
                                epoch=window.epoch))
            tolerance = max(2.0, playlist.target_duration)
            fresh = [s for s in playlist.segments if not window.same(s, tolerance)]
            window.start_over()
            window.remember(playlist)
            window.next_seq = playlist.last_sequence + 1
            window.last_disc = playlist.segments[-1].discontinuity_sequence
            self._enqueue(fresh, reset=True)
            return True
        self._note_skipped(playlist)
        window.remember(playlist)
        self._control.live_edge = playlist.last_sequence
        fresh = [s for s in playlist.segments if s.sequence >= window.next_seq]
        window.next_seq = max(window.next_seq, playlist.last_sequence + 1)
        self._enqueue(fresh)
        return bool(fresh)

    def _start(self, playlist: m3u8.MediaPlaylist) -> bool:
        if not playlist.segments:
            self._saw_empty = True
            self._window.latest = playlist
            self._ended = playlist.endlist
            return False

        def fresh_start() -> int:
            return 0 if self._saw_empty else m3u8.start_index(playlist, self._control.start or self._options.start_from)

        if self._resume_after is None:
            index = fresh_start()
            if index < len(playlist.segments) - 1 and not playlist.endlist:  # back-fill: not counted as duration
                self._control.allow_backfill(sum(seg.duration for seg in playlist.segments[index:-1]))
        else:
            index, gap = resume_point(self._resume_after, playlist, fresh_start, time.time(),
                                      self._control.resume_cause)
            if gap is not None:
                log.warning("HLS resumed after a restart; lost %s since the last recorded sequence %d",
                            f"sequences {gap.from_seq}-{gap.to_seq}" if gap.missing else "an unknown stretch",
                            self._resume_after.sequence)
                self._add(QueueItem(gap=gap, epoch=self._window.epoch))
        self._window.remember(playlist)
        self._control.live_edge = playlist.last_sequence
        self._enqueue(list(playlist.segments[index:]))
        self._window.next_seq = playlist.last_sequence + 1
        self._ended = playlist.endlist
        return True

    def _note_skipped(self, playlist: m3u8.MediaPlaylist) -> None:
        gap = self._window.skipped_gap(playlist, outage=self._outage)
        if gap is not None:
            log.warning("HLS sequences %d-%d left the window unseen", gap.from_seq, gap.to_seq)
            self._add(QueueItem(gap=gap, epoch=self._window.epoch))

    def _enqueue(self, segments: list[m3u8.Segment], *, reset: bool = False) -> None:
        reset = reset or self._pending_reset
        self._pending_reset = reset and not segments
        for index, seg in enumerate(segments):
            check_supported(seg)
            item = QueueItem(epoch=self._window.epoch, reset=reset and index == 0)
            if seg.gap:
                item.gap = segment_gap(seg, GapCause.SEGMENT_FAILED, time.time())
            else:
                item.segment = seg
            self._window.last_disc = seg.discontinuity_sequence
            self._add(item)

    def _add(self, item: QueueItem) -> None:
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

    async def _fetch(self, item: QueueItem) -> Fetched:
        assert self._fetcher is not None
        assert item.segment is not None
        seg, window = item.segment, self._window
        return await self._fetcher.fetch(seg, lambda: window.holds(item.epoch, seg), window.target)

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
                await wait_done(item.task)
                fetched = item.task.result()
            self._write_item(item, fetched)
            self._items.popleft()
            if item.task is not None:
                self._active -= 1
                self._pump()
            if item.segment is not None and self._control.max_media is not None and self._control.expired():
                self._finish(EndReason.DURATION)  # the media limit: stop right after the segment reaching it
                return

    def _write_item(self, item: QueueItem, fetched: Fetched | None) -> None:
        self._spool_writer.write(item.segment, item.gap, fetched, reset=item.reset)
