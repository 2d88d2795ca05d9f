"""The `ffmpeg` capture engine: the optional ffmpeg binary pulls what livevault does not pull itself (RTMP,
RTSP, SRT, an HTTP MP4 live, ...) and copies its streams, never re-encoded, into MPEG-TS on its stdout.

The engine appends those bytes to a spool part as they arrive and indexes them about once a second, like a
progressive body, so a crash keeps everything up to the last write and finalize builds the MP4 from the part.
The command is an argument list (no shell): ``ffmpeg -i URL -c copy -f mpegts pipe:1`` and a protocol whitelist
so a playlist cannot make ffmpeg open local files. For http(s) inputs ffmpeg reads through livevault's loopback
relay (`capture.relay`): the relay is its HTTP proxy and fetches everything with livevault's guarded client, so
the URL query, headers, cookies and proxy stay off the command line and every address ffmpeg follows is
checked. For other inputs (rtmp, rtsp, srt) the input's host is checked, and a proxy goes in ffmpeg's
environment (`http_proxy`), never on the command line.

The binary is `LIVEVAULT_FFMPEG` (default ``ffmpeg`` on PATH); when it is missing the capture ends with
FFMPEG_MISSING and a message saying how to fix it. Stop: ``q`` on ffmpeg's stdin (it finishes the file),
then SIGTERM, then SIGKILL, each after `LIVEVAULT_RECORDER_STOP_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from livevault.capture._process import ManagedProcess, Markers, ProcessResult, ProcessSpec, child_environment
from livevault.capture.progressive import notify_progress
from livevault.capture.relay import PROTOCOL_WHITELIST as RELAY_WHITELIST
from livevault.capture.relay import FfmpegRelay
from livevault.domain.capture import CaptureOutcome, EndReason, GapCause, GapRecord, PartContainer, PartReason
from livevault.errors import (
    FfmpegMissing,
    InvalidInput,
    LiveOffline,
    LivevaultError,
    NetworkTimeout,
    RecorderExitNonzero,
    SourceBlocked,
    SourceUnreachable,
    UnsupportedFormat,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import aiohttp

    from livevault.capture.base import CaptureControl, CaptureOptions
    from livevault.capture.spool import PartWriter, Spool
    from livevault.config import Settings
    from livevault.domain.stream import StreamInfo

log = logging.getLogger(__name__)

INPUT_SCHEMES = frozenset({"http", "https", "rtmp", "rtmps", "rtmpt", "rtmpts", "rtsp", "rtsps", "srt"})
PROTOCOL_WHITELIST = "http,https,tcp,tls,crypto,httpproxy,rtmp,rtmps,rtmpt,rtmpts,rtsp,rtsps,rtp,udp,srt"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SECRET_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization", "x-api-key"})
FFMPEG_MESSAGES: tuple[tuple[str, str], ...] = (
    ("403 forbidden", SourceBlocked.code),
    ("401 unauthorized", SourceBlocked.code),
    ("404 not found", LiveOffline.code),
    ("410 gone", LiveOffline.code),
    ("timed out", NetworkTimeout.code),
    ("connection refused", SourceUnreachable.code),
    ("failed to resolve hostname", SourceUnreachable.code),
    ("name or service not known", SourceUnreachable.code),
    ("network is unreachable", SourceUnreachable.code),
    ("protocol not on whitelist", UnsupportedFormat.code),
    ("invalid data found when processing input", UnsupportedFormat.code),
)


def missing_message(binary: str) -> str:
    return (f"the ffmpeg binary {binary!r} was not found; install ffmpeg (apt-get install ffmpeg) or point "
            "LIVEVAULT_FFMPEG at it, or record with the native engine")


class FfmpegCapture:
    """The CaptureEngine named `ffmpeg`; one instance serves every recording that asks for it."""

    def __init__(self, options: CaptureOptions, *, binary: str = "ffmpeg", stop_timeout: float = 10.0,
                 check_target: Callable[[str], str] | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._options = options
        self._binary = binary
        self._stop_timeout = stop_timeout
        self._check_target = check_target
        self._session = session

    @classmethod
    def from_settings(cls, settings: Settings, options: CaptureOptions, *,
                      check_target: Callable[[str], str] | None = None,
                      session: aiohttp.ClientSession | None = None) -> FfmpegCapture:
        """`check_target` is the URL guard's check of the input's host; `session` is livevault's guarded HTTP
        session, through which the relay fetches everything ffmpeg asks for (the composition root hands both in).
        """
        return cls(options, binary=settings.ffmpeg_path, stop_timeout=settings.recorder_stop_timeout,
                   check_target=check_target, session=session)

    def relays(self, stream: StreamInfo) -> bool:
        """Whether this input goes through the loopback relay (http and https, with a session to fetch with)."""
        return self._session is not None and urlsplit(stream.url.strip()).scheme.lower() in {"http", "https"}

    def find_binary(self) -> str | None:
        return shutil.which(self._binary)

    def command(self, binary: str, stream: StreamInfo, relay: FfmpegRelay | None = None) -> list[str]:
        """The ffmpeg argument list for `stream` (raises InvalidInput for a URL or header it must not pass).

        With a `relay`, ffmpeg reads the relay's address and may speak plain http (to the relay) only: the
        stream's URL query, headers, cookies and user agent stay with the relay, off the command line."""
        url = stream.url.strip()
        scheme = urlsplit(url).scheme.lower()
        if scheme not in INPUT_SCHEMES or url.startswith("-"):
            raise InvalidInput(f"ffmpeg records {', '.join(sorted(INPUT_SCHEMES))} URLs, not {scheme or url[:20]!r}")
        if relay is not None:
            stall_us = str(int(self._options.stall_timeout * 1e6))
            return [binary, "-hide_banner", "-nostats", "-loglevel", "warning",
                    "-protocol_whitelist", RELAY_WHITELIST, "-rw_timeout", stall_us,
                    "-i", relay.input_url, "-c", "copy", "-f", "mpegts", "pipe:1"]
        argv = [binary, "-hide_banner", "-nostats", "-loglevel", "warning", "-protocol_whitelist", PROTOCOL_WHITELIST]
        headers = dict(stream.headers)
        user_agent = next((v for k, v in headers.items() if k.lower() == "user-agent"), self._options.user_agent)
        if scheme in {"http", "https"}:
            stall_us = str(int(self._options.stall_timeout * 1e6))
            argv += ["-user_agent", _clean_value(user_agent), "-rw_timeout", stall_us]
            extra = "".join(f"{_clean_name(k)}: {_clean_value(v)}\r\n" for k, v in headers.items()
                            if k.lower() != "user-agent")
            if extra:
                argv += ["-headers", extra]
        return [*argv, "-i", url, "-c", "copy", "-f", "mpegts", "pipe:1"]

    @staticmethod
    def environment(stream: StreamInfo, relay: FfmpegRelay | None = None) -> dict[str, str]:
        """ffmpeg's environment: the proxy goes here (`http_proxy`, which ffmpeg reads for http and https),
        never on the command line, where any local user could read its password with `ps`. With a relay, the
        relay is ffmpeg's proxy (the stream's own proxy is then the relay's business)."""
        extra: dict[str, str] = {}
        if relay is not None:
            extra = relay.environment()
        elif stream.proxy:
            proxy = _clean_value(stream.proxy)
            extra = {"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}
        return child_environment(extra)

    async def run(self, stream: StreamInfo, spool: Spool, control: CaptureControl) -> CaptureOutcome:
        binary = self.find_binary()
        if binary is None:
            return _failed(FfmpegMissing(missing_message(self._binary)))
        relay: FfmpegRelay | None = None
        try:
            if self._check_target is not None:  # the input's own host (what ffmpeg follows goes through the relay)
                await asyncio.to_thread(self._check_target, stream.url.strip())
            if self.relays(stream):
                assert self._session is not None
                relay = FfmpegRelay.for_stream(self._session, stream.url.strip(), headers=stream.headers,
                                               proxy=stream.proxy, timeout=self._options.http_timeout)
            argv = self.command(binary, stream, relay)
        except LivevaultError as exc:
            return _failed(exc)
        sink = _PartSink(spool, control, self._options.progressive_index_interval)
        markers = Markers(FFMPEG_MESSAGES)
        try:
            if relay is not None:
                await relay.start()
            spec = ProcessSpec(argv=tuple(argv), label="ffmpeg", env=self.environment(stream, relay),
                               secrets=_secrets_of(stream), quit_on_stdin=b"q", on_stdout=sink.write,
                               on_line=markers.see)
            result = await ManagedProcess(spec, control, stop_timeout=self._stop_timeout).run()
        except (FileNotFoundError, PermissionError):
            return _failed(FfmpegMissing(missing_message(self._binary)))
        except LivevaultError as exc:
            return _failed(exc)
        finally:
            await asyncio.to_thread(sink.close)
            if relay is not None:
                await relay.close()
        return _outcome(result, sink.bytes, markers, control, relay.error if relay is not None else None)


def _outcome(result: ProcessResult, captured: int, markers: Markers, control: CaptureControl,
             relayed: LivevaultError | None = None) -> CaptureOutcome:
    if result.stop_requested:
        return CaptureOutcome(EndReason.STOPPED if control.stop.is_set() else EndReason.DURATION)
    if result.returncode == 0 and not (relayed is not None and not captured):
        return CaptureOutcome(EndReason.END_OF_STREAM)
    if relayed is not None:  # what the relay met is more precise than ffmpeg's account of the HTTP error
        return CaptureOutcome(EndReason.UNREACHABLE if captured else EndReason.ERROR, relayed.code,
                              relayed.message[:1000])
    code = markers.code or RecorderExitNonzero.code
    message = f"ffmpeg exited with code {result.returncode}: {markers.line or result.last_lines()}"
    return CaptureOutcome(EndReason.UNREACHABLE if captured else EndReason.ERROR, code, message[:1000])


def _failed(exc: LivevaultError) -> CaptureOutcome:
    return CaptureOutcome(EndReason.ERROR, exc.code, exc.message)


def _clean_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        raise InvalidInput("a header name holds characters HTTP does not allow", details={"header": name[:64]})
    return name


def _clean_value(value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise InvalidInput("a header or proxy value may not contain line breaks")
    return value


def _secrets_of(stream: StreamInfo) -> tuple[str, ...]:
    values = [v for k, v in stream.headers.items() if k.lower() in _SECRET_HEADERS]
    return tuple(values + ([stream.proxy] if stream.proxy else []))


class _PartSink:
    """ffmpeg's stdout into one TS part: opened at the first byte, indexed every `interval` seconds."""

    def __init__(self, spool: Spool, control: CaptureControl, interval: float) -> None:
        self._spool, self._control, self._interval = spool, control, interval
        records = spool.segments()
        self._sequence = max((r.sequence for r in records), default=-1) + 1
        self._resume_from = records[-1] if records else None
        self._reason = PartReason.RESUME if spool.parts() else PartReason.START
        self._part: PartWriter | None = None
        self._committed = 0
        self._segment_started = 0.0
        self._last_byte = 0.0
        self.bytes = 0

    def write(self, data: bytes) -> None:
        now = time.monotonic()
        if self._part is None:
            self._open(now)
        assert self._part is not None
        self._part.write(data)
        self.bytes += len(data)
        self._last_byte = now
        if now - self._segment_started >= self._interval:
            self._commit()

    def _open(self, now: float) -> None:
        last = self._resume_from
        if last is not None:  # livevault restarted mid-recording: the time in between is not in the recording
            ended = max(time.time(), last.fetched_at)
            self._spool.add_gap(GapRecord(part=last.part, started_at=last.fetched_at, ended_at=ended,
                                          cause=GapCause.PROCESS_RESTART, duration=round(ended - last.fetched_at, 3)))
        self._part = self._spool.open_part(PartContainer.TS, self._reason)
        self._committed = self._part.bytes_written
        self._segment_started = self._last_byte = now

    def _commit(self) -> None:
        part = self._part
        if part is None or part.bytes_written == self._committed:
            return
        record = part.commit_segment(sequence=self._sequence,
                                     duration=max(0.0, self._last_byte - self._segment_started))
        self._sequence += 1
        self._segment_started = self._last_byte
        self._committed = part.bytes_written
        self._spool.note_segment(record)
        notify_progress(self._spool, self._control)

    def close(self) -> None:
        """Index the last bytes and close the part (fsync); failures are logged, the bytes are on disk."""
        try:
            self._commit()
        except (OSError, LivevaultError) as exc:
            log.error("could not index the last bytes of the ffmpeg part: %s", exc)
        with contextlib.suppress(OSError):
            self._spool.close_part()
        self._part = None
