"""Sites yt-dlp knows (YouTube, Twitch, ... and, when asked by name, any page its generic extractor reads),
resolved with the yt-dlp library in a worker thread; the capture stays livevault's own.

Routing rule. The catalog asks every source in order whether it `matches` a URL and the first one wins, and
this source stands before the plain `url` source. So `matches` claims only what yt-dlp is needed for: an
http(s) URL that one of yt-dlp's *site* extractors (not the generic one) accepts and whose path does not end
in a media extension (``.m3u8 .flv .ts`` ... go to the native `url` source, which records them without a
page fetch). `accepts` is the wider rule for a user who names the source (``"source": "ytdlp"``): any
http(s) URL, the generic extractor included (pages with an embedded player, bare playlists).

Resolution picks, by quality, among the formats livevault records natively (HLS, FLV or MPEG-TS over
http(s)); a live stream offered only in another http(s) form is handed to the `ffmpeg` engine. Every media
URL yt-dlp returns passes `validate_source_url` before it is used.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from livevault.domain.stream import LiveState, LiveStatus, StreamFormat, StreamInfo
from livevault.errors import (
    LiveOffline,
    LivevaultError,
    LoginRequired,
    NetworkTimeout,
    NoMatchingQuality,
    SourceBlocked,
    SourceError,
    SourceRateLimited,
    SourceUnreachable,
    UnsupportedFormat,
    UnsupportedSource,
)
from livevault.sources.urls import check_url_syntax, validate_source_url

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import aiohttp

    from livevault.config import Settings
    from livevault.sources.base import ResolveRequest

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = (".m3u8", ".m3u", ".flv", ".ts", ".mts", ".mp4", ".m4s", ".mpd", ".aac", ".mp3")
_HLS_PROTOCOLS = frozenset({"m3u8", "m3u8_native"})
_HTTP_PROTOCOLS = frozenset({"http", "https"})
_FFMPEG_EXTS = frozenset({"mp4", "m4v", "mov", "webm", "mkv"})  # other http(s) live forms: the ffmpeg engine
_NOT_LIVE = {"is_upcoming": "has not started yet", "was_live": "has ended", "post_live": "has ended",
             "not_live": "is not a live stream"}
_QUALITY_HEIGHT = re.compile(r"^(\d{2,4})p(\d{0,3})$")
_COOKIE_ATTRIBUTES = frozenset({"domain", "path", "expires", "max-age", "secure", "httponly", "samesite"})
_OFFLINE_WORDS = ("not currently live", "is offline", "not live", "will begin", "premieres in", "has ended",
                  "live event will", "no longer live")
_LOGIN_WORDS = ("sign in", "login required", "log in", "members-only", "private video", "requiring login")


def is_http_url(target: str) -> bool:
    try:
        parts = urlsplit(target.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)


def is_plain_media_url(target: str) -> bool:
    """A URL whose path names a media file or playlist: the native `url` source's business."""
    return urlsplit(target.strip()).path.lower().endswith(MEDIA_SUFFIXES)


@functools.cache
def _site_extractors() -> tuple[Any, ...]:
    """yt-dlp's extractor classes without the generic one (loaded on first use, about a second)."""
    from yt_dlp.extractor import gen_extractor_classes  # type: ignore[import-untyped]

    return tuple(ie for ie in gen_extractor_classes() if ie.ie_key() != "Generic")


@functools.lru_cache(maxsize=1024)
def site_extractor_for(url: str) -> str | None:
    """The key of the first yt-dlp site extractor that accepts `url`, if any."""
    for ie in _site_extractors():
        if ie.suitable(url):
            return str(ie.ie_key())
    return None


class _YtDlpLog:
    """Where yt-dlp's own messages go: our log, at debug level (the outcome is reported by the source)."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    info = debug

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp warning: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp error: %s", msg)


class YtDlpSource:
    """Resolve with `yt_dlp.YoutubeDL(...).extract_info(url, download=False)`; no yt-dlp CLI involved."""

    name: ClassVar[str] = "ytdlp"

    def __init__(self, *, allow_private: bool = False, timeout: float = 10.0) -> None:
        self._allow_private = allow_private
        self._timeout = timeout

    def matches(self, target: str) -> bool:
        """Automatic routing: http(s) URLs of sites yt-dlp has an extractor for, never plain media URLs."""
        target = target.strip()
        if not is_http_url(target) or is_plain_media_url(target):
            return False
        return site_extractor_for(target) is not None

    def accepts(self, target: str) -> bool:
        """When the user names this source: any http(s) URL (the generic extractor reads the rest)."""
        return is_http_url(target)

    async def resolve(self, request: ResolveRequest) -> LiveStatus:
        try:
            url = check_url_syntax(request.target)
        except LivevaultError as exc:
            return LiveStatus(LiveState.ERROR, error_code=exc.code, error_message=exc.message)
        return await asyncio.to_thread(self._resolve_blocking, url, request)

    def _resolve_blocking(self, url: str, request: ResolveRequest) -> LiveStatus:
        try:
            validate_source_url(url, allow_private=self._allow_private)
            info = self._extract(url, request)
            return self._status_of(info, request)
        except LiveOffline as exc:
            return LiveStatus(LiveState.OFFLINE, error_code=exc.code, error_message=exc.message)
        except LivevaultError as exc:
            return LiveStatus(LiveState.ERROR, error_code=exc.code, error_message=exc.message)

    def _extract(self, url: str, request: ResolveRequest) -> dict[str, Any]:
        from yt_dlp import YoutubeDL  # type: ignore[import-untyped]
        from yt_dlp.utils import YoutubeDLError  # type: ignore[import-untyped]

        options: dict[str, Any] = {
            "quiet": True, "no_warnings": True, "noprogress": True, "skip_download": True,
            "noplaylist": True, "logger": _YtDlpLog(), "socket_timeout": self._timeout,
            "format": "all",
        }
        if request.proxy:
            options["proxy"] = request.proxy
        if request.headers:
            options["http_headers"] = dict(request.headers)
        try:
            with YoutubeDL(options) as ydl:
                if not self._allow_private:
                    guard_urlopen(ydl)
                info = ydl.extract_info(url, download=False)
                return dict(ydl.sanitize_info(info) or {})
        except YoutubeDLError as exc:
            raise map_ytdlp_error(exc) from exc

    def _status_of(self, info: dict[str, Any], request: ResolveRequest) -> LiveStatus:
        info = _first_entry(info)
        live_status = info.get("live_status")
        if live_status in _NOT_LIVE:
            raise LiveOffline(f"the stream {_NOT_LIVE[live_status]}", details={"live_status": live_status})
        fmt, kind, engine = pick_format(info.get("formats") or [info], request.quality)
        media_url = validate_source_url(str(fmt["url"]), allow_private=self._allow_private)
        stream = StreamInfo(
            url=media_url, format=kind, headers=_headers_of(fmt, info), quality=request.quality,
            title=_text(info.get("title")), author=_text(info.get("uploader") or info.get("channel")),
            proxy=request.proxy, engine=engine,
            extra={"extractor": info.get("extractor_key") or info.get("extractor"), "id": info.get("id"),
                   "format_id": fmt.get("format_id"), "webpage_url": info.get("webpage_url")},
        )
        return LiveStatus(LiveState.LIVE, stream=stream)


def _first_entry(info: dict[str, Any]) -> dict[str, Any]:
    if info.get("_type") in {"playlist", "multi_video"}:
        for entry in info.get("entries") or []:
            if isinstance(entry, dict) and (entry.get("formats") or entry.get("url")):
                return entry
        raise LiveOffline("the page lists no stream that is live now")
    return info


def _text(value: Any) -> str | None:
    return str(value)[:500] if value else None


def _kind_of(fmt: Mapping[str, Any]) -> StreamFormat | None:
    """The native capture format of a yt-dlp format, if livevault records it without ffmpeg."""
    protocol = str(fmt.get("protocol") or "")
    ext = str(fmt.get("ext") or "").lower()
    if protocol in _HLS_PROTOCOLS:
        return StreamFormat.HLS
    if protocol in _HTTP_PROTOCOLS:
        if ext == "flv" or str(fmt.get("container") or "") == "flv":
            return StreamFormat.FLV
        if ext in {"ts", "mts"} or str(fmt.get("container") or "") == "mpegts":
            return StreamFormat.TS
    return None


def _muxed(fmt: Mapping[str, Any]) -> bool:
    return fmt.get("vcodec") != "none" and fmt.get("acodec") != "none"


def pick_format(formats: list[Any], quality: str) -> tuple[dict[str, Any], StreamFormat, str | None]:
    """(format, capture format, named engine) for `quality`: best, worst, `720p` (highest at most 720 lines,
    else the lowest) or a max bandwidth in bit/s. Formats come worst first, as yt-dlp sorts them."""
    usable = [f for f in formats if isinstance(f, dict) and f.get("url")]
    native = [f for f in usable if _kind_of(f) is not None]
    pool = [f for f in native if _muxed(f)] or native
    engine: str | None = None
    if not pool:
        pool = [f for f in usable if f.get("protocol") in _HTTP_PROTOCOLS and _muxed(f)
                and str(f.get("ext") or "").lower() in _FFMPEG_EXTS]
        engine = "ffmpeg"
    if not pool:
        offered = sorted({str(f.get("protocol")) for f in usable})
        raise UnsupportedFormat("yt-dlp found no format livevault can record", details={"protocols": offered})
    chosen = choose(pool, quality)
    return chosen, _kind_of(chosen) or StreamFormat.TS, engine


def choose(pool: list[dict[str, Any]], quality: str) -> dict[str, Any]:
    wanted = (quality or "best").strip().lower()
    if wanted == "best":
        return pool[-1]
    if wanted == "worst":
        return pool[0]
    height = _QUALITY_HEIGHT.match(wanted)
    if height:
        sized = [f for f in pool if isinstance(f.get("height"), int)]
        if not sized:
            return pool[-1]
        fitting = [f for f in sized if f["height"] <= int(height.group(1))]
        return fitting[-1] if fitting else min(sized, key=lambda f: f["height"])
    if wanted.isdigit():
        fitting = [f for f in pool if float(f.get("tbr") or 0) * 1000 <= int(wanted)]
        return fitting[-1] if fitting else pool[0]
    named = [f for f in pool if str(f.get("format_id", "")).lower() == wanted]
    if named:
        return named[-1]
    raise NoMatchingQuality(
        f"no format matches quality {quality!r}; use best, worst, a height like 720p, a bandwidth in bit/s "
        "or a yt-dlp format id",
        details={"formats": [str(f.get("format_id")) for f in pool][:50]},
    )


def _headers_of(fmt: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in (fmt.get("http_headers") or info.get("http_headers") or {}).items()}
    cookie = cookie_header(str(fmt.get("cookies") or info.get("cookies") or ""))
    if cookie and not any(k.lower() == "cookie" for k in headers):
        headers["Cookie"] = cookie
    return headers


def cookie_header(cookies: str) -> str:
    """yt-dlp's `cookies` field (Set-Cookie style, attributes included) as a Cookie request header."""
    pairs = []
    for item in cookies.split(";"):
        name, sep, value = item.strip().partition("=")
        if sep and name and name.lower() not in _COOKIE_ATTRIBUTES:
            pairs.append(f"{name}={value.strip().strip(chr(34))}")
    return "; ".join(pairs)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what caused it: yt-dlp's `exc_info` and `cause`, then Python's chain."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        inner = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        cause = getattr(current, "cause", None)
        stack.extend([current.__context__, current.__cause__, cause if isinstance(cause, BaseException) else None,
                      inner if isinstance(inner, BaseException) else None])


def map_ytdlp_error(exc: BaseException) -> LivevaultError:
    """Translate what yt-dlp raised into livevault's error codes (offline is LIVE_OFFLINE, not a failure)."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError  # type: ignore[import-untyped]
    from yt_dlp.utils import GeoRestrictedError, UnsupportedError, UserNotLive

    message = _clean(str(exc))
    for cause in _causes(exc):
        if isinstance(cause, UserNotLive):
            return LiveOffline(message)
        if isinstance(cause, UnsupportedError):
            return UnsupportedSource("yt-dlp cannot read this URL", details={"reason": message})
        if isinstance(cause, GeoRestrictedError):
            return SourceBlocked(message)
        if isinstance(cause, HTTPError):
            return _http_error(int(cause.status), message)
        if isinstance(cause, TimeoutError) or "timed out" in str(cause).lower():
            return NetworkTimeout(f"the source did not answer in time: {message}")
        if isinstance(cause, TransportError | ConnectionError):
            return SourceUnreachable(f"cannot reach the source: {message}")
    lowered = message.lower()
    if any(word in lowered for word in _OFFLINE_WORDS):
        return LiveOffline(message)
    if any(word in lowered for word in _LOGIN_WORDS):
        return LoginRequired(message)
    return SourceError(message)


def _http_error(status: int, message: str) -> LivevaultError:
    details = {"status": status}
    if status in {404, 410}:
        return LiveOffline(f"nothing is live there (HTTP {status})", details=details)
    if status in {401, 403}:
        return SourceBlocked(f"the source refused access (HTTP {status})", details=details)
    if status == 429:
        return SourceRateLimited("the source is rate limiting us (HTTP 429)", details=details)
    return SourceUnreachable(f"the source answered HTTP {status}: {message}", details=details)


def _clean(message: str) -> str:
    return message.removeprefix("ERROR: ").strip()[:500]


def guard_urlopen(ydl: Any) -> None:
    """Check every request yt-dlp's extractors open (they all go through `YoutubeDL.urlopen`) with the URL
    guard. Redirects yt-dlp follows inside one request are not seen here (docs/security.md)."""
    original = ydl.urlopen

    def urlopen(req: Any, *args: Any, **kwargs: Any) -> Any:
        url = req if isinstance(req, str) else getattr(req, "url", None) or req.get_full_url()
        validate_source_url(str(url), allow_private=False)
        return original(req, *args, **kwargs)

    ydl.urlopen = urlopen


def create(settings: Settings, http: aiohttp.ClientSession) -> YtDlpSource:
    del http  # yt-dlp brings its own HTTP stack
    return YtDlpSource(allow_private=settings.allow_private_sources, timeout=settings.http_timeout)
