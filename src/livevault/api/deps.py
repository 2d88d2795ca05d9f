"""FastAPI dependencies as Annotated aliases: the container, the API key, the rate limit."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from livevault.bootstrap import Container
from livevault.errors import Forbidden, Unauthorized

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of API_KEYS")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def require_api_key(
    request: Request, key: Annotated[str | None, Depends(_api_key_header)] = None
) -> str:
    """A known key under its rate limit; sync, so FastAPI runs it (and its Redis round trip) in a thread."""
    container = get_container(request)
    if not key:
        raise Unauthorized("X-API-Key header is required")
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in container.settings.api_keys):
        raise Forbidden("X-API-Key is not valid")
    container.rate_limits.check(key)
    return key


ApiKeyDep = Annotated[str, Depends(require_api_key)]
