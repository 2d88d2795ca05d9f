"""Room for the MP4 index at the front, reserved before the media is written, so a faststart file needs no
second pass.

With ``movflags=+faststart`` FFmpeg writes the index (``moov``) after the media and then moves the whole
media forward to put the index first: every byte is read back and written again. When the length of the
recording is known (the spool's index says how many seconds of media the parts hold), the index's size can
be bounded in advance from the tracks' packet rates: the muxer then writes the index into room reserved
right after ``ftyp`` (``moov_size``) and fills what is left with a ``free`` box, which every player skips.
The bound is generous (a few bytes per packet more than the sample tables need); a reservation that is too
small anyway makes the muxer fail at the end, and the remux is done again the ordinary way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.stream import Stream

VIDEO_BYTES = 24  # per video sample: size, composition offset, duration, sync flag, chunk offset (and slack)
AUDIO_BYTES = 12  # per audio sample: size, chunk offset (and slack)
MARGIN = 1.25
FLOOR = 64 * 1024
MAX_SHARE = 0.01  # reserve only when the room is under 1 % of the media: the free space is kept in the file


class ReservedTooSmall(Exception):
    """The room reserved for the index was not enough: the file must be written again the ordinary way."""


def index_bytes_per_second(kind: str, stream: Stream) -> float:
    """An upper estimate of the index bytes one second of this track needs."""
    if kind == "video":
        rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None)
        fps = float(rate) if rate else 0.0
        return (fps if 1.0 <= fps <= 240.0 else 60.0) * VIDEO_BYTES
    sample_rate = getattr(stream, "sample_rate", 0) or 48000
    frame = getattr(stream.codec_context, "frame_size", 0) or 512
    return sample_rate / min(frame, 1024) * AUDIO_BYTES


def reserve(media_seconds: float | None, per_second: float, media_bytes: int) -> int | None:
    """Bytes to reserve for the index, or None to leave the move to faststart (length unknown, or the room
    would be a noticeable share of the file)."""
    if not media_seconds or media_seconds <= 0 or per_second <= 0:
        return None
    size = int(per_second * media_seconds * MARGIN) + FLOOR
    return size if size <= media_bytes * MAX_SHARE else None


def reserve_in(container: OutputContainer, media_seconds: float | None, per_second: float, media_bytes: int
               ) -> int | None:
    """Ask the muxer (before its header is written) for the room `reserve` gives; returns it."""
    size = reserve(media_seconds, per_second, media_bytes)
    if size is not None:
        container.options.pop("movflags", None)  # faststart would move the media all the same
        container.options["moov_size"] = str(size)
    return size
