"""The lean GET of the capture hot path: playlists and segments over kept-alive connections, with little
Python per request.

A live capture asks the same host for a playlist and a segment every few seconds, for hours. aiohttp's client
does a lot per request (middlewares, tracing, cookie and redirect machinery, response objects), which at a
hundred streams is most of the recorder's CPU. This path does only what a plain GET needs: one request line
and its headers written to a pooled connection, the response parsed by httptools (the C parser uvicorn uses),
the body received straight into one buffer of the announced length (`asyncio.BufferedProtocol`: the kernel
copies it there, with no bytes object per read and no second copy by the parser), or, without a length, kept
as the chunks that arrived.

It is an optimisation, never a second policy. `HttpClient` (capture.http) uses it for GETs without a proxy
and answers what it does not handle itself by asking aiohttp again: a redirect (3xx), a body larger than
`SPILL_BYTES`, a protocol upgrade. The URL guard applies exactly as on aiohttp's path: the scheme and an IP
literal are checked for every request, a name is resolved through the guard when a connection opens and the
connection is made to a checked address only; connections are pooled per guard, so a strictly scoped capture
never reuses a connection a lenient one opened.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httptools

from livevault.capture.recv_buffers import body_buffer, scratch_buffer

if TYPE_CHECKING:
    from collections.abc import Mapping

    import yarl

    from livevault.net.guard import UrlGuard

IDLE_SECONDS = 25.0  # an idle pooled connection older than this is closed, not reused (servers drop them)
IDLE_PER_HOST = 512  # as many as recordings may share one CDN host (captures started together reload in step)
_BLOCKS_KEPT = 64  # encoded header blocks (a capture sends the same few headers to the same host all along)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class NotHandled(Exception):
    """This response is for aiohttp's path (a redirect, a large body, an upgrade)."""


@dataclass(slots=True)
class LeanResponse:
    status: int
    headers: dict[str, str]
    parts: list[bytes | bytearray]  # one buffer when the length was announced, else the chunks as they came
    size: int
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values


class _Connection(asyncio.BufferedProtocol):
    """One HTTP/1.1 connection; one request at a time.

    The status line and headers are received into the shared scratch buffer and parsed by httptools. Once
    they announce a Content-Length, the body goes into one buffer of that length: the rest of the read that
    carried the headers is copied there by the parser callback, and later reads land in it directly,
    bypassing the parser, until it is full."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[LeanResponse] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._response: LeanResponse | None = None
        self._header_name = ""
        self._limit = 0
        self._last = 0.0
        self._read_timeout = 0.0
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.received = False
        self._until_close = False
        self._body: bytearray | None = None  # the announced-length body being filled
        self._filled = 0
        self._direct = False  # reads go straight into `_body`, not through the parser
        self._keep_alive = False

    # -- asyncio.BufferedProtocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._direct:
            assert self._body is not None
            return memoryview(self._body)[self._filled :]
        return scratch_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self._direct:
            self._last = self._loop.time()
            self._filled += nbytes
            assert self._body is not None
            if self._filled == len(self._body):
                self._direct = False
                self._message_complete(self._keep_alive)
            return
        self._feed(scratch_buffer()[:nbytes])

    def _feed(self, data: memoryview) -> None:
        if self._parser is None:  # bytes nobody asked for: the connection is unusable
            self._abort()
            return
        self.received = True
        self._last = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(NotHandled("protocol upgrade"))
        except httptools.HttpParserError as exc:
            cause = exc.__cause__ or exc.__context__  # an exception a callback raised comes wrapped
            self._fail(cause if isinstance(cause, NotHandled) else ConnectionError(f"invalid HTTP response: {exc}"))
        except NotHandled as exc:
            self._fail(exc)
            return
        if self._body is not None and self._parser is not None:  # the body goes on: straight into its buffer
            self._direct = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        waiter, response = self._waiter, self._response
        if waiter is None or waiter.done():
            return
        if exc is None and response is not None and self._until_close:  # a body that ends when the connection does
            self._parser = None
            waiter.set_result(response)
            return
        waiter.set_exception(exc or ConnectionResetError("the server closed the connection"))

    # -- httptools callbacks ------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._response is not None
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "set-cookie":
            self._response.cookies.append(text)
        elif key in self._response.headers:
            self._response.headers[key] += ", " + text
        else:
            self._response.headers[key] = text

    def on_headers_complete(self) -> None:
        assert self._response is not None
        assert self._parser is not None
        status = self._parser.get_status_code()
        self._response.status = status
        if 300 <= status < 400 and status != 304:
            raise NotHandled("redirect")
        headers = self._response.headers
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._limit:
            raise NotHandled("large body")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._until_close = length is None and not chunked
        if length is not None and length.isdigit() and not chunked and int(length) > 0:
            self._body = body_buffer(int(length))
            self._filled = 0
            self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        response = self._response
        assert response is not None
        if self._body is not None:  # the part of the body that came with the headers
            end = self._filled + len(body)
            self._body[self._filled : end] = body
            self._filled = end
            return
        response.parts.append(body)
        response.size += len(body)
        if response.size > self._limit:
            raise NotHandled("large body")

    def on_message_complete(self) -> None:
        self._message_complete(self._parser is not None and self._parser.should_keep_alive())

    def _message_complete(self, keep: bool) -> None:
        self._cancel_timer()
        waiter, response = self._waiter, self._response
        if self._body is not None and response is not None:
            response.parts, response.size = [self._body], len(self._body)
        self._body = None
        self._parser = None
        self._response = None  # bytes after the message fail the parser's callbacks: the connection is dropped
        if not keep:
            self._abort()
        if waiter is not None and not waiter.done() and response is not None:
            waiter.set_result(response)

    # -- requests ---------------------------------------------------------------------------------

    async def request(self, head: bytes, *, limit: int, read_timeout: float, deadline: float | None = None
                      ) -> LeanResponse:
        """Send `head`, receive the response. One timer watches both limits: `read_timeout` seconds without a
        byte, and `deadline` (event-loop time) for the whole response."""
        assert self.transport is not None
        self._waiter = self._loop.create_future()
        self._response = LeanResponse(0, {}, [], 0)
        self._parser = httptools.HttpResponseParser(self)
        self._body, self._filled, self._direct = None, 0, False
        self._limit = limit
        self.received = False
        self._until_close = False
        self._read_timeout = read_timeout
        self._deadline = deadline
        self._last = now = self._loop.time()
        self._timer = self._loop.call_later(
            read_timeout if deadline is None else min(read_timeout, deadline - now), self._check_idle)
        self.transport.write(head)
        try:
            return await self._waiter
        finally:
            self._waiter = None
            self._cancel_timer()
            if self._parser is not None:  # not complete (error, cancellation): never reused
                self._parser = None
                self._abort()

    def _check_idle(self) -> None:
        self._timer = None
        now = self._loop.time()
        deadline = self._deadline
        if deadline is not None and now >= deadline:
            self._fail(TimeoutError("the response did not complete in time"))
            return
        quiet = now - self._last
        if quiet >= self._read_timeout:
            self._fail(TimeoutError(f"no data for {self._read_timeout:g} s"))
            return
        wait = self._read_timeout - quiet
        self._timer = self._loop.call_later(wait if deadline is None else min(wait, deadline - now), self._check_idle)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, exc: BaseException) -> None:
        self._parser = None
        self._body, self._direct = None, False
        self._abort()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class LeanClient:
    """Pooled connections of one guard; `get` sends one GET and returns the whole response."""

    def __init__(self, guard: UrlGuard, *, connect_timeout: float, ssl_context: ssl.SSLContext | None = None
                 ) -> None:
        self._guard = guard
        self._connect_timeout = connect_timeout
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._blocks: dict[tuple[tuple[str, str, int], tuple[tuple[str, str], ...]], bytes] = {}

    async def get(self, url: yarl.URL, headers: Mapping[str, str], *, limit: int, read_timeout: float,
                  total: float | None = None) -> LeanResponse:
        """Raises NotHandled (ask aiohttp), a livevault error from the guard, OSError or TimeoutError (no byte
        for `read_timeout` seconds, or no whole response within `total`)."""
        scheme = (url.scheme or "").lower()
        host = url.raw_host or ""
        if scheme not in _DEFAULT_PORTS or not host:
            raise NotHandled("not an http(s) URL")
        literal = self._guard.check_host_literal(host)  # every request: the guard's cached check of the host
        port = url.port or _DEFAULT_PORTS[scheme]
        key = (scheme, host, port)
        head = self._head(url, key, headers)
        deadline = None if total is None else asyncio.get_running_loop().time() + total
        conn = self._take(key)
        if conn is not None:
            try:
                return await self._finish(key, conn, head, limit, read_timeout, deadline)
            except ConnectionError:
                if conn.received:  # the response had begun: not a stale connection
                    raise
                # a kept-alive connection the server had already closed: once more on a new one
        if deadline is None:
            conn = await self._connect(scheme, host, port, literal)
        else:
            async with asyncio.timeout_at(deadline):
                conn = await self._connect(scheme, host, port, literal)
        return await self._finish(key, conn, head, limit, read_timeout, deadline)

    def _head(self, url: yarl.URL, key: tuple[str, str, int], headers: Mapping[str, str]) -> bytes:
        """The request line and headers; the header lines are encoded (and checked) once per set of headers."""
        target = url.raw_path_qs or "/"
        if " " in target or not target.isprintable():  # a space, a tab, CR, LF, NUL or another control
            raise NotHandled("a target aiohttp should judge")
        ident = (key, tuple(headers.items()))
        block = self._blocks.get(ident)
        if block is None:
            if len(self._blocks) >= _BLOCKS_KEPT:
                self._blocks.clear()
            block = self._blocks[ident] = _header_block(*ident)
        try:
            return b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\n" + block
        except UnicodeEncodeError as exc:
            raise NotHandled("a target that is not Latin-1") from exc

    async def _finish(self, key: tuple[str, str, int], conn: _Connection, head: bytes, limit: int,
                      read_timeout: float, deadline: float | None) -> LeanResponse:
        response = await conn.request(head, limit=limit, read_timeout=read_timeout, deadline=deadline)
        if not conn.closed:
            conn.idle_since = asyncio.get_running_loop().time()
            idle = self._idle.setdefault(key, [])
            if len(idle) < IDLE_PER_HOST:
                idle.append(conn)
            else:
                conn._abort()
        return response

    def _take(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn._abort()
        return None

    async def _connect(self, scheme: str, host: str, port: int, literal: object) -> _Connection:
        loop = asyncio.get_running_loop()
        addresses = [str(literal)] if literal is not None else await self._guard.resolve_async(host, port)
        tls = None
        if scheme == "https":
            tls = self._ssl or _default_ssl()
        last: BaseException | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(self._connect_timeout):
                    _transport, conn = await loop.create_connection(
                        lambda: _Connection(loop), address, port, ssl=tls,
                        server_hostname=host.strip("[]") if tls is not None else None)
                return conn
            except (OSError, TimeoutError) as exc:
                last = exc
        assert last is not None
        raise last

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn._abort()
        self._idle.clear()


def _header_block(key: tuple[str, str, int], items: tuple[tuple[str, str], ...]) -> bytes:
    """The Host line, the header lines and the blank line that ends them."""
    scheme, host, port = key
    name = f"[{host}]" if ":" in host else host
    authority = name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}"
    lines = [f"Host: {authority}", *(f"{k}: {v}" for k, v in items if k.lower() != "host")]
    if any(ch in line for line in lines for ch in "\r\n\0"):
        raise NotHandled("a header aiohttp should judge")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError as exc:
        raise NotHandled("a header that is not Latin-1") from exc


_SSL: ssl.SSLContext | None = None


def _default_ssl() -> ssl.SSLContext:
    global _SSL
    if _SSL is None:
        _SSL = ssl.create_default_context()
    return _SSL
