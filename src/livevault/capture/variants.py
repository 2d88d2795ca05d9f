"""HLS master playlists (RFC 8216 §4.3.4): variants and renditions, and choosing the variant to record."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from livevault.capture.m3u8_attrs import parse_attributes, parse_float, parse_int, parse_resolution
from livevault.capture.s3url import join_url
from livevault.errors import InvalidInput, NoMatchingQuality

_QUALITY_HEIGHT = re.compile(r"^(\d{2,4})p(\d{0,3})$")


@dataclass(frozen=True, slots=True)
class Variant:
    uri: str
    bandwidth: int
    average_bandwidth: int | None = None
    resolution: tuple[int, int] | None = None
    codecs: str | None = None
    frame_rate: float | None = None
    audio: str | None = None

    @property
    def height(self) -> int | None:
        return self.resolution[1] if self.resolution else None


@dataclass(frozen=True, slots=True)
class Rendition:
    """An EXT-X-MEDIA alternative rendition (parsed minimally)."""

    type: str
    group_id: str
    name: str
    uri: str | None = None
    language: str | None = None
    default: bool = False


@dataclass(frozen=True, slots=True)
class MasterPlaylist:
    url: str
    variants: tuple[Variant, ...]
    media: tuple[Rendition, ...] = field(default_factory=tuple)


def _variant(attrs: dict[str, str], uri: str) -> Variant:
    return Variant(
        uri=uri,
        bandwidth=parse_int(attrs.get("BANDWIDTH"), 0) or 0,
        average_bandwidth=parse_int(attrs.get("AVERAGE-BANDWIDTH")),
        resolution=parse_resolution(attrs.get("RESOLUTION")),
        codecs=attrs.get("CODECS"),
        frame_rate=parse_float(attrs.get("FRAME-RATE")),
        audio=attrs.get("AUDIO"),
    )


def _rendition(attrs: dict[str, str], base: str) -> Rendition:
    return Rendition(
        type=attrs.get("TYPE", ""),
        group_id=attrs.get("GROUP-ID", ""),
        name=attrs.get("NAME", ""),
        uri=join_url(base, attrs["URI"]) if "URI" in attrs else None,
        language=attrs.get("LANGUAGE"),
        default=attrs.get("DEFAULT", "").upper() == "YES",
    )


def parse_master(lines: list[str], url: str) -> MasterPlaylist:
    """A master playlist from its stripped, non-blank lines; URIs resolved against `url`."""
    variants: list[Variant] = []
    media: list[Rendition] = []
    pending: dict[str, str] | None = None
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = parse_attributes(line.partition(":")[2])
        elif line.startswith("#EXT-X-MEDIA:"):
            media.append(_rendition(parse_attributes(line.partition(":")[2]), url))
        elif not line.startswith("#") and pending is not None:
            variants.append(_variant(pending, join_url(url, line)))
            pending = None
    return MasterPlaylist(url=url, variants=tuple(variants), media=tuple(media))


def select_variant(master: MasterPlaylist, quality: str) -> Variant:
    """Choose a variant: best, worst, `720p` (highest at most 720 lines, else the lowest) or max bit/s."""
    if not master.variants:
        raise NoMatchingQuality("the master playlist lists no variants")
    by_bandwidth = sorted(master.variants, key=lambda v: v.bandwidth)
    wanted = quality.strip().lower()
    if wanted in {"best", ""}:
        return by_bandwidth[-1]
    if wanted == "worst":
        return by_bandwidth[0]
    height = _QUALITY_HEIGHT.match(wanted)
    if height:
        return _by_height(master.variants, int(height.group(1)), by_bandwidth)
    if wanted.isdigit():
        fitting = [v for v in by_bandwidth if v.bandwidth <= int(wanted)]
        return fitting[-1] if fitting else by_bandwidth[0]
    raise InvalidInput(
        f"unknown quality {quality!r}; use best, worst, a height like 720p, or a bandwidth in bit/s"
    )


def _by_height(variants: tuple[Variant, ...], limit: int, by_bandwidth: list[Variant]) -> Variant:
    sized = [v for v in variants if v.height is not None]
    if not sized:
        return by_bandwidth[-1]
    ranked = sorted(sized, key=lambda v: (v.height or 0, v.bandwidth))
    fitting = [v for v in ranked if (v.height or 0) <= limit]
    return fitting[-1] if fitting else ranked[0]
