"""HLS media-sequence bookkeeping: what was seen, what left the window unseen, and where a resume picks up.

A segment is known by its media sequence number and file name (hosts and query tokens may change between
reloads). The window deduplicates reloads, tells stale copies and encoder restarts (resets) apart from
live progress, and turns sequences that were never seen into gaps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from livevault.domain.capture import GapCause

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.capture.m3u8 import MediaPlaylist, Segment
    from livevault.domain.capture import SegmentRecord
    from livevault.errors import LivevaultError

MIN_RELOAD = 0.1
_SEEN_KEPT = 2048


class PlaylistUnreachable(Exception):
    """The media playlist stayed unreachable for longer than the grace period (`error` is the last failure)."""

    def __init__(self, error: LivevaultError) -> None:
        super().__init__(error.message)
        self.error = error


class Verdict(Enum):
    OK = "ok"
    STALE = "stale"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class PendingGap:
    """A loss found by the playlist worker or a fetcher, written to the ledger in sequence order."""

    cause: GapCause
    started: float
    ended: float
    from_seq: int | None = None
    to_seq: int | None = None
    missing: int = 0
    duration: float = 0.0


@lru_cache(maxsize=4096)
def segment_name(uri: str) -> str:
    """A segment's identity across reloads: its file name (hosts and query tokens may change)."""
    return path_name(urlsplit(uri).path)


def path_name(path: str) -> str:
    """`PurePosixPath(path).name` without building a path: the last component that is neither empty nor '.'."""
    for part in reversed(path.split("/")):
        if part and part != ".":
            return part
    return ""


def segment_gap(segment: Segment, cause: GapCause, started: float) -> PendingGap:
    """One lost segment, from `started` until now."""
    return PendingGap(cause, started, time.time(), segment.sequence, segment.sequence, 1, segment.duration)


@lru_cache(maxsize=4096)
def pdt_seconds(value: str | None) -> float | None:
    """EXT-X-PROGRAM-DATE-TIME as epoch seconds, or None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        return None


def plausible_skip(skipped: int, elapsed: float, playlist: MediaPlaylist) -> bool:
    """Whether `skipped` sequences can have gone by in `elapsed` seconds (else the numbering restarted)."""
    return skipped <= 2 * (elapsed / max(playlist.target_duration, 0.5) + len(playlist.segments)) + 10


class SequenceWindow:
    """Which media sequences were seen, to deduplicate, spot skipped ones and detect resets.

    Some servers never send EXT-X-DISCONTINUITY-SEQUENCE, so the numbering of every segment after a
    discontinuity drops by one when the tag leaves the window; that shift is learned from the overlap
    and undone, so it neither splits parts nor looks like a reset.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.next_seq: int | None = None
        self.last_disc = 0
        self.latest: MediaPlaylist | None = None
        self.applied_at = time.monotonic()
        self.applied_wall = time.time()
        self._seen: dict[int, tuple[str, int, float | None]] = {}
        self._remembered: dict[int, Segment] = {}  # the segments of the playlist remembered last
        self._suspect = False
        self._disc_shift = 0

    def remember(self, playlist: MediaPlaylist) -> None:
        seen, last = self._seen, self._remembered
        remembered: dict[int, Segment] = {}
        for seg in playlist.segments:
            remembered[seg.sequence] = seg
            if last.get(seg.sequence) is seg and seg.sequence in seen:  # the very segment (reloads share them)
                continue
            seen[seg.sequence] = (
                segment_name(seg.uri), seg.discontinuity_sequence, pdt_seconds(seg.program_date_time)
            )
        self._remembered = remembered
        while len(self._seen) > _SEEN_KEPT:
            del self._seen[next(iter(self._seen))]
        self.latest = playlist
        self.applied_at, self.applied_wall = time.monotonic(), time.time()

    def known(self, seg: Segment) -> bool:
        seen = self._seen.get(seg.sequence)
        return seen is not None and seen[0] == segment_name(seg.uri)

    def same(self, seg: Segment, tolerance: float) -> bool:
        """Seen before as this very segment: same name and, when both are dated, the same date time."""
        seen = self._seen.get(seg.sequence)
        if seen is None or seen[0] != segment_name(seg.uri):
            return False
        now = pdt_seconds(seg.program_date_time)
        return seen[2] is None or now is None or abs(now - seen[2]) <= tolerance

    def _retimed(self, playlist: MediaPlaylist) -> bool:
        """A seen sequence and name now carry another program date time: the encoder restarted and
        reused its names (a stale copy repeats the same date times)."""
        tolerance = max(2.0, playlist.target_duration)
        seen, last = self._seen, self._remembered
        for seg in playlist.segments:
            if seg.sequence not in seen or last.get(seg.sequence) is seg:  # unknown, or the very one remembered
                continue
            if self.known(seg) and not self.same(seg, tolerance):
                return True
        return False

    def target(self) -> float:
        """The latest target duration (10 s before any playlist), never below the reload floor."""
        latest = self.latest
        return max(latest.target_duration if latest is not None else 10.0, MIN_RELOAD)

    def holds(self, epoch: int, segment: Segment) -> bool:
        """Whether a segment queued in `epoch` can still be fetched: same numbering, still in the window."""
        latest = self.latest
        if epoch != self.epoch or latest is None:
            return False
        return latest.endlist or latest.media_sequence <= segment.sequence <= latest.last_sequence

    def normalize(self, playlist: MediaPlaylist) -> MediaPlaylist:
        shift = self._disc_shift
        if not shift:
            return playlist
        segments = tuple(replace(s, discontinuity_sequence=s.discontinuity_sequence + shift)
                         for s in playlist.segments)
        return replace(playlist, segments=segments, discontinuity_sequence=playlist.discontinuity_sequence + shift)

    def classify(self, raw: MediaPlaylist) -> tuple[Verdict, MediaPlaylist]:
        """OK to take new segments from, STALE (an older copy; ignore) or RESET (the encoder restarted).

        Returns the verdict and the playlist with the learned discontinuity numbering applied.
        """
        assert self.next_seq is not None
        playlist = self.normalize(raw)
        if not playlist.segments:
            return Verdict.STALE, playlist
        if self._retimed(playlist):
            return Verdict.RESET, raw
        if playlist.last_sequence < self.next_seq - 1:
            if any(self.known(s) for s in playlist.segments):
                self._suspect = False
                return Verdict.STALE, playlist
            # behind with nothing in common: a reset, once a second reload shows it is no stale copy
            self._suspect = not self._suspect
            return (Verdict.STALE if self._suspect else Verdict.RESET), raw
        self._suspect = False
        if self._renumbered(playlist):
            return Verdict.RESET, raw
        playlist = self.normalize(raw)
        fresh = [s for s in playlist.segments if s.sequence >= self.next_seq]
        if (fresh and fresh[0].discontinuity_sequence < self.last_disc) or self._jumped(playlist):
            return Verdict.RESET, raw
        return Verdict.OK, playlist

    def _renumbered(self, playlist: MediaPlaylist) -> bool:
        """True when a seen sequence now has another name and numbering (a reset); learns a shift."""
        for seg in playlist.segments:
            seen = self._seen.get(seg.sequence)
            if seen is None or seen[1] == seg.discontinuity_sequence:
                continue
            if seen[0] != segment_name(seg.uri):
                return True
            self._disc_shift += seen[1] - seg.discontinuity_sequence
            return False
        return False

    def _jumped(self, playlist: MediaPlaylist) -> bool:
        """Far more sequences skipped than the time since the last playlist can explain."""
        assert self.next_seq is not None
        skipped = playlist.media_sequence - self.next_seq
        return not plausible_skip(skipped, time.monotonic() - self.applied_at, playlist)

    def skipped_gap(self, playlist: MediaPlaylist, *, outage: bool) -> PendingGap | None:
        """The sequences between the last one taken and this playlist's first, which left the window unseen."""
        assert self.next_seq is not None
        next_seq = self.next_seq
        missing = playlist.media_sequence - next_seq
        if missing <= 0:
            return None
        cause = GapCause.PLAYLIST_UNREACHABLE if outage else GapCause.SEGMENT_EXPIRED
        return PendingGap(cause, self.applied_wall, time.time(), next_seq, playlist.media_sequence - 1,
                          missing, missing * playlist.target_duration)

    def start_over(self) -> None:
        self.epoch += 1
        self._seen.clear()
        self._remembered = {}
        self._suspect = False
        self._disc_shift = 0


def resume_point(last: SegmentRecord, playlist: MediaPlaylist, fallback: Callable[[], int],
                 now: float, cause: GapCause | None = None) -> tuple[int, PendingGap | None]:
    """Where a capture resumed on a spool ending with `last` starts in its first playlist, and what it lost.

    It continues right after `last` while the window still has it (with the same discontinuity
    sequence), else from the window's start while the numbering plausibly continued; nothing is lost
    when the first segment taken directly follows `last`. When the numbering restarted it starts at
    `fallback()` (where a new capture would). The pause is one PROCESS_RESTART gap: from `last` was
    fetched until `now`, with the skipped sequences when the numbering plausibly continued (their
    duration estimated from the target duration), else of unknown extent lasting the wall time. `cause`
    replaces PROCESS_RESTART when the pause was something else (a reconnect after the stream went away).
    """
    found, gap = _resume_point(last, playlist, fallback, now)
    if gap is not None and cause is not None:
        gap = replace(gap, cause=cause)
    return found, gap


def _resume_point(last: SegmentRecord, playlist: MediaPlaylist, fallback: Callable[[], int],
                  now: float) -> tuple[int, PendingGap | None]:
    segments = playlist.segments
    for index, seg in enumerate(segments):
        if seg.sequence == last.sequence:
            if seg.discontinuity_sequence == last.discontinuity_sequence:
                return index + 1, None
            return fallback(), _restart_gap(last, now)
    first = segments[0]
    if first.sequence <= last.sequence or first.discontinuity_sequence < last.discontinuity_sequence:
        return fallback(), _restart_gap(last, now)
    start = 0  # after a restart, take the whole window: every segment still offered is one less lost
    skipped = segments[start].sequence - last.sequence - 1
    if skipped == 0:
        return start, None
    if not plausible_skip(skipped, now - last.fetched_at, playlist):
        return start, _restart_gap(last, now)
    return start, _restart_gap(last, now, skipped, playlist.target_duration)


def _restart_gap(last: SegmentRecord, now: float, skipped: int = 0, target: float = 0.0) -> PendingGap:
    if not skipped:
        return PendingGap(GapCause.PROCESS_RESTART, last.fetched_at, now, duration=max(0.0, now - last.fetched_at))
    return PendingGap(GapCause.PROCESS_RESTART, last.fetched_at, now, last.sequence + 1, last.sequence + skipped,
                      skipped, skipped * target)
