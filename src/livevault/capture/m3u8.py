"""A tolerant HLS playlist parser (RFC 8216) and variant selection; pure functions, frozen results.

Tolerated: CRLF line ends, a byte-order mark, blank lines, unknown tags, lower-case attribute names,
fractional target durations and EXTINF lines without a title. Every URI is resolved against the
playlist URL with `urljoin`, its query string (signed tokens) kept as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from livevault.errors import InvalidInput, NoMatchingQuality, PlaylistInvalid

if TYPE_CHECKING:
    from collections.abc import Callable

_ATTRIBUTE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("[^"]*"|[^,]*)\s*,?')
_QUALITY_HEIGHT = re.compile(r"^(\d{2,4})p(\d{0,3})$")
LIVE_EDGE = "live_edge"
WINDOW_START = "window_start"


@dataclass(frozen=True, slots=True)
class ByteRange:
    length: int
    offset: int

    @property
    def end(self) -> int:
        """Offset just past the range."""
        return self.offset + self.length


@dataclass(frozen=True, slots=True)
class Key:
    """An EXT-X-KEY: METHOD NONE, AES-128, SAMPLE-AES (or anything else a server invents)."""

    method: str
    uri: str | None = None
    iv: bytes | None = None
    keyformat: str = "identity"


@dataclass(frozen=True, slots=True)
class InitSection:
    """An EXT-X-MAP: the fMP4 initialization section that precedes the segments it applies to."""

    uri: str
    byterange: ByteRange | None = None
    key: Key | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    uri: str
    duration: float
    sequence: int
    discontinuity_sequence: int = 0
    title: str = ""
    discontinuity: bool = False
    key: Key | None = None
    init: InitSection | None = None
    byterange: ByteRange | None = None
    program_date_time: str | None = None
    gap: bool = False


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    url: str
    target_duration: float
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    segments: tuple[Segment, ...] = ()
    endlist: bool = False
    playlist_type: str | None = None
    version: int | None = None

    @property
    def last_sequence(self) -> int:
        """Sequence number of the last segment (media_sequence - 1 when there is none)."""
        return self.media_sequence + len(self.segments) - 1


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


Playlist = MasterPlaylist | MediaPlaylist


def parse_attributes(text: str) -> dict[str, str]:
    """`A=1,B="x,y",C=0x1F` → {"A": "1", "B": "x,y", "C": "0x1F"}; names upper-cased, quotes removed."""
    attrs: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(text):
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        attrs[match.group(1).upper()] = value
    return attrs


def _lines(text: str) -> list[str]:
    text = text.lstrip("\ufeff \t\r\n")
    if not text.startswith("#EXTM3U"):
        raise PlaylistInvalid("the playlist does not start with #EXTM3U")
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_playlist(text: str, url: str) -> Playlist:
    """Parse a master or media playlist fetched from `url`."""
    lines = _lines(text)
    if any(line.startswith("#EXT-X-STREAM-INF") for line in lines) and not any(
        line.startswith("#EXTINF") for line in lines
    ):
        return _parse_master(lines, url)
    return _MediaParser(url).parse(lines)


def parse_media_playlist(text: str, url: str) -> MediaPlaylist:
    playlist = parse_playlist(text, url)
    if not isinstance(playlist, MediaPlaylist):
        raise PlaylistInvalid("expected a media playlist, got a master playlist")
    return playlist


def _int(value: str | None, default: int | None = None) -> int | None:
    try:
        return int(value.strip()) if value is not None else default
    except ValueError:
        return default


def _float(value: str | None) -> float | None:
    try:
        return float(value.strip()) if value is not None else None
    except ValueError:
        return None


def _resolution(value: str | None) -> tuple[int, int] | None:
    if not value or "x" not in value.lower():
        return None
    width, _, height = value.lower().partition("x")
    w, h = _int(width), _int(height)
    return (w, h) if w is not None and h is not None else None


def _variant(attrs: dict[str, str], uri: str) -> Variant:
    return Variant(
        uri=uri,
        bandwidth=_int(attrs.get("BANDWIDTH"), 0) or 0,
        average_bandwidth=_int(attrs.get("AVERAGE-BANDWIDTH")),
        resolution=_resolution(attrs.get("RESOLUTION")),
        codecs=attrs.get("CODECS"),
        frame_rate=_float(attrs.get("FRAME-RATE")),
        audio=attrs.get("AUDIO"),
    )


def _rendition(attrs: dict[str, str], base: str) -> Rendition:
    return Rendition(
        type=attrs.get("TYPE", ""),
        group_id=attrs.get("GROUP-ID", ""),
        name=attrs.get("NAME", ""),
        uri=urljoin(base, attrs["URI"]) if "URI" in attrs else None,
        language=attrs.get("LANGUAGE"),
        default=attrs.get("DEFAULT", "").upper() == "YES",
    )


def _parse_master(lines: list[str], url: str) -> MasterPlaylist:
    variants: list[Variant] = []
    media: list[Rendition] = []
    pending: dict[str, str] | None = None
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = parse_attributes(line.partition(":")[2])
        elif line.startswith("#EXT-X-MEDIA:"):
            media.append(_rendition(parse_attributes(line.partition(":")[2]), url))
        elif not line.startswith("#") and pending is not None:
            variants.append(_variant(pending, urljoin(url, line)))
            pending = None
    return MasterPlaylist(url=url, variants=tuple(variants), media=tuple(media))


def _byterange(spec: str, implied_offset: int) -> ByteRange | None:
    length, _, offset = spec.strip().partition("@")
    n = _int(length)
    o = _int(offset) if offset else implied_offset
    if n is None or o is None or n < 0:
        return None
    return ByteRange(n, o)


def _key(attrs: dict[str, str], base: str) -> Key:
    iv: bytes | None = None
    raw_iv = attrs.get("IV", "")
    if raw_iv[:2].lower() == "0x":
        try:
            iv = bytes.fromhex(raw_iv[2:].rjust(32, "0")[-32:])
        except ValueError as exc:
            raise PlaylistInvalid(f"EXT-X-KEY has an invalid IV: {raw_iv!r}") from exc
    return Key(
        method=attrs.get("METHOD", "NONE").upper(),
        uri=urljoin(base, attrs["URI"]) if "URI" in attrs else None,
        iv=iv,
        keyformat=attrs.get("KEYFORMAT", "identity"),
    )


class _MediaParser:
    """Walks a media playlist once; the state is what applies to the next segment URI."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.target: float | None = None
        self.media_sequence = 0
        self.disc_start = 0
        self.disc = 0
        self.segments: list[Segment] = []
        self.endlist = False
        self.playlist_type: str | None = None
        self.version: int | None = None
        self.keys: list[Key] = []
        self.keys_closed = False
        self.init: InitSection | None = None
        self.range_ends: dict[str, int] = {}
        self._reset_pending()

    def _reset_pending(self) -> None:
        self.duration: float | None = None
        self.title = ""
        self.byterange: str | None = None
        self.discontinuity = False
        self.pdt: str | None = None
        self.gap = False

    def parse(self, lines: list[str]) -> MediaPlaylist:
        for line in lines:
            if line.startswith("#"):
                self._tag(line)
            else:
                self._segment(urljoin(self.url, line))
        if self.target is None:
            raise PlaylistInvalid("the media playlist has no #EXT-X-TARGETDURATION")
        return MediaPlaylist(
            url=self.url,
            target_duration=self.target,
            media_sequence=self.media_sequence,
            discontinuity_sequence=self.disc_start,
            segments=tuple(self.segments),
            endlist=self.endlist,
            playlist_type=self.playlist_type,
            version=self.version,
        )

    def _tag(self, line: str) -> None:
        name, _, value = line.partition(":")
        handler = _MEDIA_TAGS.get(name.upper())
        if handler is not None:
            handler(self, value.strip())

    def _extinf(self, value: str) -> None:
        duration, _, title = value.partition(",")
        self.duration = _float(duration)
        self.title = title.strip()

    def _target(self, value: str) -> None:
        self.target = _float(value)

    def _media_sequence(self, value: str) -> None:
        number = _int(value)
        if number is None:
            raise PlaylistInvalid(f"invalid #EXT-X-MEDIA-SEQUENCE: {value!r}")
        if not self.segments:
            self.media_sequence = number

    def _disc_sequence(self, value: str) -> None:
        number = _int(value)
        if number is not None and not self.segments:
            self.disc_start = self.disc = number

    def _discontinuity(self, _value: str) -> None:
        self.discontinuity = True
        self.disc += 1

    def _key_tag(self, value: str) -> None:
        if self.keys_closed:
            self.keys, self.keys_closed = [], False
        self.keys.append(_key(parse_attributes(value), self.url))

    def _map(self, value: str) -> None:
        attrs = parse_attributes(value)
        if "URI" not in attrs:
            return
        byterange = _byterange(attrs["BYTERANGE"], 0) if "BYTERANGE" in attrs else None
        self.init = InitSection(urljoin(self.url, attrs["URI"]), byterange, self._current_key())

    def _set(self, attr: str, value: object) -> None:
        setattr(self, attr, value)

    def _current_key(self) -> Key | None:
        if not self.keys:
            return None
        identity = [k for k in self.keys if k.keyformat.lower() == "identity"]
        return (identity or self.keys)[0]

    def _segment(self, uri: str) -> None:
        byterange = None
        if self.byterange is not None:
            byterange = _byterange(self.byterange, self.range_ends.get(uri, 0))
            if byterange is not None:
                self.range_ends[uri] = byterange.end
        key = self._current_key()
        self.segments.append(
            Segment(
                uri=uri,
                duration=self.duration if self.duration is not None else (self.target or 0.0),
                sequence=self.media_sequence + len(self.segments),
                discontinuity_sequence=self.disc,
                title=self.title,
                discontinuity=self.discontinuity,
                key=key if key is not None and key.method != "NONE" else None,
                init=self.init,
                byterange=byterange,
                program_date_time=self.pdt,
                gap=self.gap,
            )
        )
        self.keys_closed = True
        self._reset_pending()


_MEDIA_TAGS: dict[str, Callable[[_MediaParser, str], None]] = {
    "#EXTINF": _MediaParser._extinf,
    "#EXT-X-TARGETDURATION": _MediaParser._target,
    "#EXT-X-MEDIA-SEQUENCE": _MediaParser._media_sequence,
    "#EXT-X-DISCONTINUITY-SEQUENCE": _MediaParser._disc_sequence,
    "#EXT-X-DISCONTINUITY": _MediaParser._discontinuity,
    "#EXT-X-KEY": _MediaParser._key_tag,
    "#EXT-X-MAP": _MediaParser._map,
    "#EXT-X-BYTERANGE": lambda p, v: p._set("byterange", v),
    "#EXT-X-PROGRAM-DATE-TIME": lambda p, v: p._set("pdt", v),
    "#EXT-X-GAP": lambda p, v: p._set("gap", True),
    "#EXT-X-ENDLIST": lambda p, v: p._set("endlist", True),
    "#EXT-X-PLAYLIST-TYPE": lambda p, v: p._set("playlist_type", v.upper()),
    "#EXT-X-VERSION": lambda p, v: p._set("version", _int(v)),
}


def start_index(playlist: MediaPlaylist, start_from: str = LIVE_EDGE) -> int:
    """Index of the first segment to record from a first look at a live playlist.

    `live_edge` starts where a player would (RFC 8216 §6.3.3): the latest segment that begins at least
    three target durations before the end. `window_start`, or a playlist with EXT-X-ENDLIST, starts at
    the oldest segment.
    """
    segments = playlist.segments
    if start_from == WINDOW_START or playlist.endlist or not segments:
        return 0
    if start_from != LIVE_EDGE:
        raise InvalidInput(f"unknown start position {start_from!r}; use live_edge or window_start")
    index = len(segments) - 1
    covered = segments[index].duration
    while index > 0 and covered < 3 * playlist.target_duration:
        index -= 1
        covered += segments[index].duration
    return index


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
