"""Sites streamlink has a plugin for, and its explicit protocol URLs (``hls://``, ``hlsvariant://``,
``httpstream://``), resolved with the streamlink library (`Streamlink().streams(url)`) in a worker thread.

Routing rule. The catalog asks every source in order whether it `matches` a target and the first one wins;
this source stands after yt-dlp and before the plain `url` source. `matches` claims a target that names a
streamlink protocol (``hls://URL``: the user asked for streamlink), or an http(s) URL that a streamlink *site*
plugin accepts and whose path does not end in a media extension; plain ``.m3u8 .flv .ts`` URLs stay with the
native `url` source. `accepts` is the wider rule for a user who names the source (``"source": "streamlink"``):
any http(s) URL as well, streamlink's generic HLS plugin included.

An HLS result is the chosen variant's media playlist URL (the native HLS engine records it); an HTTP result is
FLV or MPEG-TS, told by its path or its first bytes. Headers and cookies are those of the streamlink session
for that request. Every URL is checked with `validate_source_url`: the target before any request, the stream
URL before it is returned.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, ClassVar

from livevault.domain.stream import LiveState, LiveStatus, StreamFormat, StreamInfo
from livevault.errors import (
    LiveOffline,
    LivevaultError,
    NetworkTimeout,
    NoMatchingQuality,
    SourceBlocked,
    SourceError,
    SourceRateLimited,
    SourceUnreachable,
    UnsupportedFormat,
    UnsupportedSource,
)
from livevault.sources.direct import format_from_path, sniff_format
from livevault.sources.urls import validate_source_url
from livevault.sources.ytdlp import is_http_url, is_plain_media_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    import aiohttp
    from streamlink.session.session import Streamlink
    from streamlink.stream.http import HTTPStream
    from streamlink.stream.stream import Stream

    from livevault.config import Settings
    from livevault.sources.base import ResolveRequest

PROTOCOL_PREFIXES = ("hls://", "hlsvariant://", "httpstream://")
_GENERIC_PLUGINS = frozenset({"hls", "http", "dash"})
_HOP_HEADERS = frozenset({"accept-encoding", "connection", "content-length", "host"})
_HEIGHT = re.compile(r"^(\d{2,4})p(\d{0,3})(?:_alt\d*)?$")
_KBPS = re.compile(r"^(\d+)k$")
_SNIFF_BYTES = 512


def inner_url(target: str) -> str | None:
    """The http(s) URL inside a streamlink protocol target, or None when `target` is not one."""
    lowered = target.lower()
    for prefix in PROTOCOL_PREFIXES:
        if lowered.startswith(prefix):
            rest = target[len(prefix):].split()[0] if target[len(prefix):].strip() else ""
            url = rest if "://" in rest else f"https://{rest}"
            return url if is_http_url(url) else None
    return None


class StreamlinkSource:
    """Resolve with a fresh streamlink session per request (proxy and headers are per recording)."""

    name: ClassVar[str] = "streamlink"

    def __init__(self, *, allow_private: bool = False, timeout: float = 10.0) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._matcher: Streamlink | None = None

    def matches(self, target: str) -> bool:
        """Automatic routing: streamlink protocol URLs, and site-plugin URLs that are not plain media URLs."""
        target = target.strip()
        if inner_url(target) is not None:
            return True
        if not is_http_url(target) or is_plain_media_url(target):
            return False
        plugin = self._plugin_name(target)
        return plugin is not None and plugin not in _GENERIC_PLUGINS

    def accepts(self, target: str) -> bool:
        """When the user names this source: streamlink protocol URLs and any http(s) URL."""
        target = target.strip()
        return inner_url(target) is not None or is_http_url(target)

    def _plugin_name(self, url: str) -> str | None:
        if self._matcher is None:
            from streamlink.session.session import Streamlink

            self._matcher = Streamlink(options={"no-plugin-cache": True})
        found = self._matcher.plugins.match_url(url)
        return found[0] if found else None

    async def resolve(self, request: ResolveRequest) -> LiveStatus:
        return await asyncio.to_thread(self._resolve_blocking, request)

    def _resolve_blocking(self, request: ResolveRequest) -> LiveStatus:
        try:
            return LiveStatus(LiveState.LIVE, stream=self._stream_info(request))
        except LiveOffline as exc:
            return LiveStatus(LiveState.OFFLINE, error_code=exc.code, error_message=exc.message)
        except LivevaultError as exc:
            return LiveStatus(LiveState.ERROR, error_code=exc.code, error_message=exc.message)

    def _stream_info(self, request: ResolveRequest) -> StreamInfo:
        from streamlink.exceptions import NoPluginError, StreamlinkError

        target = request.target.strip()
        checked = inner_url(target) or target
        if not is_http_url(checked):
            raise UnsupportedSource("streamlink records http(s) URLs and hls:// / httpstream:// targets")
        validate_source_url(checked, allow_private=self._allow_private)
        session = self._session(request)
        try:
            name, plugin_class, resolved = session.resolve_url_no_redirect(target)
            plugin = plugin_class(session, resolved)
            streams = plugin.streams()
        except NoPluginError as exc:
            raise UnsupportedSource("streamlink has no plugin for this URL", details={"target": target[:200]}) from exc
        except StreamlinkError as exc:
            raise map_streamlink_error(exc) from exc
        if not streams:
            raise LiveOffline("streamlink found no playable stream: the channel is offline",
                              details={"plugin": name})
        key = pick_stream(list(streams), request.quality)
        url, fmt, headers = self._media_of(session, streams[key])
        return StreamInfo(
            url=validate_source_url(url, allow_private=self._allow_private), format=fmt, headers=headers,
            quality=request.quality, title=_text(plugin.get_title()), author=_text(plugin.get_author()),
            proxy=request.proxy,
            extra={"plugin": name, "stream": key},
        )

    def _session(self, request: ResolveRequest) -> Streamlink:
        from streamlink.session.session import Streamlink

        options: dict[str, Any] = {"no-plugin-cache": True, "http-timeout": self._timeout}
        if request.proxy:
            options["http-proxy"] = request.proxy
        session = Streamlink(options=options)
        if request.headers:
            session.http.headers.update(dict(request.headers))
        if not self._allow_private:
            guard_requests(session.http)
        return session

    def _media_of(self, session: Streamlink, stream: Stream) -> tuple[str, StreamFormat, dict[str, str]]:
        from streamlink.stream.hls.hls import HLSStream
        from streamlink.stream.http import HTTPStream

        if not isinstance(stream, HTTPStream):  # MuxedHLSStream (separate audio), DASHStream, ...
            raise UnsupportedFormat(f"streamlink offers this stream as {type(stream).__name__}, which livevault "
                                    "does not record; choose another quality")
        prepared = session.http.prepare_new_request(**stream.args)
        url = str(prepared.url)
        headers = {k: str(v) for k, v in prepared.headers.items() if k.lower() not in _HOP_HEADERS}
        if isinstance(stream, HLSStream):
            return url, StreamFormat.HLS, headers
        fmt = format_from_path(url)
        if fmt is None or fmt is StreamFormat.HLS:
            fmt = self._sniff(session, stream)
        return url, fmt, headers

    @staticmethod
    def _sniff(session: Streamlink, stream: HTTPStream) -> StreamFormat:
        from streamlink.exceptions import StreamlinkError

        args = dict(stream.args)
        args.pop("method", None)
        try:
            with session.http.get(args.pop("url"), stream=True, **args) as response:
                head = next(response.iter_content(_SNIFF_BYTES), b"")
                content_type = response.headers.get("Content-Type", "")
        except StreamlinkError as exc:
            raise map_streamlink_error(exc) from exc
        fmt = sniff_format(head, content_type)
        if fmt is None or fmt is StreamFormat.HLS:
            raise UnsupportedFormat("the HTTP stream is neither FLV nor MPEG-TS")
        return fmt


def _text(value: Any) -> str | None:
    return str(value)[:500] if value else None


def pick_stream(names: list[str], quality: str) -> str:
    """The stream name for `quality`: best, worst, `720p` (highest at most 720 lines, else the lowest),
    a max bandwidth in bit/s (names like ``1500k``), or a streamlink stream name."""
    wanted = (quality or "best").strip().lower()
    lowered = {n.lower(): n for n in names}
    if wanted in lowered:
        return lowered[wanted]
    heights = {n: int(m.group(1)) * 1000 + int(m.group(2) or 0) for n in names if (m := _HEIGHT.match(n.lower()))}
    height = _HEIGHT.match(wanted)
    if height and heights:
        limit = int(height.group(1)) * 1000 + 999
        fitting = [n for n, h in heights.items() if h <= limit]
        return max(fitting, key=heights.__getitem__) if fitting else min(heights, key=heights.__getitem__)
    rates = {n: int(m.group(1)) * 1000 for n in names if (m := _KBPS.match(n.lower()))}
    if wanted.isdigit() and rates:
        fitting = [n for n, r in rates.items() if r <= int(wanted)]
        return max(fitting, key=rates.__getitem__) if fitting else min(rates, key=rates.__getitem__)
    if names and (wanted in {"best", "worst"} or height or wanted.isdigit()):
        return lowered.get("worst" if wanted == "worst" else "best") or names[0]
    raise NoMatchingQuality(f"no stream matches quality {quality!r}", details={"streams": sorted(names)[:50]})


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = getattr(current, "err", None) or current.__cause__ or current.__context__


def map_streamlink_error(exc: BaseException) -> LivevaultError:
    """Translate a streamlink failure (often a wrapped `requests` error) into livevault's codes."""
    import requests

    message = str(exc)[:500]
    for cause in _causes(exc):
        if isinstance(cause, LivevaultError):  # the URL guard refused a request a plugin made
            return cause
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            status = cause.response.status_code
            details = {"status": status}
            if status in {404, 410}:
                return LiveOffline(f"nothing is live there (HTTP {status})", details=details)
            if status in {401, 403}:
                return SourceBlocked(f"the source refused access (HTTP {status})", details=details)
            if status == 429:
                return SourceRateLimited("the source is rate limiting us (HTTP 429)", details=details)
            return SourceUnreachable(f"the source answered HTTP {status}", details=details)
        if isinstance(cause, requests.Timeout | TimeoutError):
            return NetworkTimeout(f"the source did not answer in time: {message}")
        if isinstance(cause, requests.ConnectionError | ConnectionError):
            return SourceUnreachable(f"cannot reach the source: {message}")
    if "offline" in message.lower():
        return LiveOffline(message)
    return SourceError(message)


def guard_requests(http: Any) -> None:
    """Check every request a `requests` session sends, each redirect hop included (requests sends every hop
    through its adapter), with the URL guard: streamlink's plugins fetch pages and APIs on their own."""
    for adapter in {id(a): a for a in http.adapters.values()}.values():
        original = adapter.send

        def send(prepared: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            validate_source_url(str(prepared.url), allow_private=False)
            return _original(prepared, *args, **kwargs)

        adapter.send = send


def create(settings: Settings, http: aiohttp.ClientSession) -> StreamlinkSource:
    del http  # streamlink brings its own HTTP session
    return StreamlinkSource(allow_private=settings.allow_private_sources, timeout=settings.http_timeout)
