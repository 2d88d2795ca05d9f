"""Per-stream settings, and the views of a stream's segments that playlists and handlers use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from livevault.testsrc.media import Rendition, frames_per_segment

if TYPE_CHECKING:
    from livevault.testsrc.timeline import Epoch
    from livevault.testsrc.tsmux import SegmentTiming

VARIANTS = ("hi", "lo")
_SIZES = {"hi": ((320, 240), (384, 216)), "lo": ((160, 120), (192, 108))}
_LO_PAD_SHARE = 4  # the lo variant is padded to a quarter of pad_bitrate, so "best" stays well defined
_IV_MODES = frozenset({"explicit", "implicit", "alternate"})


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Per-stream settings; see the package docstring for what each one does."""

    segment_duration: float = 1.0
    window: int = 6
    fps: int = 24
    token: str | None = None
    pad_bitrate: int = 0
    max_segments: int | None = None
    key_period: int = 0
    aes_iv: str = "explicit"
    preroll: int = 0
    byterange_group: int = 4

    def __post_init__(self) -> None:
        frames_per_segment(self.segment_duration, self.fps)
        if self.window < 1 or self.byterange_group < 1 or self.preroll < 0 or self.key_period < 0:
            raise ValueError("window and byterange_group must be >= 1; preroll and key_period >= 0")
        if self.aes_iv not in _IV_MODES:
            raise ValueError(f"aes_iv must be one of {sorted(_IV_MODES)}")
        if self.max_segments is not None and self.max_segments < 1:
            raise ValueError("max_segments must be >= 1")

    @property
    def frames_per_segment(self) -> int:
        return frames_per_segment(self.segment_duration, self.fps)

    def rendition(self, variant: str, alt: bool = False) -> Rendition:
        width, height = _SIZES["lo" if variant == "lo" else "hi"][1 if alt else 0]
        return Rendition(width, height, self.fps, self.frames_per_segment)

    def pad_bytes(self, variant: str) -> int:
        """Target size of one TS segment of ``variant`` (0: no padding)."""
        rate = self.pad_bitrate // _LO_PAD_SHARE if variant == "lo" else self.pad_bitrate
        return int(rate * self.segment_duration / 8)


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    index: int
    sequence: int
    epoch: Epoch
    first_frame: int
    frame_count: int
    duration: float
    program_date_time: float  # wall clock of its first frame

    @property
    def timing(self) -> SegmentTiming:
        return self.epoch.timing(self.index)

    @property
    def discontinuity(self) -> bool:
        return self.index == self.epoch.start and self.epoch.discontinuity


@dataclass(frozen=True, slots=True)
class Window:
    """What a media playlist shows right now."""

    segments: tuple[SegmentInfo, ...]
    ended: bool
    group_start: int
    count: int

    @property
    def media_sequence(self) -> int:
        return self.segments[0].sequence if self.segments else 0

    @property
    def discontinuity_sequence(self) -> int:
        if not self.segments:
            return 0
        first = self.segments[0]
        return first.epoch.discontinuity_sequence - (1 if first.discontinuity else 0)
