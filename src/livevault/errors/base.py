"""The base of the tree: ErrorKind, LivevaultError, InternalError and the lookup of a class by its code."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorKind(StrEnum):
    INVALID = "INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    TOO_LARGE = "TOO_LARGE"
    TIMEOUT = "TIMEOUT"


class LivevaultError(Exception):
    """Base of every error the project raises on purpose; carries what the API and jobs report."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message})"


class InternalError(LivevaultError):
    """A bug: reported with the correlation id so it can be found in the logs."""

    code = "INTERNAL_ERROR"


def error_class_for(code: str | None) -> type[LivevaultError]:
    """The class that reports `code`; InternalError for an unknown one."""
    return error_class(code) or InternalError


def error_class(code: str | None) -> type[LivevaultError] | None:
    """The class that reports `code` (the most general one when several share it), or None when unknown.

    Used where an error is known only by its stored code (a capture outcome) and must be raised again as
    its own class, e.g. "nothing was recorded because the stream stalled" ends as STREAM_STALLED.
    """
    if not code:
        return None
    found: type[LivevaultError] | None = None
    pending: list[type[LivevaultError]] = [LivevaultError]
    while pending:
        cls = pending.pop(0)
        if cls.code == code and found is None:
            found = cls
        pending.extend(cls.__subclasses__())
    return found
