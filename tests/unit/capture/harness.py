"""Running a capture engine against the test origin, and reading what it wrote."""

from __future__ import annotations

from pathlib import Path

from livevault.capture.base import CaptureControl, CaptureEngine, CaptureOptions
from livevault.capture.hls import HlsCapture
from livevault.capture.http import create_session
from livevault.capture.m3u8 import PLAYER_START
from livevault.capture.progressive import ProgressiveCapture
from livevault.capture.spool import Spool
from livevault.domain.capture import CaptureOutcome
from livevault.domain.stream import StreamFormat, StreamInfo
from livevault.net.guard import UrlGuard

FAST = CaptureOptions(http_timeout=2.0, segment_retries=3, playlist_grace=1.0, stall_timeout=0.4,
                      reconnect_window=1.5, progressive_index_interval=0.05, start_from=PLAYER_START)
"""The engine tests start where a player would (three target durations back), so a first playlist of four
segments gives them three to work with; `live_edge` (the default) and `window_start` have their own tests."""


async def record(url: str, directory: Path, *, fmt: StreamFormat = StreamFormat.HLS,
                 options: CaptureOptions = FAST, control: CaptureControl | None = None,
                 quality: str = "best", headers: dict[str, str] | None = None,
                 guard: UrlGuard | None = None) -> tuple[CaptureOutcome, Spool]:
    """Run the engine for `fmt` on `url` into a spool in `directory`; returns the outcome and the spool."""
    spool = Spool(directory)
    session = create_session(options, guard=guard or UrlGuard(allow_private=True))
    try:
        engine: CaptureEngine = (HlsCapture(session, options) if fmt is StreamFormat.HLS
                                 else ProgressiveCapture(session, options))
        stream = StreamInfo(url=url, format=fmt, quality=quality, headers=headers or {})
        outcome = await engine.run(stream, spool, control or CaptureControl())
    finally:
        await session.close()
    return outcome, Spool(directory)


def part_bytes(spool: Spool) -> list[bytes]:
    return [path.read_bytes() for _, path in spool.part_paths()]
