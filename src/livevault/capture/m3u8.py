"""A tolerant HLS playlist parser (RFC 8216) and the start position; pure functions, frozen results.

Tolerated: CRLF line ends, a byte-order mark, blank lines, unknown tags, lower-case attribute names,
fractional target durations and EXTINF lines without a title. Every URI is resolved against the
playlist URL with `urljoin`, its query string (signed tokens) kept as written. Master playlists and
variant selection live in `variants`, attribute lists in `m3u8_attrs`; both are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from livevault.capture.m3u8_attrs import parse_attributes, parse_float, parse_int
from livevault.capture.s3url import join_url
from livevault.capture.variants import MasterPlaylist, Rendition, Variant, parse_master, select_variant
from livevault.errors import InvalidInput, PlaylistInvalid

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "LIVE_EDGE", "PLAYER_START", "WINDOW_START", "ByteRange", "InitSection", "Key", "MasterPlaylist", "MediaPlaylist",
    "Playlist", "ReloadCache", "Rendition", "Segment", "Variant", "parse_attributes", "parse_media_playlist",
    "parse_playlist", "select_variant", "start_index",
]

LIVE_EDGE = "live_edge"
WINDOW_START = "window_start"
PLAYER_START = "player"
"""Where a player starts (RFC 8216 §6.3.3): three target durations before the end (the engine tests use it)."""


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


Playlist = MasterPlaylist | MediaPlaylist


def _lines(text: str) -> list[str]:
    text = text.lstrip("\ufeff \t\r\n")
    if not text.startswith("#EXTM3U"):
        raise PlaylistInvalid("the playlist does not start with #EXTM3U")
    return [line for line in map(str.strip, text.splitlines()) if line]


def parse_playlist(text: str, url: str, cache: ReloadCache | None = None) -> Playlist:
    """Parse a master or media playlist fetched from `url`; `cache` carries over what a previous parse built."""
    lines = _lines(text)
    if "#EXT-X-STREAM-INF" in text and any(line.startswith("#EXT-X-STREAM-INF") for line in lines) and not any(
        line.startswith("#EXTINF") for line in lines
    ):
        return parse_master(lines, url)
    return _MediaParser(url, cache or ReloadCache()).parse(lines)


def parse_media_playlist(text: str, url: str, cache: ReloadCache | None = None) -> MediaPlaylist:
    playlist = parse_playlist(text, url, cache)
    if not isinstance(playlist, MediaPlaylist):
        raise PlaylistInvalid("expected a media playlist, got a master playlist")
    return playlist


def _byterange(spec: str, implied_offset: int) -> ByteRange | None:
    length, _, offset = spec.strip().partition("@")
    n = parse_int(length)
    o = parse_int(offset) if offset else implied_offset
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
        uri=join_url(base, attrs["URI"]) if "URI" in attrs else None,
        iv=iv,
        keyformat=attrs.get("KEYFORMAT", "identity"),
    )


_CACHE_SLACK = 16
_SegmentFields = tuple[str, float, int, int, str, bool, Key | None, InitSection | None, ByteRange | None, str | None,
                       bool]


class ReloadCache:
    """What the previous parses of one live playlist built, reused by the next: a reload repeats most segments.

    A segment listed again comes back as the same `Segment` object. Entries the latest parse did not use are
    dropped once they outnumber the used ones, so it holds about two playlists' worth at most.
    """

    __slots__ = ("_base", "_segments", "_uris", "_used_segments", "_used_uris")

    def __init__(self) -> None:
        self._base = ""
        self._uris: dict[str, str] = {}
        self._segments: dict[_SegmentFields, Segment] = {}
        self._used_uris: list[str] = []
        self._used_segments: list[_SegmentFields] = []

    def start(self, base: str) -> None:
        if base != self._base:
            self._base, self._uris, self._segments = base, {}, {}
        self._used_uris, self._used_segments = [], []

    def resolve(self, uri: str) -> str:
        """`uri` resolved against the playlist URL."""
        resolved = self._uris.get(uri)
        if resolved is None:
            resolved = self._uris[uri] = join_url(self._base, uri)
        self._used_uris.append(uri)
        return resolved

    def segment(self, fields: _SegmentFields) -> Segment:
        """`Segment(*fields)`, the very one built before when an earlier parse had the same fields."""
        segment = self._segments.get(fields)
        if segment is None:
            segment = self._segments[fields] = Segment(*fields)
        self._used_segments.append(fields)
        return segment

    def finish(self) -> None:
        if len(self._uris) > 2 * len(self._used_uris) + _CACHE_SLACK:
            self._uris = {uri: self._uris[uri] for uri in self._used_uris}
        if len(self._segments) > 2 * len(self._used_segments) + _CACHE_SLACK:
            self._segments = {fields: self._segments[fields] for fields in self._used_segments}


class _MediaParser:
    """Walks a media playlist once; the state is what applies to the next segment URI."""

    def __init__(self, url: str, cache: ReloadCache) -> None:
        self.url = url
        self.cache = cache
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
        self.cache.start(self.url)
        tag, extinf, segment, resolve = self._tag, self._extinf, self._add_segment, self.cache.resolve
        for line in lines:
            if line[0] != "#":
                segment(resolve(line))
            elif line.startswith("#EXTINF:"):  # the two tags of every segment, without the generic lookup
                extinf(line[8:].strip())
            elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
                self.pdt = line[25:].strip()
            else:
                tag(line)
        if self.target is None:
            raise PlaylistInvalid("the media playlist has no #EXT-X-TARGETDURATION")
        self.cache.finish()
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
        handler = _MEDIA_TAGS.get(name) or _MEDIA_TAGS.get(name.upper())
        if handler is not None:
            handler(self, value.strip())

    def _extinf(self, value: str) -> None:
        duration, _, title = value.partition(",")
        self.duration = parse_float(duration)
        self.title = title.strip()

    def _target(self, value: str) -> None:
        self.target = parse_float(value)

    def _media_sequence(self, value: str) -> None:
        number = parse_int(value)
        if number is None:
            raise PlaylistInvalid(f"invalid #EXT-X-MEDIA-SEQUENCE: {value!r}")
        if not self.segments:
            self.media_sequence = number

    def _disc_sequence(self, value: str) -> None:
        number = parse_int(value)
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
        self.init = InitSection(join_url(self.url, attrs["URI"]), byterange, self._current_key())

    def _set(self, attr: str, value: object) -> None:
        setattr(self, attr, value)

    def _current_key(self) -> Key | None:
        if not self.keys:
            return None
        identity = [k for k in self.keys if k.keyformat.lower() == "identity"]
        return (identity or self.keys)[0]

    def _add_segment(self, uri: str) -> None:
        byterange = None
        if self.byterange is not None:
            byterange = _byterange(self.byterange, self.range_ends.get(uri, 0))
            if byterange is not None:
                self.range_ends[uri] = byterange.end
        key = self._current_key() if self.keys else None
        self.segments.append(self.cache.segment((  # the fields of Segment, in order
            uri,
            self.duration if self.duration is not None else (self.target or 0.0),
            self.media_sequence + len(self.segments),
            self.disc,
            self.title,
            self.discontinuity,
            key if key is not None and key.method != "NONE" else None,
            self.init,
            byterange,
            self.pdt,
            self.gap,
        )))
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
    "#EXT-X-VERSION": lambda p, v: p._set("version", parse_int(v)),
}


def start_index(playlist: MediaPlaylist, start_from: str = LIVE_EDGE) -> int:
    """Index of the first segment to record from a first look at a live playlist.

    `live_edge` starts at the newest segment (the media a `duration` counts begins now, give or take one
    segment); `window_start`, or a playlist with EXT-X-ENDLIST, starts at the oldest segment (back-fill);
    `player` at the latest segment beginning at least three target durations before the end.
    """
    segments = playlist.segments
    if start_from == WINDOW_START or playlist.endlist or not segments:
        return 0
    if start_from == LIVE_EDGE:
        return len(segments) - 1
    if start_from != PLAYER_START:
        raise InvalidInput(f"unknown start position {start_from!r}; use live_edge or window_start")
    index = len(segments) - 1
    covered = segments[index].duration
    while index > 0 and covered < 3 * playlist.target_duration:
        index -= 1
        covered += segments[index].duration
    return index
