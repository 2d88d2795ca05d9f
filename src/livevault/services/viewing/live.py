"""A live HLS playlist over a recording's spool, so a browser can watch while it records.

Each indexed segment of a part becomes one `EXT-X-BYTERANGE` entry over that growing part file (index lines are
written only after their bytes are on disk, so every range the playlist names can be read). The playlist is
of type EVENT: it only grows, a player starts at the live edge and can seek back to the start; it ends with
`EXT-X-ENDLIST` once the recording is no longer active. A new part (reconnect, discontinuity) starts with
`EXT-X-DISCONTINUITY`. MPEG-TS parts are playable this way; FLV, AAC and fragmented-MP4 parts are not listed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livevault.capture.spool import PARTS_FILE, Spool
from livevault.domain.capture import PartContainer
from livevault.domain.recording import ACTIVE_RECORDING_STATUSES
from livevault.errors import NotFound

if TYPE_CHECKING:
    from livevault.services.record import RecordingService

PLAYABLE = frozenset({PartContainer.TS})


@dataclass(frozen=True, slots=True)
class LivePlaylist:
    text: str
    segments: int
    ended: bool


class LivePlaylists:
    def __init__(self, recordings: RecordingService) -> None:
        self._recordings = recordings

    def playlist(self, recording_id: str) -> LivePlaylist:
        """The playlist; segment URIs are `parts/{index}`, relative to `/recordings/{id}/live.m3u8`."""
        recording = self._recordings.get(recording_id)
        directory = self._recordings.spool_dir(recording.id)
        if not (directory / PARTS_FILE).exists():
            raise NotFound("nothing captured yet: the live view starts with the first segment",
                           details={"status": recording.status.value})
        spool = Spool(directory)
        ended = recording.status not in ACTIVE_RECORDING_STATUSES
        lines: list[str] = []
        longest = 1.0
        count = 0
        previous_part: int | None = None
        for info in spool.parts():
            if info.container not in PLAYABLE:
                continue
            segments = [s for s in spool.segments_of(info) if s.bytes > 0 and s.duration > 0]
            for segment in segments:
                if (previous_part is not None and previous_part != info.index) or (segment.discontinuity and count):
                    lines.append("#EXT-X-DISCONTINUITY")
                previous_part = info.index
                longest = max(longest, segment.duration)
                lines.append(f"#EXTINF:{segment.duration:.3f},")
                lines.append(f"#EXT-X-BYTERANGE:{segment.bytes}@{segment.offset}")
                lines.append(f"parts/{info.index}")
                count += 1
        if count == 0:
            raise NotFound("no playable segment yet: the live view needs MPEG-TS parts",
                           details={"status": recording.status.value})
        head = [
            "#EXTM3U",
            "#EXT-X-VERSION:4",
            f"#EXT-X-TARGETDURATION:{math.ceil(longest)}",
            "#EXT-X-PLAYLIST-TYPE:EVENT",
            "#EXT-X-MEDIA-SEQUENCE:0",
        ]
        tail = ["#EXT-X-ENDLIST"] if ended else []
        return LivePlaylist(text="\n".join([*head, *lines, *tail]) + "\n", segments=count, ended=ended)
