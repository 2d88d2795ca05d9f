"""Secrets in values the API returns or logs: proxy passwords, cookies, keys and signed query strings."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
SECRET_OPTION_KEYS = frozenset({"proxy", "cookies", "cookie", "headers", "authorization", "api_key", "password",
                                "secret", "token"})
"""Option keys whose values are secret as a whole or hold credentials (`proxy` keeps its host)."""


def mask_secret_url(url: str) -> str:
    """The URL with its password (or a lone user token) replaced by `***`: for API responses and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    masked = f"{user}:{MASK}@{hostport}" if ":" in userinfo else f"{MASK}@{hostport}"
    return urlunsplit((parts.scheme, masked, parts.path, parts.query, parts.fragment))


_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s@:]*)(:[^/\s@]*)?@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token|"
    r"api_key|apikey|key|auth|password|passwd|secret)=)[^&\s\"'#]+"
)


def mask_credentials(text: str) -> str:
    """Text with the password (or lone token) of every URL's userinfo masked: what API responses show.

    A source URL's own query (a CDN's signed token the caller gave) is returned as given: it names the
    source, and the caller needs it to address a watcher by its key.
    """
    return _URL_USERINFO.sub(
        lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@" if m.group(3) else f"{m.group(1)}{MASK}@", text)


def mask_text(text: str) -> str:
    """Free text (a log line) with URL credentials and secret query values masked."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{MASK}", mask_credentials(text))


def mask_optional(value: str | None) -> str | None:
    return None if value is None else mask_credentials(value)


def mask_options(options: dict[str, Any]) -> dict[str, Any]:
    """A recording's or watcher's options as the API returns them: credentials in every URL (`proxy`,
    `notify_url`, ...), cookies and secret-named values masked."""
    masked: dict[str, Any] = {}
    for key, value in options.items():
        lower = key.lower()
        if value in (None, "", False):
            masked[key] = value
        elif lower != "proxy" and (lower in SECRET_OPTION_KEYS
                                   or any(s in lower for s in ("password", "secret", "token", "cookie"))):
            masked[key] = MASK
        elif isinstance(value, str):
            masked[key] = mask_credentials(value)
        elif isinstance(value, dict):
            masked[key] = mask_options(value)
        else:
            masked[key] = value
    return masked
