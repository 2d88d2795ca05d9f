"""Any HLS, FLV or MPEG-TS URL: the format is read from the path, or sniffed from the first bytes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

import aiohttp

from livevault.domain.stream import LiveState, LiveStatus, StreamFormat, StreamInfo
from livevault.errors import (
    InvalidUrl,
    LiveOffline,
    LoginRequired,
    NetworkTimeout,
    SourceBlocked,
    SourceUnreachable,
    UnsupportedFormat,
)
from livevault.net.guard import describe_failure
from livevault.sources.urls import check_url_syntax

_LOGIN_WORDS = ("login", "signin", "sign-in", "sign_in", "auth")


def _is_login_page(path: str) -> bool:
    """Whether the path a request was redirected to is a login page (the source's login wall)."""
    last = path.rstrip("/").rsplit("/", 1)[-1].lower()
    return any(word in last for word in _LOGIN_WORDS)

if TYPE_CHECKING:
    from livevault.config import Settings
    from livevault.sources.base import ResolveRequest

_EXTENSIONS = {
    ".m3u8": StreamFormat.HLS,
    ".m3u": StreamFormat.HLS,
    ".flv": StreamFormat.FLV,
    ".ts": StreamFormat.TS,
    ".mts": StreamFormat.TS,
}
_SNIFF_BYTES = 512


class _Gone(Exception):
    """The URL answered 404/410: nothing is live there now."""


def format_from_path(url: str) -> StreamFormat | None:
    path = urlsplit(url).path.lower()
    for ext, fmt in _EXTENSIONS.items():
        if path.endswith(ext):
            return fmt
    return None


def sniff_format(head: bytes, content_type: str = "") -> StreamFormat | None:
    content_type = content_type.lower()
    stripped = head.lstrip(b"\xef\xbb\xbf \r\n\t")
    if stripped.startswith(b"#EXTM3U") or "mpegurl" in content_type:
        return StreamFormat.HLS
    if head.startswith(b"FLV") or "flv" in content_type:
        return StreamFormat.FLV
    if head[:1] == b"\x47" or "mp2t" in content_type:
        return StreamFormat.TS
    return None


class DirectSource:
    """A plain media URL; `resolve` says live when it answers, with the format it serves."""

    name: ClassVar[str] = "url"

    def __init__(self, session: aiohttp.ClientSession, *, timeout: float = 10.0) -> None:
        self._session = session
        self._timeout = timeout

    def matches(self, target: str) -> bool:
        scheme = urlsplit(target).scheme.lower()
        return scheme in {"http", "https"}

    async def resolve(self, request: ResolveRequest) -> LiveStatus:
        """Probe the URL: 404/410 is offline; otherwise the format comes from the first bytes, else the path."""
        url = check_url_syntax(request.target)
        try:
            fmt = await self._sniff(url, request)
        except _Gone as exc:
            # a URL has no status of its own: 404 may be the end, or a CDN blip (a recording keeps trying)
            return LiveStatus(LiveState.OFFLINE, error_code=LiveOffline.code, error_message=str(exc), inferred=True)
        except (SourceUnreachable, NetworkTimeout, SourceBlocked, LoginRequired, InvalidUrl) as exc:
            return LiveStatus(LiveState.ERROR, error_code=exc.code, error_message=exc.message)
        fmt = fmt or format_from_path(url)
        if fmt is None:
            return LiveStatus(
                LiveState.ERROR,
                error_code=UnsupportedFormat.code,
                error_message="the URL serves neither an HLS playlist, FLV nor MPEG-TS",
            )
        stream = StreamInfo(
            url=url, format=fmt, headers=dict(request.headers), quality=request.quality, proxy=request.proxy
        )
        return LiveStatus(LiveState.LIVE, stream=stream)

    async def _sniff(self, url: str, request: ResolveRequest) -> StreamFormat | None:
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with self._session.get(
                url, headers=dict(request.headers), proxy=request.proxy, timeout=timeout
            ) as resp:
                if resp.status in {404, 410}:
                    raise _Gone(f"the source answered HTTP {resp.status}: not live now")
                if resp.status == 401 or (resp.history and _is_login_page(resp.url.path)):
                    raise LoginRequired(
                        f"the source asks for a login (HTTP {resp.status} at {resp.url.path[:100]}); pass the "
                        f"cookies of a logged-in session (options.cookies)", details={"status": resp.status})
                if resp.status == 403:
                    raise SourceBlocked(f"the source answered HTTP {resp.status}", details={"status": resp.status})
                if resp.status >= 400:
                    raise SourceUnreachable(
                        f"the source answered HTTP {resp.status}", details={"status": resp.status}
                    )
                head = await resp.content.read(_SNIFF_BYTES)
                return sniff_format(head, resp.headers.get("Content-Type", ""))
        except TimeoutError as exc:
            raise NetworkTimeout("the source did not answer in time") from exc
        except (aiohttp.ClientError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            # the exception's kind only: its text may quote what the peer answered
            raise SourceUnreachable(f"cannot reach the source: {describe_failure(exc)}") from exc


def create(settings: Settings, http: aiohttp.ClientSession) -> DirectSource:
    return DirectSource(http, timeout=settings.http_timeout)
