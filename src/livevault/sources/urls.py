"""The one gate every user-supplied URL passes before livevault fetches it."""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from livevault.errors import InvalidInput, InvalidUrl

if TYPE_CHECKING:
    from pathlib import Path

MAX_URL_LENGTH = 4096


class InvalidProxy(InvalidInput):
    code = "INVALID_PROXY"

ALLOWED_SCHEMES = frozenset({"http", "https"})


def check_url_syntax(url: str) -> str:
    """Check scheme, host and characters without touching the network; returns the URL stripped."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidUrl("URL must be 1 to 4096 characters", details={"url": url[:200]})
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise InvalidUrl("URL may not contain spaces or control characters", details={"url": url[:200]})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"URL is malformed: {exc}", details={"url": url[:200]}) from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise InvalidUrl("URL scheme must be http or https", details={"url": url[:200]})
    if not parts.hostname:
        raise InvalidUrl("URL has no host", details={"url": url[:200]})
    if port == 0:
        raise InvalidUrl("URL port must be 1-65535", details={"url": url[:200]})
    return url


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_host(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidUrl(f"host {host!r} does not resolve", details={"host": host}) from exc
    return sorted({str(info[4][0]) for info in infos})


def validate_source_url(url: str, *, allow_private: bool) -> str:
    """Syntax check, then refuse hosts that resolve to private, loopback or link-local addresses.

    `allow_private` (LIVEVAULT_ALLOW_PRIVATE_SOURCES) lets them through, for tests and LAN sources.
    """
    url = check_url_syntax(url)
    if allow_private:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    addresses = resolve_host(host, port)
    blocked = [a for a in addresses if not is_public_address(a)]
    if blocked:
        raise InvalidUrl(
            "URL points to a private, loopback or link-local address; "
            "set LIVEVAULT_ALLOW_PRIVATE_SOURCES=true to record from your own network",
            details={"host": host},
        )
    return url


def check_proxy_url(proxy: str) -> str:
    """A per-recording proxy: http:// or https:// with a host (the capture client speaks HTTP proxies)."""
    proxy = proxy.strip()
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise InvalidProxy(f"proxy URL is malformed: {exc}") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        raise InvalidProxy("proxy must be an http:// or https:// URL with a host")
    if any(ord(ch) < 0x21 for ch in proxy):
        raise InvalidProxy("proxy URL may not contain spaces or control characters")
    return proxy


def check_secret_file(path: str, secrets_dir: Path | None) -> Path:
    """A cookies file must be an existing file inside LIVEVAULT_SECRETS_DIR."""
    if secrets_dir is None:
        raise InvalidInput("cookies files need LIVEVAULT_SECRETS_DIR to be set", details={"field": "cookies"})
    root = secrets_dir.resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        raise InvalidInput("cookies must name a file inside LIVEVAULT_SECRETS_DIR", details={"field": "cookies"})
    return target
