"""FastAPI dependencies as Annotated aliases: the container, the API key, the rate limit."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import deque
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from livevault.bootstrap import Container
from livevault.errors import Forbidden, RateLimited, Unauthorized

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of API_KEYS")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


class RateLimiter:
    """Sliding one-minute window per API key, in memory (embedded mode)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        with self._lock:
            window = self._hits.setdefault(key, deque())
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= self.per_minute:
                retry = max(1, math.ceil(60 - (now - window[0])))
                raise RateLimited(
                    f"rate limit of {self.per_minute} requests per minute exceeded",
                    details={"retry_after": retry, "limit": self.per_minute},
                )
            window.append(now)


def require_api_key(
    request: Request, key: Annotated[str | None, Depends(_api_key_header)] = None
) -> str:
    container = get_container(request)
    if not key:
        raise Unauthorized("X-API-Key header is required")
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in container.settings.api_keys):
        raise Forbidden("X-API-Key is not valid")
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.hit(key)
    return key


ApiKeyDep = Annotated[str, Depends(require_api_key)]
