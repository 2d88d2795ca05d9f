"""The shared aiohttp session, per-capture request helpers, and HTTP trouble as livevault errors.

One `ClientSession` serves every capture of a process (connection pooling, no connection limit, since a
progressive capture holds its connection for hours). A capture talks through an `HttpClient`, which adds
the stream's headers and proxy, carries cookies the source sets (per capture, never shared between
recordings), and turns aiohttp/asyncio failures into `NetworkTimeout`, `SourceUnreachable`,
`SourceBlocked` (403), `LoginRequired` (401, or a redirect to a login page) or `StreamEnded` (404/410),
the HTTP status in `details["status"]` (`http_errors`). Bodies are `body.Body`. Both are re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import weakref
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp import hdrs

from livevault.capture import body as _body
from livevault.capture.body import SPILL_BYTES as SPILL_BYTES
from livevault.capture.body import Body as Body
from livevault.capture.body import read_spilling
from livevault.capture.http_errors import GONE_STATUSES as GONE_STATUSES
from livevault.capture.http_errors import http_status as http_status
from livevault.capture.http_errors import login_wall as login_wall
from livevault.capture.http_errors import looks_like_login as looks_like_login
from livevault.capture.http_errors import map_error as map_error
from livevault.capture.http_errors import safe_url as _safe_url
from livevault.capture.http_errors import status_error as status_error
from livevault.capture.lean import LeanClient, LeanResponse, NotHandled
from livevault.capture.s3url import is_s3
from livevault.errors import (
    InvalidInput,
    InvalidUrl,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping
    from pathlib import Path

    from aiohttp.client import _RequestContextManager

    from livevault.capture.base import CaptureOptions
    from livevault.net.guard import UrlGuard

READ_CHUNK = 256 * 1024
_PROXY_SCHEMES = {"http", "https"}
_IDENTITY = {"Accept-Encoding": "identity"}
_TIMEOUTS_KEPT = 8


_GUARDS: weakref.WeakKeyDictionary[aiohttp.ClientSession, UrlGuard] = weakref.WeakKeyDictionary()


_CLIENTS: weakref.WeakKeyDictionary[object, weakref.WeakKeyDictionary[UrlGuard, LeanClient]] = (
    weakref.WeakKeyDictionary())


def lean_client(owner: object, guard: UrlGuard, connect_timeout: float) -> LeanClient:
    """The LeanClient of `owner` (the process's aiohttp session) for `guard`: connections are pooled per guard,
    and `close_clients(owner)` closes them with the session."""
    clients = _CLIENTS.get(owner)
    if clients is None:
        clients = _CLIENTS[owner] = weakref.WeakKeyDictionary()
    client = clients.get(guard)
    if client is None:
        client = clients[guard] = LeanClient(guard, connect_timeout=connect_timeout)
    return client


def close_clients(owner: object) -> None:
    """Close every pooled connection of `owner`'s clients (at shutdown, with the session)."""
    for client in list((_CLIENTS.pop(owner, None) or {}).values()):
        with contextlib.suppress(Exception):
            client.close()


def create_session(options: CaptureOptions, *, guard: UrlGuard, limit: int = 0,
                   limit_per_host: int = 0) -> aiohttp.ClientSession:
    """The process-wide session; call inside a running event loop. `limit=0` means no connection cap.

    Every connection goes through `guard` (livevault.net): its resolver checks each address a name resolves
    to (and aiohttp connects only to those), its middleware checks every request and redirect hop.
    """
    connector = aiohttp.TCPConnector(
        limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=300, keepalive_timeout=30,
        resolver=guard.resolver(),
    )
    session = aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": options.user_agent},
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, connect=options.http_timeout, sock_read=options.http_timeout),
        requote_redirect_url=False,
        read_bufsize=READ_CHUNK,
        middlewares=(guard.middleware,),
        trust_env=False,
    )
    _GUARDS[session] = guard
    return session


async def close_session(session: aiohttp.ClientSession) -> None:
    """Close the session and the lean GET's pooled connections that belong to it."""
    close_clients(session)
    await session.close()


def guard_of(session: aiohttp.ClientSession) -> UrlGuard | None:
    """The guard `create_session` put on this session (None for a session built elsewhere)."""
    try:
        return _GUARDS.get(session)
    except TypeError:  # not a weak-referenceable session (a stand-in)
        return None


def as_url(url: str) -> yarl.URL:
    """A yarl URL that sends the path and query exactly as written (no re-quoting of signed tokens)."""
    if url.isascii() and url.isprintable() and " " not in url:
        with contextlib.suppress(ValueError):
            return yarl.URL(url, encoded=True)
    return yarl.URL(url)


@lru_cache(maxsize=1024)
def _document_url(url: str) -> yarl.URL:
    """`as_url` of a document asked for again and again (a live playlist is reloaded every few seconds)."""
    return as_url(url)


def check_proxy(proxy: str | None) -> str | None:
    if not proxy:
        return None
    if urlsplit(proxy).scheme.lower() not in _PROXY_SCHEMES:
        raise InvalidInput(f"unsupported proxy {_safe_url(proxy)}: only http:// and https:// proxies work")
    return proxy


class HttpClient:
    """Requests of one capture: its headers, proxy and cookies, errors mapped."""

    def __init__(self, session: aiohttp.ClientSession, *, headers: Mapping[str, str] | None = None,
                 proxy: str | None = None, timeout: float = 10.0, origin: str | None = None,
                 signer: Callable[[str], str] | None = None, lean: bool = True) -> None:
        self._session = session
        self._signer = signer
        self._guard = guard_of(session)
        self._origin = origin
        self._middlewares: tuple[Any, ...] | None = None
        self._lean: LeanClient | None = None
        if self._guard is not None and proxy is None and lean:
            self._lean = lean_client(session, self._guard, timeout)
        self._user_agent = str(getattr(session, "headers", {}).get("User-Agent", ""))
        self._headers = dict(headers or {})
        self._proxy = check_proxy(proxy)
        self._timeout = timeout
        self._cookies: dict[str, dict[str, str]] = {}
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    def _timeout_for(self, total: float | None) -> aiohttp.ClientTimeout:
        """The request timeout with this `total`; built once (a capture asks for the same few again and again)."""
        timeout = self._timeouts.get(total)
        if timeout is None:
            if len(self._timeouts) >= _TIMEOUTS_KEPT:
                self._timeouts.clear()
            timeout = aiohttp.ClientTimeout(total=total, connect=self._timeout, sock_read=self._timeout)
            self._timeouts[total] = timeout
        return timeout

    def _request_headers(self, url: str, extra: Mapping[str, str]) -> dict[str, str]:
        headers = {**self._headers, **extra}
        if not self._cookies:
            return headers
        jar = self._cookies.get(urlsplit(url).hostname or "")
        if jar:
            own = headers.get("Cookie")
            carried = "; ".join(f"{k}={v}" for k, v in jar.items())
            headers["Cookie"] = f"{own}; {carried}" if own else carried
        return headers

    def _accept(self, resp: aiohttp.ClientResponse, url: str) -> None:
        """An error status raises its livevault error, so does a redirect to a login page; otherwise
        cookies the response sets are kept."""
        if resp.status >= 400:
            raise status_error(resp.status, url, resp.reason)
        if resp.history and looks_like_login(resp.url.path):
            raise login_wall(url, resp.url.path)
        self._keep_cookies(resp)

    def _keep_cookies(self, resp: aiohttp.ClientResponse) -> None:
        if hdrs.SET_COOKIE in resp.headers and resp.cookies:
            jar = self._cookies.setdefault(resp.url.host or "", {})
            jar.update({name: morsel.value for name, morsel in resp.cookies.items()})

    async def _scope(self) -> None:
        """A playlist from a public address may not send us where its own URL could not go (`scope_for`)."""
        if self._origin is None or self._guard is None:
            return
        origin, self._origin = self._origin, None
        scoped = await asyncio.to_thread(self._guard.scope_for, origin)
        if scoped is not self._guard:
            self._middlewares = (scoped.middleware,)
            if self._lean is not None:  # connections are pooled per guard: the strict one gets its own
                self._lean = lean_client(self._session, scoped, self._timeout)

    def _get(self, url: str, headers: Mapping[str, str], timeout: aiohttp.ClientTimeout,
             target: yarl.URL | None = None) -> _RequestContextManager:
        target = target or as_url(self._signed(url))
        if self._middlewares is not None:
            return self._session.get(target, headers=self._request_headers(url, headers), proxy=self._proxy,
                                     timeout=timeout, middlewares=self._middlewares)
        return self._session.get(target, headers=self._request_headers(url, headers), proxy=self._proxy,
                                 timeout=timeout)

    def _signed(self, url: str) -> str:
        """An `s3://bucket/key` address as a fresh presigned URL (see `capture.s3url`); other URLs as they are."""
        if not is_s3(url):
            return url
        if self._signer is None:
            raise InvalidUrl("s3:// addresses need an object store (none is configured for this capture)",
                             details={"url": _safe_url(url)})
        return self._signer(url)

    @contextlib.asynccontextmanager
    async def open(self, url: str, *, headers: Mapping[str, str] | None = None,
                   timeout: aiohttp.ClientTimeout | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET `url`; yields the response once its status is below 400. Failures raise livevault errors."""
        await self._scope()
        try:
            async with self._get(url, headers or {}, timeout or self._timeout_for(None)) as resp:
                self._accept(resp, url)
                yield resp
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_error(exc, url) from exc

    async def get_text(self, url: str, *, total: float | None = None) -> tuple[str, str]:
        """A text document (a playlist) and the URL it came from after redirects."""
        signed = is_s3(url)
        target = as_url(self._signed(url)) if signed else _document_url(url)
        await self._scope()
        lean = await self._lean_get(url, target, _IDENTITY, total or self._timeout * 2)
        if lean is not None:
            return b"".join(lean.parts).decode("utf-8", errors="replace"), url
        try:
            async with self._get(url, {}, self._timeout_for(total or self._timeout * 2), target) as resp:
                self._accept(resp, url)
                raw = await resp.read()
                final = str(resp.url)
                moved = bool(resp.history)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_error(exc, url) from exc
        if signed:  # relative URIs resolve against the s3:// address, never the presigned one
            return raw.decode("utf-8", errors="replace"), url if not moved else final
        return raw.decode("utf-8", errors="replace"), (url if final == str(target) else final)

    async def get_body(self, url: str, *, byte_range: tuple[int, int] | None = None,
                       total: float | None = None, spill_dir: Path | None = None) -> Body:
        """A media body; `byte_range` is (offset, length). With `spill_dir`, large bodies go to a file there."""
        headers = _IDENTITY
        if byte_range is not None:
            headers = {**_IDENTITY, "Range": f"bytes={byte_range[0]}-{byte_range[0] + byte_range[1] - 1}"}
        await self._scope()
        lean = await self._lean_get(url, as_url(self._signed(url)), headers, total)
        if lean is not None:
            if byte_range is not None and lean.status != 206:
                offset, count = byte_range
                return Body.of(b"".join(lean.parts)[offset:offset + count])
            return Body.of_parts(lean.parts, lean.size)
        try:
            async with self._get(url, headers, self._timeout_for(total)) as resp:
                self._accept(resp, url)
                if byte_range is not None and resp.status != 206:
                    return Body.of(await _read_slice(resp, *byte_range))
                length = resp.content_length
                if spill_dir is None or (length is not None and length <= _body.SPILL_BYTES):
                    return await _read_parts(resp)
                return await read_spilling(resp, spill_dir)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_error(exc, url) from exc

    async def _lean_get(self, url: str, target: yarl.URL, extra: Mapping[str, str], total: float | None
                        ) -> LeanResponse | None:
        """The response by the lean path (capture.lean), or None when aiohttp should answer (a redirect, a large
        or encoded body, anything unusual). An error status raises its livevault error, as `_accept` does."""
        lean = self._lean
        if lean is None:
            return None
        headers = {"User-Agent": self._user_agent, "Accept": "*/*", **self._request_headers(url, extra)}
        try:
            response = await lean.get(target, headers, limit=_body.SPILL_BYTES, read_timeout=self._timeout,
                                      total=total)
        except NotHandled:
            return None
        except (OSError, TimeoutError) as exc:
            raise map_error(exc, url) from exc
        if response.status >= 400:
            raise status_error(response.status, url)
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            return None
        if response.cookies:
            self._keep_lean_cookies(urlsplit(url).hostname or "", response.cookies)
        return response

    def _keep_lean_cookies(self, host: str, values: list[str]) -> None:
        jar = self._cookies.setdefault(host, {})
        for value in values:
            cookie: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):
                cookie.load(value)
            jar.update({name: morsel.value for name, morsel in cookie.items()})

    async def get_bytes(self, url: str, *, byte_range: tuple[int, int] | None = None,
                        total: float | None = None) -> bytes:
        return (await self.get_body(url, byte_range=byte_range, total=total)).data


async def _read_parts(resp: aiohttp.ClientResponse) -> Body:
    """The whole body as the chunks that arrived: no copy into one buffer (a segment is written chunk by chunk).

    Chunks are taken as they come: waiting for the end of the body first (`wait_eof`) would save wake-ups,
    but aiohttp may have paused the connection before the buffer limit is lifted here, and only reading
    resumes it (measured: every second request on a kept-alive connection hung under uvloop)."""
    parts: list[bytes | bytearray] = []
    size = 0
    content = resp.content
    # The whole body is wanted in memory, so pausing the socket while it arrives only costs system calls;
    # lift the buffer limit as `resp.read()` does (aiohttp versions that have this method).
    lift: Callable[[int], None] | None = getattr(content, "set_read_chunk_size", None)
    if lift is not None:
        lift(sys.maxsize)
    while True:
        chunk, end_of_http_chunk = await content.readchunk()
        if chunk:
            parts.append(chunk)
            size += len(chunk)
        elif not end_of_http_chunk:
            return Body.of_parts(parts, size)


async def _read_slice(resp: aiohttp.ClientResponse, offset: int, length: int) -> bytes:
    """Bytes [offset, offset+length) of a whole body sent by a server that ignored the Range header."""
    wanted: list[bytes] = []
    position, end = 0, offset + length
    async for chunk in resp.content.iter_chunked(READ_CHUNK):
        if position + len(chunk) > offset:
            wanted.append(chunk[max(0, offset - position):end - position])
        position += len(chunk)
        if position >= end:
            break
    return b"".join(wanted)


async def fetch_bytes(session: aiohttp.ClientSession, url: str, *, headers: Mapping[str, str] | None = None,
                      byte_range: tuple[int, int] | None = None, timeout: float = 10.0,
                      proxy: str | None = None) -> bytes:
    """One-off GET of a small body (a key, an init section); errors mapped like every capture request."""
    client = HttpClient(session, headers=headers, proxy=proxy, timeout=timeout)
    return await client.get_bytes(url, byte_range=byte_range)


async def fetch_text(session: aiohttp.ClientSession, url: str, *, headers: Mapping[str, str] | None = None,
                     timeout: float = 10.0, proxy: str | None = None) -> tuple[str, str]:
    """One-off GET of a text document; returns it and the URL it came from after redirects."""
    return await HttpClient(session, headers=headers, proxy=proxy, timeout=timeout).get_text(url)
