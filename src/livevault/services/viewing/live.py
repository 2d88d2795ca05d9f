"""A live HLS playlist over a recording's spool, so a browser can watch while it records.

Each indexed segment of a part becomes one `EXT-X-BYTERANGE` entry over that growing part file (index lines are
written only after their bytes are on disk, so every range the playlist names can be read). The playlist is
of type EVENT: it only grows, a player starts at the live edge and can seek back to the start; it ends with
`EXT-X-ENDLIST` as soon as capture ends; once the parts are finalized into the MP4, the playlist is ended and
empty. A new part (reconnect, discontinuity) starts with
`EXT-X-DISCONTINUITY`.

MPEG-TS parts: ranges are moved to 188-byte packet boundaries (a progressive TS body is indexed in chunk runs
that may end mid-packet; HLS-captured segments already start on packets). Fragmented-MP4 parts: the init
section the part starts with becomes the part's `EXT-X-MAP`. FLV and AAC parts cannot be played this way and
are not listed; when a recording has both TS and fMP4 parts, only the kind of its latest part is listed.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livevault.capture.spool import PARTS_FILE, Spool
from livevault.domain.capture import PartContainer
from livevault.domain.recording import CAPTURING_RECORDING_STATUSES
from livevault.errors import NotFound

if TYPE_CHECKING:
    from pathlib import Path

    from livevault.domain.capture import PartInfo, SegmentRecord
    from livevault.services.recording.record import RecordingService

PLAYABLE = frozenset({PartContainer.TS, PartContainer.FMP4})
TS_PACKET = 188
_MEDIA_BOXES = frozenset({b"moof", b"styp", b"sidx", b"emsg", b"prft", b"mdat"})


@dataclass(frozen=True, slots=True)
class LivePlaylist:
    text: str
    segments: int
    ended: bool


def fmp4_init_length(path: Path, limit: int) -> int:
    """Bytes of the init section (`ftyp`, `moov`, ...) at the start of a fragmented-MP4 part; 0 if none."""
    offset = 0
    with path.open("rb") as fh:
        while offset + 8 <= limit:
            fh.seek(offset)
            header = fh.read(16)
            if len(header) < 8:
                return 0
            size, kind = struct.unpack(">I4s", header[:8])
            if kind in _MEDIA_BOXES:
                return offset
            if size == 1 and len(header) == 16:
                size = struct.unpack(">Q", header[8:16])[0]
            if size < 8:
                return 0
            offset += size
    return 0


Range = tuple["SegmentRecord", int, int]  # (segment, offset, length) as the playlist names it


def _ranges(info: PartInfo, path: Path, segments: list[SegmentRecord]) -> tuple[int, list[Range]]:
    """(init length, [(segment, offset, length)]) of one part, as the playlist names them."""
    usable = [s for s in segments if s.bytes > 0 and s.duration > 0]
    if not usable:
        return 0, []
    if info.container is PartContainer.FMP4:
        init = fmp4_init_length(path, usable[0].offset + usable[0].bytes)
        out = []
        for seg in usable:
            start = max(seg.offset, init)
            end = seg.offset + seg.bytes
            if end > start:
                out.append((seg, start, end - start))
        return init, out
    out = []
    for seg in usable:
        start = seg.offset - seg.offset % TS_PACKET
        end = seg.offset + seg.bytes
        end -= end % TS_PACKET
        if end > start:
            out.append((seg, start, end - start))
    # Adjacent ranges must not overlap: each starts where the previous one ended at the latest.
    fixed: list[Range] = []
    for seg, start, length in out:
        if fixed:
            _prev, prev_start, prev_len = fixed[-1]
            if start < prev_start + prev_len:
                end = start + length
                start = prev_start + prev_len
                length = end - start
                if length <= 0:
                    continue
        fixed.append((seg, start, length))
    return 0, fixed


class LivePlaylists:
    def __init__(self, recordings: RecordingService) -> None:
        self._recordings = recordings

    def playlist(self, recording_id: str) -> LivePlaylist:
        """The playlist; segment URIs are `parts/{index}`, relative to `/recordings/{id}/live.m3u8`."""
        recording = self._recordings.get(recording_id)
        directory = self._recordings.spool_dir(recording.id)
        # Capture has ended once the recording is past `recording`: no segment will be added, so the playlist
        # says so at once (a player stops reloading it before the finalize removes the parts).
        ended = recording.status not in CAPTURING_RECORDING_STATUSES
        if not (directory / PARTS_FILE).exists():
            if ended:
                return _ended_without_segments()
            raise NotFound("nothing captured yet: the live view starts with the first segment",
                           details={"status": recording.status.value})
        spool = Spool(directory)
        parts = [p for p in spool.parts() if p.container in PLAYABLE]
        if parts:
            kind = parts[-1].container
            parts = [p for p in parts if p.container is kind]
        lines: list[str] = []
        longest = 1.0
        count = 0
        uses_map = False
        for info in parts:
            init, ranges = _ranges(info, directory / info.path, spool.segments_of(info))
            if not ranges:
                continue
            if count:
                lines.append("#EXT-X-DISCONTINUITY")
            if init:
                uses_map = True
                lines.append(f'#EXT-X-MAP:URI="parts/{info.index}",BYTERANGE="{init}@0"')
            for position, (segment, offset, length) in enumerate(ranges):
                if segment.discontinuity and position:
                    lines.append("#EXT-X-DISCONTINUITY")
                longest = max(longest, segment.duration)
                lines.append(f"#EXTINF:{segment.duration:.3f},")
                lines.append(f"#EXT-X-BYTERANGE:{length}@{offset}")
                lines.append(f"parts/{info.index}")
                count += 1
        if count == 0:
            if ended:
                return _ended_without_segments()
            raise NotFound("no playable segment yet: the live view needs MPEG-TS or fragmented-MP4 parts",
                           details={"status": recording.status.value})
        head = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{6 if uses_map else 4}",
            f"#EXT-X-TARGETDURATION:{math.ceil(longest)}",
            "#EXT-X-PLAYLIST-TYPE:EVENT",
            "#EXT-X-MEDIA-SEQUENCE:0",
        ]
        tail = ["#EXT-X-ENDLIST"] if ended else []
        return LivePlaylist(text="\n".join([*head, *lines, *tail]) + "\n", segments=count, ended=ended)


def _ended_without_segments() -> LivePlaylist:
    """Capture has ended and its parts are gone (finalized into the MP4) or were never playable: an ended,
    empty playlist. A player that was watching stops reloading it, and keeps what it has buffered."""
    text = "\n".join(["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-TARGETDURATION:1", "#EXT-X-PLAYLIST-TYPE:EVENT",
                      "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-ENDLIST"]) + "\n"
    return LivePlaylist(text=text, segments=0, ended=True)
