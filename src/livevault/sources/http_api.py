"""The `scrapling-api` download strategy: an HTTP resolver turns a video page into a direct media URL (seed 003).

`POST {base}/tiktok/download {"url", "force_headful"}` answers `download_url`, `video_info`, `file_size` and
`execution_time`, or an `error_code`. The first call is headless; on `NAVIGATION_FAILED`, `NO_DOWNLOAD_LINK`,
a 5xx or a network error (timeouts included) it is repeated exactly once with `force_headful=true`.
`INVALID_URL` and other 4xx answers fail at once. There is no switch to another strategy.

`ResolvedVideo` is what every download strategy hands to the download service, and `media_chunks` is the one
path that fetches the bytes behind it, whichever strategy resolved it. This module never writes files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urljoin, urlsplit

import aiohttp
import yarl

from livevault.errors import (
    DownloadFailed,
    DownloadTooLarge,
    InvalidUrl,
    LivevaultError,
    NavigationFailed,
    NetworkTimeout,
    NoDownloadLink,
    SourceRateLimited,
    SourceUnreachable,
)
from livevault.net.guard import describe_failure
from livevault.sources.urls import validate_source_url

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping

log = logging.getLogger(__name__)

STRATEGY = "scrapling-api"
ENDPOINT = "/tiktok/download"
READ_CHUNK = 256 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ERRORS_BY_CODE: dict[str, type[LivevaultError]] = {cls.code: cls for cls in (InvalidUrl, NavigationFailed,
                                                                               NoDownloadLink)}


@dataclass(frozen=True, slots=True)
class ResolvedVideo:
    """A direct media URL (with the headers it needs) and what the strategy learned about the video."""

    media_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    video_id: str | None = None
    title: str | None = None
    author: str | None = None
    duration: float | None = None
    file_size: int | None = None
    ext: str = "mp4"
    execution_time: float | None = None
    attempts: int = 1
    video_info: Mapping[str, Any] = field(default_factory=dict)


def retry_headful(exc: LivevaultError) -> bool:
    """Whether a failed headless call deserves its one headful retry."""
    if isinstance(exc, NavigationFailed | NoDownloadLink | NetworkTimeout | SourceUnreachable):
        return True
    status = exc.details.get("status")
    return isinstance(exc, DownloadFailed) and isinstance(status, int) and status >= 500


class ResolverClient:
    """Client of the download resolver at `base_url`; one shared aiohttp session, `timeout` seconds per call."""

    name: ClassVar[str] = STRATEGY

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, timeout: float = 180.0) -> None:
        if not base_url.strip():
            raise ValueError("the download resolver needs a base URL (LIVEVAULT_DOWNLOAD_RESOLVER_URL)")
        self._session = session
        self._endpoint = base_url.strip().rstrip("/") + ENDPOINT
        self._timeout = timeout

    async def resolve(self, url: str) -> ResolvedVideo:
        """Headless first, then once headful when the failure is one a real browser may get past.

        Raises:
            InvalidUrl: the resolver refused the URL (never retried).
            NavigationFailed | NoDownloadLink | NetworkTimeout | SourceUnreachable | DownloadFailed: both tries
                failed; `details["attempts"]` says how many calls were made.
        """
        try:
            return await self.request(url, force_headful=False)
        except LivevaultError as exc:
            if not retry_headful(exc):
                exc.details.setdefault("attempts", 1)
                raise
            log.info("download resolver failed headless; retrying headful", extra={
                "strategy": STRATEGY, "error_code": exc.code, "execution_time": exc.details.get("execution_time"),
            })
        try:
            video = await self.request(url, force_headful=True)
        except LivevaultError as exc:
            exc.details["attempts"] = 2
            raise
        return replace(video, attempts=2)

    async def request(self, url: str, *, force_headful: bool) -> ResolvedVideo:
        """One call of the resolver, its failures as livevault errors (HTTP status in `details["status"]`)."""
        started = time.monotonic()
        try:
            async with self._session.post(
                self._endpoint, json={"url": url, "force_headful": force_headful},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as resp:
                status, raw = resp.status, await resp.read()
        except TimeoutError as exc:
            raise NetworkTimeout(f"the download resolver did not answer within {self._timeout:g} s",
                                 details={"force_headful": force_headful}) from exc
        except aiohttp.ClientError as exc:
            raise SourceUnreachable(f"cannot reach the download resolver: {describe_failure(exc)}",
                                    details={"force_headful": force_headful}) from exc
        body = _json_object(raw)
        elapsed = time.monotonic() - started
        if status >= 400 or body.get("error_code") or body.get("success") is False:
            raise resolver_error(status, body, force_headful=force_headful, elapsed=elapsed)
        return parse_success(body, elapsed=elapsed)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_fields(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(error_code, message) wherever the resolver put them: top level, `detail` or `error`."""
    for holder in (body, body.get("detail"), body.get("error")):
        if isinstance(holder, dict) and holder.get("error_code"):
            message = holder.get("message") or holder.get("error") or holder.get("detail")
            return str(holder["error_code"]), str(message) if message else None
    detail = body.get("detail") or body.get("message")
    return None, str(detail) if detail else None


def resolver_error(status: int, body: Mapping[str, Any], *, force_headful: bool, elapsed: float) -> LivevaultError:
    """A failed answer as the livevault error its `error_code` (else its HTTP status) stands for."""
    code, message = _error_fields(body)
    details: dict[str, Any] = {
        "status": status,
        "resolver_error_code": code,
        "force_headful": force_headful,
        "execution_time": _number(body.get("execution_time")) or round(elapsed, 3),
    }
    text = f"download resolver: {message or code or f'HTTP {status}'}"
    error_class = _ERRORS_BY_CODE.get(code or "")
    if error_class is not None:
        return error_class(text, details=details)
    if status == 429:
        return SourceRateLimited(text, details=details)
    return DownloadFailed(text, details=details)


def parse_success(body: Mapping[str, Any], *, elapsed: float) -> ResolvedVideo:
    """`download_url`, `video_info`, `file_size`, `execution_time` of a successful answer."""
    media_url = body.get("download_url")
    execution_time = _number(body.get("execution_time")) or round(elapsed, 3)
    if not isinstance(media_url, str) or not media_url.strip():
        raise NoDownloadLink("download resolver answered without a download_url",
                             details={"status": 200, "execution_time": execution_time})
    raw_info = body.get("video_info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    duration = _number(info.get("duration"))
    if duration is None and _number(info.get("duration_ms")) is not None:
        duration = float(info["duration_ms"]) / 1000
    size = _number(body.get("file_size"))
    return ResolvedVideo(
        media_url=media_url.strip(),
        video_id=_text(info.get("id") or info.get("video_id") or info.get("aweme_id")),
        title=_text(info.get("title") or info.get("desc") or info.get("description")),
        author=_author(info),
        duration=duration,
        file_size=int(size) if size is not None else None,
        execution_time=execution_time,
        video_info=info,
    )


def _author(info: Mapping[str, Any]) -> str | None:
    author = info.get("author")
    if isinstance(author, dict):
        author = author.get("unique_id") or author.get("uniqueId") or author.get("nickname") or author.get("name")
    return _text(author or info.get("author_name") or info.get("username") or info.get("uploader"))


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None


# -- fetching the media --------------------------------------------------------------------------


def _safe(url: str) -> str:
    """The URL without its query: signed tokens stay out of messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _as_url(url: str) -> yarl.URL:
    """Send path and query exactly as given (signed media URLs break when re-quoted)."""
    if url.isascii() and url.isprintable() and " " not in url:
        with contextlib.suppress(ValueError):
            return yarl.URL(url, encoded=True)
    return yarl.URL(url)


def _too_large(size: int, max_bytes: int, url: str) -> DownloadTooLarge:
    return DownloadTooLarge(f"the video is larger than the limit of {max_bytes} bytes",
                            details={"size": size, "max_bytes": max_bytes, "url": _safe(url)})


async def media_chunks(
    session: aiohttp.ClientSession,
    video: ResolvedVideo,
    *,
    max_bytes: int,
    allow_private: bool,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> AsyncGenerator[bytes, None]:
    """The media body behind `video`, chunk by chunk, never more than `max_bytes`.

    Redirects are followed by hand so every hop passes the URL gate (`validate_source_url`).

    Raises:
        InvalidUrl: the media URL, or a redirect, is not allowed.
        DownloadTooLarge: announced or actual size above `max_bytes`.
        DownloadFailed | NetworkTimeout: the media server failed or stalled.
    """
    if video.file_size is not None and video.file_size > max_bytes:
        raise _too_large(video.file_size, max_bytes, video.media_url)
    url = video.media_url
    headers = {**video.headers, "Accept-Encoding": "identity"}
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
    for _hop in range(MAX_REDIRECTS + 1):
        url = await asyncio.to_thread(validate_source_url, url, allow_private=allow_private)
        try:
            async with session.get(_as_url(url), headers=headers, allow_redirects=False, timeout=timeout) as resp:
                location = resp.headers.get("Location")
                if resp.status in _REDIRECTS and location:
                    url = urljoin(url, location)
                    continue
                if resp.status >= 400:
                    raise DownloadFailed(f"the media server answered HTTP {resp.status} for {_safe(url)}",
                                         details={"status": resp.status, "url": _safe(url)})
                if resp.content_length is not None and resp.content_length > max_bytes:
                    raise _too_large(resp.content_length, max_bytes, url)
                received = 0
                async for chunk in resp.content.iter_chunked(READ_CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise _too_large(received, max_bytes, url)
                    yield chunk
                return
        except TimeoutError as exc:
            raise NetworkTimeout(f"the media server stalled: {_safe(url)}", details={"url": _safe(url)}) from exc
        except aiohttp.ClientError as exc:
            raise DownloadFailed(f"cannot fetch {_safe(url)}: {describe_failure(exc)}",
                                 details={"url": _safe(url)}) from exc
    raise DownloadFailed(f"more than {MAX_REDIRECTS} redirects", details={"url": _safe(video.media_url)})
