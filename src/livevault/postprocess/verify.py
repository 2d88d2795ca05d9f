"""Prove a finished file plays: it opens, its timestamps only go forward, and its frames decode.

``mode="full"`` decodes every video and audio frame; ``mode="quick"`` reads every packet but decodes
only the first and the last GOP (and the first and last audio packets). Both check that every stream's
DTS is strictly increasing and, for H.264/HEVC in MP4, that every video sample is well-formed
length-prefixed NAL units (what strict players such as browsers need). A few decoder errors are tolerated
and counted (a damaged frame where two parts meet); more than ``max_error_ratio`` of the packets is a
failure.

``mode="sampled"`` (what finalize runs by default) does not go through the packets at all for a plain
MP4: it reads the sample tables and checks every sample against them (``_mp4``: inside the file, not
empty, DTS strictly increasing, well-formed NAL units, audio/video interleaved; any of these failing
fails the file), then decodes the first GOP, the last GOP and one GOP every ``SAMPLE_EVERY`` seconds
(with the audio stored next to them). Other files are read as in ``quick``.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

import av
import av.error
from av.codec.context import ThreadType

from livevault.errors import VerifyFailed
from livevault.postprocess import _mp4

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import numpy as np
    from av.container import InputContainer
    from av.packet import Packet
    from av.stream import Stream
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream
    from numpy.typing import NDArray

SAMPLE_EVERY = 300.0  # seconds of media between two GOPs decoded in sampled mode
VerifyMode = Literal["full", "sampled", "quick"]
_EDGE_AUDIO_PACKETS = 20
_MIN_TOLERATED = 10
_KEPT_MESSAGES = 10


@dataclass(frozen=True, slots=True)
class VerifyResult:
    path: Path
    mode: str
    video_frames: int
    audio_frames: int
    video_packets: int
    audio_packets: int
    duration: float
    errors_tolerated: int
    error_messages: tuple[str, ...] = ()


def _nal_length_size(stream: Stream, container: InputContainer) -> int | None:
    """Bytes in each NAL length prefix if this is length-prefixed H.264/HEVC in MP4, else None."""
    ctx = stream.codec_context
    data = ctx.extradata if ctx is not None else None
    if data is None or data[:1] != b"\x01" or "mp4" not in container.format.name:
        return None
    if ctx.name == "h264" and len(data) > 4:
        return (data[4] & 3) + 1
    if ctx.name == "hevc" and len(data) > 21:
        return (data[21] & 3) + 1
    return None


def _framing_ok(data: bytes, size: int) -> bool:
    pos, end = 0, len(data)
    while pos < end:
        if pos + size > end:
            return False
        length = int.from_bytes(data[pos:pos + size], "big")
        if length == 0:
            return False
        pos += size + length
    return pos == end and end > 0


@dataclass(slots=True)
class _Span:
    first: Fraction | None = None
    last: Fraction | None = None

    def add(self, start: Fraction, end: Fraction) -> None:
        self.first = start if self.first is None else min(self.first, start)
        self.last = end if self.last is None else max(self.last, end)

    def seconds(self) -> float:
        return 0.0 if self.first is None or self.last is None else float(self.last - self.first)


@dataclass(slots=True)
class _Check:
    path: Path
    full: bool
    on_video_frame: Callable[[VideoFrame], None] | None
    video: VideoStream | None
    nal_size: int | None
    frames: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0})
    packets: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0})
    last_dts: dict[int, int] = field(default_factory=dict)
    span: _Span = field(default_factory=_Span)
    errors: list[str] = field(default_factory=list)
    gop: list[Packet[Stream]] = field(default_factory=list)
    keyframes: int = 0
    audio_tail: deque[Packet[Stream]] = field(default_factory=lambda: deque(maxlen=_EDGE_AUDIO_PACKETS))
    seek_to: Fraction = Fraction(0)

    def packet(self, packet: Packet[Stream]) -> None:
        kind = packet.stream.type
        if packet.size == 0:  # end-of-stream marker: drain the decoder in full mode
            if self.full:
                self.decode(packet)
            return
        self.packets[kind] += 1
        self.monotonic(packet)
        if kind == "video" and self.nal_size and not _framing_ok(bytes(packet), self.nal_size):
            self.error(f"video packet at dts {packet.dts} is not length-prefixed NAL units")
        if self.full:
            self.decode(packet)
        elif kind == "video":
            self.sample_video(packet)
        elif self.packets["audio"] <= _EDGE_AUDIO_PACKETS:
            self.decode(packet)
        else:
            self.audio_tail.append(packet)

    def monotonic(self, packet: Packet[Stream]) -> None:
        index, dts = packet.stream_index, packet.dts
        if dts is None:
            raise VerifyFailed(f"{self.path.name}: a {packet.stream.type} packet has no timestamp")
        last = self.last_dts.get(index)
        if last is not None and dts <= last:
            raise VerifyFailed(
                f"{self.path.name}: {packet.stream.type} timestamps go backwards or repeat ({last} then {dts})",
                details={"stream": index, "previous_dts": last, "dts": dts},
            )
        self.last_dts[index] = dts

    def sample_video(self, packet: Packet[Stream]) -> None:
        """Quick mode: decode the first GOP now, keep the latest GOP for the end."""
        if packet.is_keyframe:
            self.keyframes += 1
            self.gop = []
        if self.keyframes <= 1:
            self.decode(packet)
        else:
            self.gop.append(packet)

    def decode(self, packet: Packet[Stream]) -> None:
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            self.error(f"{packet.stream.type} packet at dts {packet.dts} does not decode: {exc}")
            return
        for frame in frames:
            self.frame(packet.stream, frame)

    def frame(self, stream: Stream, frame: object) -> None:
        self.frames[stream.type] += 1
        tb = Fraction(stream.time_base or 1)
        if isinstance(frame, av.VideoFrame):
            if frame.is_corrupt:
                self.error(f"video frame at pts {frame.pts} decoded with errors")
            if self.on_video_frame is not None:
                self.on_video_frame(frame)
            length = frame.duration * tb if frame.duration else 1 / Fraction(stream.average_rate or 25)
        elif isinstance(frame, av.AudioFrame):
            length = Fraction(frame.samples, frame.sample_rate or 1)
        else:
            return
        if frame.pts is not None:
            self.span.add(frame.pts * tb, frame.pts * tb + length)

    def error(self, message: str) -> None:
        self.errors.append(message)

    def finish_quick(self) -> None:
        if self.video is not None:
            self.drain(self.video, None)  # frames of the first GOP still inside the decoder
            if self.gop:
                self.video.codec_context.flush_buffers()
                for packet in [*self.gop, None]:
                    self.drain(self.video, packet)
        for packet in self.audio_tail:
            self.decode(packet)

    def drain_any(self, stream: Stream) -> None:
        """Take the frames still inside ``stream``'s decoder, then make it ready for a new position."""
        if not isinstance(stream, av.VideoStream | av.AudioStream):
            return
        ctx = stream.codec_context
        try:
            for frame in stream.decode(None):
                self.frame(stream, frame)
        except av.error.FFmpegError as exc:
            self.error(f"{stream.type} does not decode after a seek: {exc}")
        ctx.flush_buffers()

    def drain(self, stream: VideoStream, packet: Packet[Stream] | None) -> None:
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError as exc:
            self.error(f"video does not decode at the end: {exc}")
            return
        for frame in frames:
            self.frame(stream, frame)


def _open(path: Path) -> InputContainer:
    if not path.is_file() or path.stat().st_size == 0:
        raise VerifyFailed(f"{path.name}: missing or empty", details={"path": str(path)})
    try:
        return av.open(str(path), "r")
    except av.error.FFmpegError as exc:
        raise VerifyFailed(f"{path.name}: does not open as media ({exc})", details={"path": str(path)}) from exc


def _run(check: _Check, container: InputContainer, streams: Sequence[Stream]) -> None:
    try:
        for packet in container.demux(*streams):
            check.packet(packet)
    except av.error.FFmpegError as exc:
        raise VerifyFailed(f"{check.path.name}: reading failed after "
                           f"{sum(check.packets.values())} packets ({exc})") from exc
    if not check.full:
        check.finish_quick()


def _judge(check: _Check, require_video: bool, max_error_ratio: float) -> None:
    name = check.path.name
    if require_video and check.frames["video"] == 0:
        raise VerifyFailed(f"{name}: no video frame decodes", details={"errors": check.errors[:_KEPT_MESSAGES]})
    if check.frames["video"] + check.frames["audio"] == 0:
        raise VerifyFailed(f"{name}: nothing decodes", details={"errors": check.errors[:_KEPT_MESSAGES]})
    allowed = max(_MIN_TOLERATED, int(max_error_ratio * sum(check.packets.values())))
    if len(check.errors) > allowed:
        raise VerifyFailed(f"{name}: {len(check.errors)} damaged packets or frames (at most {allowed} tolerated)",
                           details={"errors": check.errors[:_KEPT_MESSAGES]})


def _structure(path: Path) -> _mp4.Checked | None:
    try:
        found = _mp4.check_file(path)
    except _mp4.DtsBackwards as exc:
        raise VerifyFailed(str(exc), details=exc.details) from exc
    except (_mp4.Malformed, ValueError, OSError) as exc:
        raise VerifyFailed(f"{path.name}: its MP4 structure is broken ({exc})") from exc
    if found is not None and found.damaged:
        raise VerifyFailed(f"{path.name}: {found.damaged} damaged sample(s), first: {found.errors[0]}",
                           details={"errors": found.errors})
    return found


def _windows(tables: _mp4.TrackTables, dts: NDArray[np.int64]) -> list[tuple[int, int | None]]:
    """(keyframe sample, next keyframe sample or None) of the GOPs sampled mode decodes."""
    keys = [int(k) - 1 for k in tables.sync] if tables.sync is not None else list(range(len(tables.sizes)))
    keys = [k for k in keys if 0 <= k < len(dts)]
    if not keys:
        return []
    chosen = {keys[0], keys[-1]}
    scale = tables.timescale or 1
    mark = SAMPLE_EVERY
    for key in keys:
        if int(dts[key]) / scale >= mark:
            chosen.add(key)
            mark = int(dts[key]) / scale + SAMPLE_EVERY
    following = dict(itertools.pairwise(keys))
    return [(key, following.get(key)) for key in sorted(chosen)]


def _decode_gop(check: _Check, container: InputContainer, streams: Sequence[Stream], video: VideoStream,
                start: int, stop: int | None, first: bool) -> None:
    """Decode the video GOP stored at byte ``start`` (up to the keyframe at ``stop``) and the audio
    demuxed with it."""
    if not first:  # a second early: an edit list may shift the index; packets before the GOP are skipped
        target = max(Fraction(0), check.seek_to - 1)
        container.seek(0 if video.time_base is None else int(target / video.time_base), stream=video, backward=True)
    started = False
    for packet in container.demux(*streams):
        if packet.size == 0:
            continue
        if packet.stream.type == "video":
            if not started:
                pos = -1 if packet.pos is None else packet.pos  # -1: the demuxer does not say; first keyframe
                if pos == start or (pos < 0 and packet.is_keyframe):
                    started = True
                elif pos > start:
                    check.error(f"video GOP at byte {start} cannot be reached by seeking")
                    break
                else:
                    continue
            elif packet.pos == stop:
                break
            check.decode(packet)
        elif started:
            check.decode(packet)
    for stream in streams:
        check.drain_any(stream)


def _sampled(check: _Check, container: InputContainer, streams: Sequence[Stream], video: VideoStream | None,
             found: _mp4.Checked) -> float:
    """Decode the sampled GOPs; returns the media duration read from the tables."""
    ends = [(int(dts[-1]) + (int(t.stts[-1, 1]) if len(t.stts) else 0)) / t.timescale
            for t, dts in zip(found.tracks, found.dts, strict=True) if len(dts) and t.timescale]
    for tables in found.tracks:
        if tables.kind in check.packets:
            check.packets[tables.kind] += len(tables.sizes)
    if video is not None and video.index < len(found.tracks) and found.tracks[video.index].kind == "video":
        tables, dts, offsets = found.tracks[video.index], found.dts[video.index], found.offsets[video.index]
        for n, (key, following) in enumerate(_windows(tables, dts)):
            check.seek_to = Fraction(int(dts[key]), tables.timescale or 1)
            _decode_gop(check, container, streams, video, int(offsets[key]),
                        None if following is None else int(offsets[following]), n == 0)
    elif streams:  # audio only: the first packets
        for n, packet in enumerate(container.demux(*streams)):
            if n >= _EDGE_AUDIO_PACKETS:
                break
            if packet.size:
                check.decode(packet)
        for stream in streams:
            check.drain_any(stream)
    return max(ends, default=0.0)


def verify(
    path: Path,
    *,
    mode: VerifyMode = "full",
    on_video_frame: Callable[[VideoFrame], None] | None = None,
    require_video: bool = True,
    max_error_ratio: float = 0.01,
) -> VerifyResult:
    """Check that ``path`` plays; raise :class:`VerifyFailed` if it does not (see the module docstring)."""
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and require_video:
            raise VerifyFailed(f"{path.name}: has no video stream")
        streams = [s for s in (video, audio) if s is not None]
        nal = _nal_length_size(video, container) if video is not None else None
        check = _Check(path, mode == "full", on_video_frame, video, nal)
        found = _structure(path) if mode == "sampled" and "mp4" in container.format.name else None
        duration: float | None = None
        if found is not None:
            if video is not None:
                video.codec_context.thread_count = 1  # a few GOPs: threads cost more CPU than they save
            try:
                duration = _sampled(check, container, streams, video, found)
            except av.error.FFmpegError as exc:
                raise VerifyFailed(f"{path.name}: reading failed while sampling ({exc})") from exc
        else:
            if video is not None:
                video.codec_context.thread_type = ThreadType.AUTO
            _run(check, container, streams)
    _judge(check, require_video, max_error_ratio)
    return VerifyResult(
        path=path, mode=mode if found is not None or mode != "sampled" else "quick",
        video_frames=check.frames["video"], audio_frames=check.frames["audio"],
        video_packets=check.packets["video"], audio_packets=check.packets["audio"],
        duration=check.span.seconds() if duration is None else duration, errors_tolerated=len(check.errors),
        error_messages=tuple(check.errors[:_KEPT_MESSAGES]),
    )
