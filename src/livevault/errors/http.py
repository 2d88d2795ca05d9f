"""Requests the HTTP layer refuses by itself: too large, too slow, wrong method or range, any other status."""

from __future__ import annotations

from livevault.errors.base import ErrorKind, LivevaultError


class PayloadTooLarge(LivevaultError):
    """A request body (or its announced length) over the route's limit (413), refused before it is read."""

    code = "PAYLOAD_TOO_LARGE"
    kind = ErrorKind.TOO_LARGE


class HeadersTooLarge(LivevaultError):
    code = "HEADERS_TOO_LARGE"
    kind = ErrorKind.TOO_LARGE


class RequestTimeout(LivevaultError):
    """The request body did not arrive within LIVEVAULT_REQUEST_BODY_TIMEOUT (408)."""

    code = "REQUEST_TIMEOUT"
    kind = ErrorKind.TIMEOUT


class MethodNotAllowed(LivevaultError):
    code = "METHOD_NOT_ALLOWED"
    kind = ErrorKind.INVALID


class RangeNotSatisfiable(LivevaultError):
    code = "RANGE_NOT_SATISFIABLE"
    kind = ErrorKind.INVALID


class HttpError(LivevaultError):
    """Any other status the HTTP framework answered by itself."""

    code = "HTTP_ERROR"
    kind = ErrorKind.INVALID
