"""A JPEG still of a recording, made with PyAV's own MJPEG encoder (no Pillow, no ffmpeg binary)."""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import av.error

from livevault.errors import VerifyFailed

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

DEFAULT_POSITION = 0.10  # fraction of the duration used when no time is given
_JPEG_QUALITY = 3  # MJPEG qscale: 2 (best) .. 31 (worst)


def _duration(container: InputContainer, stream: VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * Fraction(stream.time_base))
    return (container.duration or 0) / av.time_base


def _frame_at(container: InputContainer, stream: VideoStream, target: float) -> VideoFrame | None:
    """The first frame shown at or after ``target`` seconds (the last frame if the video is shorter)."""
    tb = Fraction(stream.time_base or Fraction(1, 90000))
    start = stream.start_time or 0
    if target > 0:
        try:
            container.seek(start + int(Fraction(target) / tb), stream=stream, backward=True)
        except av.error.FFmpegError:
            container.seek(0)
    last: VideoFrame | None = None
    try:
        for frame in container.decode(stream):
            last = frame
            if frame.pts is None or (frame.pts - start) * tb >= target:
                return frame
    except av.error.FFmpegError:
        pass  # damaged tail: settle for the last good frame
    return last


def _size(frame: VideoFrame, stream: VideoStream, width: int) -> tuple[int, int]:
    sar = stream.sample_aspect_ratio or Fraction(1)
    display_width = frame.width * Fraction(sar)
    height = round(width * frame.height / display_width) if display_width else width
    return max(2, width - width % 2), max(2, height - height % 2)


def _encode_jpeg(frame: VideoFrame, size: tuple[int, int]) -> bytes:
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = size
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.qscale = True
    encoder.global_quality = _JPEG_QUALITY * 118  # FF_QP2LAMBDA
    scaled = frame.reformat(width=size[0], height=size[1], format="yuvj420p")
    scaled.pts = 0
    packets = [*encoder.encode(scaled), *encoder.encode(None)]
    return b"".join(bytes(p) for p in packets)


def _write_atomically(output: Path, data: bytes) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_thumbnail(video: Path, output: Path, *, at: float | None = None, width: int = 320) -> Path:
    """Write a ``width``-pixel-wide JPEG of the frame shown at ``at`` seconds (default: 10% in)."""
    try:
        with av.open(str(video), "r") as container:
            if not container.streams.video:
                raise VerifyFailed(f"{video.name}: has no video stream to take a thumbnail from")
            stream = container.streams.video[0]
            target = at if at is not None else DEFAULT_POSITION * _duration(container, stream)
            frame = _frame_at(container, stream, max(0.0, target))
            if frame is None:
                raise VerifyFailed(f"{video.name}: no video frame decodes")
            data = _encode_jpeg(frame, _size(frame, stream, width))
    except av.error.FFmpegError as exc:
        raise VerifyFailed(f"{video.name}: cannot make a thumbnail ({exc})") from exc
    _write_atomically(output, data)
    return output
