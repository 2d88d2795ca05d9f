"""The sources' view of the one URL guard (`livevault.net.guard.UrlGuard`), kept as plain functions.

Every URL a source fetches, or hands to yt-dlp / streamlink / an external recorder, passes
`validate_source_url`; the guard itself (and the aiohttp resolver and middleware that enforce it on every
connection and redirect) lives in `livevault.net`, below both sources and capture.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from livevault.errors import InvalidInput, InvalidProxy
from livevault.net.guard import MAX_URL_LENGTH, UrlGuard, address_refusal

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "MAX_URL_LENGTH",
    "InvalidProxy",
    "check_proxy_url",
    "check_secret_file",
    "check_url_syntax",
    "is_public_address",
    "validate_source_url",
]

_LENIENT = UrlGuard(allow_private=True)
_STRICT = UrlGuard(allow_private=False)


def check_url_syntax(url: str) -> str:
    """Check scheme, host and characters without touching the network; returns the URL stripped."""
    return _LENIENT.check_syntax(url)


def is_public_address(address: str) -> bool:
    return address_refusal(ipaddress.ip_address(address.split("%", 1)[0])) is None


def validate_source_url(url: str, *, allow_private: bool) -> str:
    """Syntax, then refuse hosts that are or resolve to loopback, private, link-local or metadata addresses.

    `allow_private` (LIVEVAULT_ALLOW_PRIVATE_SOURCES) lets them through, for tests and LAN sources.
    """
    return (_LENIENT if allow_private else _STRICT).check_url(url)


def check_proxy_url(proxy: str, *, allow_private: bool = True) -> str:
    """A per-recording proxy: http:// or https:// with a host; with `allow_private=False` a public one."""
    return (_LENIENT if allow_private else _STRICT).check_proxy(proxy)


def check_secret_file(path: str, secrets_dir: Path | None) -> Path:
    """A cookies file must be an existing file inside LIVEVAULT_SECRETS_DIR."""
    if secrets_dir is None:
        raise InvalidInput("cookies files need LIVEVAULT_SECRETS_DIR to be set", details={"field": "cookies"})
    if not path or len(path) > 255 or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path) or path.startswith("-"):
        raise InvalidInput("cookies must name a file inside LIVEVAULT_SECRETS_DIR", details={"field": "cookies"})
    root = secrets_dir.resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        raise InvalidInput("cookies must name a file inside LIVEVAULT_SECRETS_DIR", details={"field": "cookies"})
    return target
