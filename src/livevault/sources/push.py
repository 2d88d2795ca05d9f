"""Push sources: a streaming server announces a stream by webhook and serves it as HLS from its origin.

The target is `push:<stream_key>`. The origin playlist URL is LIVEVAULT_PUSH_HLS_URL_TEMPLATE with
`{stream_key}` replaced by the key, which is checked against a safe charset and URL-quoted first.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

import aiohttp

from livevault.domain.stream import LiveState, LiveStatus, StreamFormat, StreamInfo
from livevault.errors import (
    InvalidStreamKey,
    LiveOffline,
    LivevaultError,
    NetworkTimeout,
    PushNotConfigured,
    SourceBlocked,
    SourceUnreachable,
    UnsupportedFormat,
)
from livevault.net.guard import describe_failure
from livevault.sources.direct import sniff_format
from livevault.sources.urls import check_url_syntax

if TYPE_CHECKING:
    from livevault.config import Settings
    from livevault.sources.base import ResolveRequest

TARGET_PREFIX = "push:"
PLACEHOLDER = "{stream_key}"
MAX_STREAM_KEY = 128
STREAM_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$"
_STREAM_KEY = re.compile(STREAM_KEY_PATTERN)
_SNIFF_BYTES = 512
_POLL_INTERVAL = 0.5


def check_stream_key(stream_key: str) -> str:
    """A key of 1-128 characters from `A-Z a-z 0-9 . _ ~ -`, starting with a letter or digit."""
    if not _STREAM_KEY.fullmatch(stream_key):
        raise InvalidStreamKey(
            "stream_key must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ - starting with a letter or digit",
            details={"stream_key": stream_key[:MAX_STREAM_KEY]},
        )
    return stream_key


def push_target(stream_key: str) -> str:
    return TARGET_PREFIX + check_stream_key(stream_key)


def stream_key_of(target: str) -> str | None:
    """The stream key of a `push:<key>` target, or None when `target` is not one."""
    if not target.startswith(TARGET_PREFIX):
        return None
    key = target[len(TARGET_PREFIX):]
    return key if _STREAM_KEY.fullmatch(key) else None


def origin_url(template: str, stream_key: str) -> str:
    """The origin playlist URL of `stream_key`; checks syntax only (the caller checks the host)."""
    if not template:
        raise PushNotConfigured("push sources need LIVEVAULT_PUSH_HLS_URL_TEMPLATE")
    if PLACEHOLDER not in template:
        raise PushNotConfigured("LIVEVAULT_PUSH_HLS_URL_TEMPLATE must contain {stream_key}")
    return check_url_syntax(template.replace(PLACEHOLDER, quote(check_stream_key(stream_key), safe="")))


async def probe_playlist(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], timeout: float, proxy: str | None = None
) -> StreamFormat | None:
    """Fetch the first bytes of `url`: the format they show, or the LivevaultError why they did not come."""
    try:
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with session.get(url, headers=headers, proxy=proxy, timeout=client_timeout) as resp:
            if resp.status in {401, 403}:
                raise SourceBlocked(f"the origin answered HTTP {resp.status}", details={"status": resp.status})
            if resp.status >= 400:
                raise SourceUnreachable(f"the origin answered HTTP {resp.status}", details={"status": resp.status})
            head = await resp.content.read(_SNIFF_BYTES)
            return sniff_format(head, resp.headers.get("Content-Type", ""))
    except TimeoutError as exc:
        raise NetworkTimeout("the origin did not answer in time") from exc
    except aiohttp.ClientError as exc:
        raise SourceUnreachable(f"cannot reach the origin: {describe_failure(exc)}") from exc


class PushSource:
    """A stream published to our own streaming server; live once its origin playlist answers.

    A `stream.started` webhook usually arrives before the origin has written its first playlist, so
    `resolve` keeps asking for up to `publish_wait` seconds before it calls the stream offline.
    """

    name: ClassVar[str] = "push"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        template: str,
        timeout: float = 10.0,
        publish_wait: float = 30.0,
        poll_interval: float = _POLL_INTERVAL,
    ) -> None:
        self._session = session
        self._template = template
        self._timeout = timeout
        self._publish_wait = publish_wait
        self._poll_interval = poll_interval

    def matches(self, target: str) -> bool:
        return stream_key_of(target) is not None

    def url_for(self, stream_key: str) -> str:
        return origin_url(self._template, stream_key)

    async def resolve(self, request: ResolveRequest) -> LiveStatus:
        key = stream_key_of(request.target)
        if key is None:
            raise InvalidStreamKey("push targets look like push:<stream_key>", details={"target": request.target[:200]})
        try:
            url = self.url_for(key)
        except LivevaultError as exc:
            return LiveStatus(LiveState.ERROR, error_code=exc.code, error_message=exc.message)
        headers = dict(request.headers)
        deadline = time.monotonic() + self._publish_wait
        while True:
            try:
                fmt = await probe_playlist(self._session, url, headers, self._timeout, request.proxy)
                break
            except SourceBlocked as exc:
                return LiveStatus(LiveState.ERROR, error_code=exc.code, error_message=exc.message)
            except (SourceUnreachable, NetworkTimeout) as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return LiveStatus(
                        LiveState.OFFLINE, error_code=LiveOffline.code, inferred=True,
                        error_message=f"the origin playlist of {key!r} did not answer within "
                                      f"{self._publish_wait:g}s: {exc.message}",
                    )
                await asyncio.sleep(min(self._poll_interval, remaining))
        if fmt is not StreamFormat.HLS:
            return LiveStatus(
                LiveState.ERROR, error_code=UnsupportedFormat.code,
                error_message="the origin URL does not serve an HLS playlist",
            )
        stream = StreamInfo(
            url=url, format=StreamFormat.HLS, headers=headers, quality=request.quality, proxy=request.proxy,
            extra={"stream_key": key},
        )
        return LiveStatus(LiveState.LIVE, stream=stream)


def create(settings: Settings, http: aiohttp.ClientSession) -> PushSource:
    return PushSource(
        http,
        template=settings.push_hls_url_template,
        timeout=settings.http_timeout,
        publish_wait=settings.playlist_grace,
    )
