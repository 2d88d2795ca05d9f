"""HTTP trouble as livevault errors: a status, an aiohttp/asyncio/OS failure or a redirect to a login page
becomes `NetworkTimeout`, `SourceUnreachable`, `SourceBlocked` (403), `LoginRequired` (401, a login page)
or `StreamEnded` (404/410), the HTTP status in `details["status"]`; URLs in messages lose query and
credentials."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp

from livevault.errors import (
    InvalidUrl,
    LivevaultError,
    LoginRequired,
    NetworkTimeout,
    SourceBlocked,
    SourceUnreachable,
    StreamEnded,
)
from livevault.net.guard import describe_failure

GONE_STATUSES = frozenset({404, 410})


def safe_url(url: str) -> str:
    """The URL without its query and credentials (signed tokens stay out of messages and details)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def status_error(status: int, url: str, reason: str | None = None) -> LivevaultError:
    """The error for an HTTP status; the server's reason phrase is left out (it is the server's own text)."""
    del reason
    details: dict[str, Any] = {"status": status, "url": safe_url(url)}
    text = f"HTTP {status} from {safe_url(url)}"
    if status == 401:
        return LoginRequired(f"the source asks for a login: {text}; pass the cookies of a logged-in session "
                             f"(options.cookies)", details=details)
    if status == 403:
        return SourceBlocked(f"the source refused access: {text}", details=details)
    if status in GONE_STATUSES:
        return StreamEnded(f"the source has no such resource: {text}", details=details)
    return SourceUnreachable(f"the source answered {text}", details=details)


_LOGIN_WORDS = ("login", "signin", "sign-in", "sign_in", "auth")


def looks_like_login(path: str) -> bool:
    """Whether a path a request was redirected to is a login page."""
    last = path.rstrip("/").rsplit("/", 1)[-1].lower()
    return any(word in last for word in _LOGIN_WORDS)


def login_wall(url: str, path: str) -> LoginRequired:
    return LoginRequired(
        f"{safe_url(url)} redirected to a login page ({path[:100]}): it needs a logged-in session; pass its "
        f"cookies (a file under LIVEVAULT_SECRETS_DIR, options.cookies)",
        details={"url": safe_url(url), "location_path": path[:100]},
    )


def map_error(exc: BaseException, url: str) -> LivevaultError:
    """An aiohttp/asyncio/OS failure as a livevault error."""
    if isinstance(exc, LivevaultError):
        return exc
    details: dict[str, Any] = {"url": safe_url(url)}
    if isinstance(exc, TimeoutError):
        return NetworkTimeout(f"no answer in time from {safe_url(url)}", details=details)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError | aiohttp.NonHttpUrlRedirectClientError):
        return InvalidUrl(f"invalid URL: {safe_url(url)}", details=details)
    if isinstance(exc, aiohttp.ClientResponseError):
        return status_error(exc.status, url, exc.message)
    why = describe_failure(exc)  # never the peer's own text
    return SourceUnreachable(f"cannot reach {safe_url(url)}: {why}", details=details)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind a mapped error, if it came from one."""
    status = exc.details.get("status") if isinstance(exc, LivevaultError) else None
    return status if isinstance(status, int) else None
