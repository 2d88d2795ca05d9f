"""Where the keyframes of a file are (seek points for previews, chapters or trimming), without decoding."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.error

from livevault.errors import VerifyFailed

if TYPE_CHECKING:
    from pathlib import Path


def keyframe_times(path: Path) -> tuple[float, ...]:
    """Presentation times (seconds from the start of the video stream) of every video keyframe."""
    try:
        with av.open(str(path), "r") as container:
            if not container.streams.video:
                return ()
            stream = container.streams.video[0]
            tb = Fraction(stream.time_base or Fraction(1, 90000))
            start = stream.start_time or 0
            times = [
                float((packet.pts - start) * tb)
                for packet in container.demux(stream)
                if packet.is_keyframe and packet.pts is not None and packet.size > 0
            ]
    except av.error.FFmpegError as exc:
        raise VerifyFailed(f"{path.name}: cannot read keyframes ({exc})") from exc
    return tuple(sorted(times))
