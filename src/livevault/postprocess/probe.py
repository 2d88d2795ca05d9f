"""What a media file holds: container, codecs, picture size, frame rate, duration, bit rate."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.error

from livevault.errors import VerifyFailed

if TYPE_CHECKING:
    from pathlib import Path

    from av.container import InputContainer
    from av.stream import Stream

_MAX_NOMINAL_FPS = 240


@dataclass(frozen=True, slots=True)
class MediaInfo:
    path: Path
    size: int
    format_name: str
    duration: float
    bit_rate: int
    video_codec: str | None
    audio_codec: str | None
    width: int
    height: int
    fps: float
    sample_rate: int
    channels: int

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def _stream_seconds(stream: Stream) -> float:
    if stream.duration is None or not stream.time_base:
        return 0.0
    return float(stream.duration * Fraction(stream.time_base))


def _duration(container: InputContainer) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return max((_stream_seconds(s) for s in container.streams), default=0.0)


def _fps(stream: Stream) -> float:
    """The nominal frame rate (r_frame_rate) when plausible: the average one counts the gaps between
    joined parts; else the average rate."""
    nominal = stream.base_rate or stream.guessed_rate
    if nominal and 0 < nominal <= _MAX_NOMINAL_FPS:
        return float(nominal)
    return float(stream.average_rate or 0)


def _describe(path: Path, container: InputContainer) -> MediaInfo:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    duration = _duration(container)
    size = path.stat().st_size
    bit_rate = container.bit_rate or (int(size * 8 / duration) if duration > 0 else 0)
    return MediaInfo(
        path=path,
        size=size,
        format_name=container.format.name,
        duration=duration,
        bit_rate=bit_rate,
        video_codec=video.codec_context.codec.canonical_name if video is not None else None,
        audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
        width=video.codec_context.width if video is not None else 0,
        height=video.codec_context.height if video is not None else 0,
        fps=_fps(video) if video is not None else 0.0,
        sample_rate=audio.codec_context.sample_rate if audio is not None else 0,
        channels=audio.codec_context.channels if audio is not None else 0,
    )


def probe(path: Path) -> MediaInfo:
    """Read a file's header (no decoding); raise :class:`VerifyFailed` if it is not readable media."""
    if not path.is_file():
        raise VerifyFailed(f"{path.name}: no such file", details={"path": str(path)})
    try:
        with av.open(str(path), "r") as container:
            info = _describe(path, container)
    except av.error.FFmpegError as exc:
        raise VerifyFailed(f"{path.name}: not readable media ({exc})", details={"path": str(path)}) from exc
    if not info.has_video and not info.has_audio:
        raise VerifyFailed(f"{path.name}: holds neither audio nor video", details={"path": str(path)})
    return info
