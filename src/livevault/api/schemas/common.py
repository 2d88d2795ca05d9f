"""Shapes shared by every router."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_PAGE = 1_000_000
"""The highest `page` a list route accepts (beyond it: 422, never an integer overflow in the database)."""


class RequestModel(BaseModel):
    """Base of every request body: an unknown field is a 422 naming it, numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every 4xx/5xx response has this body."""

    error_code: str = Field(examples=["INVALID_URL"])
    message: str = Field(examples=["URL scheme must be http or https"])
    details: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = Field(default=None, examples=["4f1c6c53-3b8e-4bde-9d4c-4b0f5a0a9e11"])


class OkBody(BaseModel):
    ok: bool = True


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid input"},
    401: {"model": ErrorBody, "description": "X-API-Key header missing"},
    403: {"model": ErrorBody, "description": "X-API-Key unknown"},
    422: {"model": ErrorBody, "description": "Body or parameters of the wrong type"},
    429: {"model": ErrorBody, "description": "Rate limit exceeded (see Retry-After)"},
}
