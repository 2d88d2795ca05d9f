"""`RequestLimits`: header size, body size per route and the time a body may take, before any route runs.

An ASGI middleware (no Starlette request object, nothing buffered that it did not ask for):

* headers larger than LIVEVAULT_MAX_HEADER_BYTES -> 431 HEADERS_TOO_LARGE;
* a `Content-Length` over the route's limit -> 413 PAYLOAD_TOO_LARGE at once, without reading a byte of it;
* a body read past the limit (chunked, or a lying length) -> 413 as soon as the limit is crossed;
* a body that has not fully arrived within LIVEVAULT_REQUEST_BODY_TIMEOUT (stalled, or a byte every few
  seconds) -> 408 REQUEST_TIMEOUT, and the connection is closed.

The body, once read within the limits, is handed to the app as one message. Limits per route: webhooks
64 KiB, `POST /downloads` LIVEVAULT_MAX_BODY_BYTES (default 1 MiB, up to 100 URLs), every other route 64 KiB.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from livevault.errors import HeadersTooLarge, LivevaultError, PayloadTooLarge, RequestTimeout
from livevault.observability import current_correlation_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from livevault.config import Settings

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SMALL_BODY = 64 * 1024
_STATUS = {PayloadTooLarge: 413, HeadersTooLarge: 431, RequestTimeout: 408}


def body_limit(path: str, settings: Settings) -> int:
    """The largest body the route at `path` accepts."""
    if path.rstrip("/") == "/downloads":
        return settings.max_body_bytes
    return min(SMALL_BODY, settings.max_body_bytes)


class RequestLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            replay = await self._read(scope, receive)
        except (PayloadTooLarge, HeadersTooLarge, RequestTimeout) as exc:
            await _refuse(send, exc)
            return
        await self.app(scope, replay or receive, send)

    async def _read(self, scope: Scope, receive: Receive) -> Receive | None:
        headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        if sum(len(k) + len(v) + 4 for k, v in headers) > self.settings.max_header_bytes:
            raise HeadersTooLarge(f"request headers are larger than {self.settings.max_header_bytes} bytes",
                                  details={"limit": self.settings.max_header_bytes})
        limit = body_limit(str(scope.get("path", "")), self.settings)
        length: int | None = None
        chunked = False
        for key, value in headers:
            if key == b"content-length":
                text = value.decode("latin-1").strip()
                if not text.isdigit():
                    raise PayloadTooLarge("Content-Length must be a number", details={"limit": limit})
                length = int(text)
            elif key == b"transfer-encoding":
                chunked = True
        if length is not None and length > limit:
            raise PayloadTooLarge(f"request body must be at most {limit} bytes", details={"limit": limit})
        if not chunked and not length:
            return None
        deadline = time.monotonic() + self.settings.request_body_timeout
        parts: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timeout(self.settings.request_body_timeout)
            try:
                message = await asyncio.wait_for(receive(), remaining)
            except TimeoutError:
                raise _timeout(self.settings.request_body_timeout) from None
            if message["type"] == "http.disconnect":
                return _replay(b"", disconnected=True, receive=receive)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body must be at most {limit} bytes", details={"limit": limit})
            parts.append(chunk)
            if not message.get("more_body", False):
                return _replay(b"".join(parts), disconnected=False, receive=receive)


def _timeout(seconds: float) -> RequestTimeout:
    return RequestTimeout(f"the request body did not arrive within {seconds:g} s (LIVEVAULT_REQUEST_BODY_TIMEOUT)",
                          details={"timeout": seconds})


def _replay(body: bytes, *, disconnected: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if disconnected:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, exc: LivevaultError) -> None:
    status = next(s for cls, s in _STATUS.items() if isinstance(exc, cls))
    payload = json.dumps({"error_code": exc.code, "message": exc.message, "details": exc.details,
                          "correlation_id": current_correlation_id()}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": payload})
