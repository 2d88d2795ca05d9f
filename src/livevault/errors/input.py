"""The InvalidInput family: a request or argument livevault refuses as invalid (VALIDATION_ERROR and below)."""

from __future__ import annotations

from livevault.errors.base import ErrorKind, LivevaultError


class InvalidInput(LivevaultError):
    code = "VALIDATION_ERROR"
    kind = ErrorKind.INVALID


class UnsupportedOutputFormat(InvalidInput):
    code = "UNSUPPORTED_OUTPUT_FORMAT"


class InvalidUrl(InvalidInput):
    code = "INVALID_URL"


class InvalidRoomId(InvalidInput):
    code = "INVALID_ROOM_ID"


class UnsupportedSource(InvalidInput):
    code = "UNSUPPORTED_SOURCE"


class InvalidTemplate(InvalidInput):
    code = "INVALID_OUTPUT_TEMPLATE"


class MissingSource(InvalidInput):
    code = "MISSING_SOURCE"


class InvalidProxy(InvalidInput):
    code = "INVALID_PROXY"


class AddressNotAllowed(InvalidUrl):
    """A URL, redirect, playlist entry or proxy points at a loopback, private, link-local or metadata address."""

    code = "ADDRESS_NOT_ALLOWED"


class StrategyUnavailable(InvalidInput):
    code = "STRATEGY_UNAVAILABLE"


class UnsupportedEngine(InvalidInput):
    code = "UNSUPPORTED_ENGINE"


class InvalidStreamKey(InvalidInput):
    code = "INVALID_STREAM_KEY"


class UnknownEventType(InvalidInput):
    """A webhook `event` that is neither `stream.started` nor `stream.ended` (answered 422, seed 002)."""

    code = "INVALID_EVENT_TYPE"


class BadRequest(InvalidInput):
    """A request the HTTP layer could not take (malformed before any route ran)."""

    code = "BAD_REQUEST"
