"""uvicorn settings that bound what a client can hold open (used by `livevault serve` and the tests).

uvicorn bounds a request's headers by size but not by time: a client that sends one header byte every few
seconds keeps its connection forever. `HeaderTimeoutProtocol` closes a connection whose request headers are
not complete within the timeout (LIVEVAULT_REQUEST_BODY_TIMEOUT), measured from the connection's start or
from the end of the previous response. Bodies are bounded by `RequestLimits` (livevault.api.limits).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from livevault.config import Settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    header_timeout: ClassVar[float] = 30.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def server_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's bounds: header time (above) and size, idle keep-alive connections."""
    protocol = type("BoundedHttpToolsProtocol", (HeaderTimeoutProtocol,),
                    {"header_timeout": settings.request_body_timeout})
    return {"http": protocol, "h11_max_incomplete_event_size": settings.max_header_bytes, "timeout_keep_alive": 5}
