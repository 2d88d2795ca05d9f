"""Capture of endless HTTP bodies (FLV, MPEG-TS): stream the body into a part, index it every second.

The body is read on the process-wide tick (`_aio.TICK`, or the index interval when that is shorter):
between ticks the connection is not read and the kernel holds what arrives, so every progressive capture
of the process reads in the same wake-up of the event loop rather than once per packet the server sends.

The index gets a pseudo-segment about every `progressive_index_interval` seconds (sequence = running
counter, duration = wall time covered). A stall (`stall_timeout` without a byte), a dropped connection or
a clean end of the body while the capture should go on leads to reconnects with backoff for up to the
reconnect window (`CaptureControl.reconnect_window`, else `CaptureOptions.reconnect_window`) seconds; a
stall is reported as STREAM_STALLED. Each connection that delivers bytes gets its own part (a complete
FLV/TS file with its own header), and the outage between two of them is a gap. A capture that starts on a
spool that already holds segments (livevault was restarted) opens a RESUME part, and the time from the
last indexed segment to its first new byte is a PROCESS_RESTART gap (or `CaptureControl.resume_cause`, with
a RECONNECT part, when the recorder captures again after a blip). 404/410 on a reconnect ends the capture
as END_OF_STREAM (the recorder decides whether the source really ended); an exhausted window ends it as
UNREACHABLE. A failed first connection is an ERROR with the mapped code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from livevault.capture._aio import TICK, on_tick
from livevault.capture.base import CaptureProgress
from livevault.capture.http import GONE_STATUSES, HttpClient, http_status
from livevault.domain.capture import CaptureOutcome, EndReason, GapCause, GapRecord, PartContainer, PartReason
from livevault.domain.stream import StreamFormat
from livevault.errors import DiskFull, InvalidInput, LivevaultError, NetworkTimeout, StreamStalled

if TYPE_CHECKING:
    from livevault.capture.base import CaptureControl, CaptureOptions
    from livevault.capture.spool import PartWriter, Spool
    from livevault.domain.stream import StreamInfo

log = logging.getLogger(__name__)

_BACKOFF_START = 0.25
_BACKOFF_MAX = 5.0
_CONTAINERS = {StreamFormat.FLV: PartContainer.FLV, StreamFormat.TS: PartContainer.TS}


@dataclass(frozen=True, slots=True)
class _Pause:
    """Bytes stopped coming; the first byte of the next part ends a gap of `cause` begun at `since`."""

    cause: GapCause
    since: float
    part: int
    next_reason: PartReason


@dataclass(slots=True)
class _Attempt:
    """How one connection went."""

    connected: bool = False
    got_bytes: bool = False
    error: LivevaultError | None = None
    cause: GapCause = GapCause.CONNECTION_DROPPED

    @property
    def gone(self) -> bool:
        return self.error is not None and http_status(self.error) in GONE_STATUSES

    @property
    def empty_eof(self) -> bool:
        return self.connected and not self.got_bytes and self.error is None


def notify_progress(spool: Spool, control: CaptureControl) -> None:
    """Tell the control's progress callback (if any) the spool's totals; its failures are only logged."""
    if control.on_progress is None:
        return
    try:
        control.on_progress(CaptureProgress(
            elapsed=control.elapsed(), bytes=spool.bytes_total, segments=spool.segment_count,
            gaps=len(spool.gaps()), parts=len(spool.parts()),
        ))
    except Exception:
        log.exception("progress callback failed")


def _error_outcome(exc: LivevaultError, reason: EndReason = EndReason.ERROR) -> CaptureOutcome:
    return CaptureOutcome(reason, exc.code, exc.message)


class ProgressiveCapture:
    """The CaptureEngine for FLV and MPEG-TS over HTTP; one instance serves every such recording."""

    def __init__(self, session: aiohttp.ClientSession, options: CaptureOptions) -> None:
        self._session = session
        self._options = options

    async def run(self, stream: StreamInfo, spool: Spool, control: CaptureControl) -> CaptureOutcome:
        return await _ProgressiveRun(self._session, self._options, stream, spool, control).execute()


class _ProgressiveRun:
    def __init__(self, session: aiohttp.ClientSession, options: CaptureOptions, stream: StreamInfo,
                 spool: Spool, control: CaptureControl) -> None:
        self._session, self._options, self._stream = session, options, stream
        self._spool, self._control = spool, control
        self._client: HttpClient | None = None
        self._reason = PartReason.RESUME if spool.parts() else PartReason.START
        records = spool.segments()
        self._seq = max((s.sequence for s in records), default=-1) + 1
        self._part: PartWriter | None = None
        self._committed = 0
        self._seg_started = 0.0
        self._last_byte = 0.0
        self._pause: _Pause | None = None
        if records:
            last = records[-1]
            cause = control.resume_cause
            self._pause = _Pause(cause or GapCause.PROCESS_RESTART, last.fetched_at, last.part,
                                 PartReason.RECONNECT if cause else PartReason.RESUME)

    async def execute(self) -> CaptureOutcome:
        container = _CONTAINERS.get(self._stream.format)
        try:
            if container is None:
                raise InvalidInput(f"progressive capture records FLV or TS, not {self._stream.format.value}")
            self._client = HttpClient(self._session, headers=self._stream.headers, proxy=self._stream.proxy,
                                      timeout=self._options.http_timeout, origin=self._stream.url,
                                      lean=self._options.lean_http)
        except LivevaultError as exc:
            return _error_outcome(exc)
        main = asyncio.create_task(self._main(container))
        stopper = asyncio.create_task(self._control.stop.wait())
        try:
            while True:  # a media limit is reached when the media is in, not when the wall clock says so
                remaining = self._remaining()
                if remaining is None or remaining > 0:
                    await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED,
                                       timeout=None if remaining is None else max(remaining, 0.05))
                if main.done():
                    return main.result()
                remaining = self._remaining()
                if self._control.stop.is_set() or (remaining is not None and remaining <= 0):
                    return CaptureOutcome(EndReason.STOPPED if self._control.stop.is_set() else EndReason.DURATION)
        except LivevaultError as exc:
            return _error_outcome(exc)
        finally:
            for task in (main, stopper):
                task.cancel()
            await asyncio.gather(main, stopper, return_exceptions=True)
            self._commit_quietly()
            await asyncio.to_thread(self._close_quietly)  # fsync off the event loop

    def _remaining(self) -> float | None:
        """The control's remaining time, less the media received but not yet indexed (about a second)."""
        remaining = self._control.remaining()
        if remaining is None or self._control.max_media is None or self._part is None:
            return remaining
        return remaining - max(0.0, self._last_byte - self._seg_started)

    async def _main(self, container: PartContainer) -> CaptureOutcome:
        attempt = await self._attempt(container)
        if not attempt.connected and attempt.error is not None:
            return _error_outcome(attempt.error)
        window_start, delay = time.monotonic(), _BACKOFF_START
        while True:
            if attempt.got_bytes:
                window_start, delay = time.monotonic(), _BACKOFF_START
            if attempt.gone:
                log.info("progressive stream gone: %s", attempt.error.message if attempt.error else "")
                return CaptureOutcome(EndReason.END_OF_STREAM)
            window = self._control.reconnect_window
            window = self._options.reconnect_window if window is None else window
            if time.monotonic() - window_start >= window:
                return self._exhausted(attempt)
            left = window - (time.monotonic() - window_start)
            if await self._control.wait(min(delay, left)):
                return CaptureOutcome(EndReason.STOPPED if self._control.stop.is_set() else EndReason.DURATION)
            delay = min(delay * 2, _BACKOFF_MAX)
            attempt = await self._attempt(container)

    @staticmethod
    def _exhausted(attempt: _Attempt) -> CaptureOutcome:
        if attempt.empty_eof:
            return CaptureOutcome(EndReason.END_OF_STREAM)
        if attempt.error is not None:
            return _error_outcome(attempt.error, EndReason.UNREACHABLE)
        return CaptureOutcome(EndReason.UNREACHABLE)

    async def _attempt(self, container: PartContainer) -> _Attempt:
        """One connection: read the body into a new part until it ends, stalls or breaks."""
        assert self._client is not None
        result = _Attempt()
        timeout = aiohttp.ClientTimeout(total=None, connect=self._options.http_timeout,
                                        sock_read=self._options.stall_timeout)
        try:
            async with self._client.open(self._stream.url, headers={"Accept-Encoding": "identity"},
                                         timeout=timeout) as resp:
                result.connected = True
                await self._consume(resp, result, container)
        except DiskFull:
            raise
        except LivevaultError as exc:
            stalled = isinstance(exc, NetworkTimeout) and result.connected
            if stalled:
                exc = StreamStalled(f"the stream sent nothing for {self._options.stall_timeout:g} s after it "
                                    f"answered; {exc.message}", details=exc.details)
            result.error = exc
            result.cause = GapCause.STALL if stalled else GapCause.CONNECTION_DROPPED
        if result.got_bytes:
            log.warning("progressive connection ended (%s): %s", result.cause.value,
                        result.error.message if result.error else "end of body")
            self._on_drop(result.cause)
        return result

    async def _consume(self, resp: aiohttp.ClientResponse, result: _Attempt, container: PartContainer) -> None:
        interval = self._options.progressive_index_interval
        tick = min(TICK, interval)  # an index record at most once a read: reads come at least that often
        part: PartWriter | None = None
        async for chunk in resp.content.iter_any():
            now = time.monotonic()
            if part is None:
                part = self._begin_part(container, chunk, now)
                result.got_bytes = True
            part.write(chunk)
            self._last_byte = now
            if now - self._seg_started >= interval:
                self._commit()
            await _rest_until_tick(resp, tick)

    def _begin_part(self, container: PartContainer, first: bytes, now: float) -> PartWriter:
        reason = self._reason
        if self._pause is not None:
            pause, self._pause = self._pause, None
            ended = max(time.time(), pause.since)
            self._spool.add_gap(GapRecord(part=pause.part, started_at=pause.since, ended_at=ended,
                                          cause=pause.cause, duration=round(ended - pause.since, 3)))
            reason = pause.next_reason
        if container is PartContainer.FLV and not first.startswith(b"FLV"):
            log.warning("progressive FLV body does not start with an FLV header")
        self._part = self._spool.open_part(container, reason)
        self._committed = self._part.bytes_written
        self._seg_started = self._last_byte = now
        return self._part

    def _commit(self) -> None:
        part = self._part
        if part is None or part.bytes_written == self._committed:
            return
        record = part.commit_segment(sequence=self._seq, duration=max(0.0, self._last_byte - self._seg_started))
        self._seq += 1
        self._seg_started = self._last_byte
        self._committed = part.bytes_written
        self._spool.note_segment(record)
        notify_progress(self._spool, self._control)

    def _on_drop(self, cause: GapCause) -> None:
        part = self._part
        if part is None:
            return
        last_wall = time.time() - (time.monotonic() - self._last_byte)
        self._close_part()
        self._pause = _Pause(cause, last_wall, part.index, PartReason.RECONNECT)

    def _close_part(self) -> None:
        """Index what is not yet indexed and close the part (fsync)."""
        self._commit_quietly()
        self._close_quietly()

    def _commit_quietly(self) -> None:
        try:
            self._commit()
        except (OSError, LivevaultError) as exc:
            log.error("could not index the last bytes of the part: %s", exc)

    def _close_quietly(self) -> None:
        with contextlib.suppress(OSError):
            self._spool.close_part()
        self._part = None


async def _rest_until_tick(resp: aiohttp.ClientResponse, tick: float) -> None:
    """Stop reading the connection until the process-wide tick: the kernel keeps what arrives meanwhile
    (a fraction of a second of media), and at the tick every progressive capture of the process reads what
    it has in one wake-up of the event loop instead of waking for each packet the server sends (a CDN relays
    a live FLV stream tag by tag, dozens of writes a second). aiohttp's read timeout (a stall) is measured
    only while reading."""
    connection = resp.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is None or protocol.transport is None:
        return
    protocol.pause_reading()
    try:
        await asyncio.sleep(on_tick(0.0, tick))
    finally:
        if protocol.transport is not None and not protocol.transport.is_closing():
            protocol.resume_reading()
