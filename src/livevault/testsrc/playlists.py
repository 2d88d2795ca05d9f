"""M3U8 text (RFC 8216): the master playlist and the media playlists of every flavour."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livevault.testsrc.config import SegmentInfo, Window

CONTENT_TYPE = "application/vnd.apple.mpegurl"


@dataclass(frozen=True, slots=True)
class VariantEntry:
    uri: str
    bandwidth: int
    width: int
    height: int
    codecs: str
    fps: int
    name: str


def master_playlist(variants: list[VariantEntry]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for variant in variants:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={variant.bandwidth},AVERAGE-BANDWIDTH={variant.bandwidth * 3 // 4},"
            f'RESOLUTION={variant.width}x{variant.height},CODECS="{variant.codecs}",'
            f'FRAME-RATE={variant.fps:.3f},NAME="{variant.name}"'
        )
        lines.append(variant.uri)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Entry:
    """One segment line group: the segment, its URI and the tags only some flavours use."""

    info: SegmentInfo
    uri: str
    byterange: tuple[int, int] | None = None  # (length, offset)
    key: str | None = None  # a full #EXT-X-KEY line to put before it
    map_uri: str | None = None  # an EXT-X-MAP URI to put before it


def program_date_time(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def media_playlist(window: Window, entries: list[Entry], *, version: int = 3) -> str:
    target = max(1, math.ceil(max((e.info.duration for e in entries), default=1.0) - 1e-9))
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{window.media_sequence}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{window.discontinuity_sequence}",
    ]
    for entry in entries:
        if entry.info.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if entry.key is not None:
            lines.append(entry.key)
        if entry.map_uri is not None:
            lines.append(f'#EXT-X-MAP:URI="{entry.map_uri}"')
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(entry.info.program_date_time)}")
        lines.append(f"#EXTINF:{entry.info.duration:.3f},")
        if entry.byterange is not None:
            length, offset = entry.byterange
            lines.append(f"#EXT-X-BYTERANGE:{length}@{offset}")
        lines.append(entry.uri)
    if window.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def key_line(uri: str, iv: bytes | None) -> str:
    iv_attr = f",IV=0x{iv.hex().upper()}" if iv is not None else ""
    return f'#EXT-X-KEY:METHOD=AES-128,URI="{uri}"{iv_attr}'
