"""Login cookies for TikTok: a Netscape `cookies.txt` or a JSON file, read only from LIVEVAULT_SECRETS_DIR.

JSON may be an object `{"sessionid_ss": "…", "tt-target-idc": "useast2a"}` (the upstream recorder's
`cookies.json`) or a browser-extension export `[{"name": …, "value": …, "domain": …}, …]`. Only cookies
for tiktok.com (or without a domain) are kept; expired and empty ones are dropped. Values never appear in
messages or logs.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from livevault.errors import InvalidInput
from livevault.sources.urls import check_secret_file

if TYPE_CHECKING:
    from pathlib import Path

MAX_COOKIE_FILE_BYTES = 1024 * 1024
LOGIN_COOKIES = ("sessionid", "sessionid_ss")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _is_tiktok_domain(domain: str) -> bool:
    domain = domain.strip().lstrip(".").lower()
    return not domain or domain == "tiktok.com" or domain.endswith(".tiktok.com")


def _usable(name: str, value: str) -> bool:
    if not value or not value.isprintable() or ";" in value:
        return False
    return bool(_TOKEN.fullmatch(name))


def parse_netscape(text: str, *, now: float | None = None) -> dict[str, str]:
    """Cookies from a Netscape/Mozilla `cookies.txt` (7 tab-separated fields per line)."""
    now = time.time() if now is None else now
    cookies: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip("\r\n")
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_"):]
        elif not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            raise InvalidInput("cookies file is not a Netscape cookies.txt (7 tab-separated fields per line)",
                               details={"field": "cookies"})
        domain, _flag, _path, _secure, expires, name, value = fields
        if not _is_tiktok_domain(domain):
            continue
        if expires.strip().isdigit() and 0 < int(expires) < now:
            continue
        if _usable(name, value):
            cookies[name] = value
    return cookies


def parse_json(text: str) -> dict[str, str]:
    """Cookies from `{"name": "value"}` or `[{"name", "value", "domain"?, "expirationDate"?}, …]`."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("cookies file is not valid JSON", details={"field": "cookies"}) from exc
    if isinstance(data, dict):
        return {str(k): v for k, v in data.items() if isinstance(v, str) and _usable(str(k), v)}
    if not isinstance(data, list):
        raise InvalidInput("a JSON cookies file holds an object or a list", details={"field": "cookies"})
    cookies: dict[str, str] = {}
    now = time.time()
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        value, domain, expires = item.get("value"), item.get("domain") or "", item.get("expirationDate")
        if not isinstance(value, str) or not _is_tiktok_domain(str(domain)):
            continue
        if isinstance(expires, int | float) and 0 < expires < now:
            continue
        if _usable(item["name"], value):
            cookies[item["name"]] = value
    return cookies


def parse_cookies(text: str) -> dict[str, str]:
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("{", "[")):
        return parse_json(stripped)
    return parse_netscape(stripped)


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


class CookieFiles:
    """Reads cookies files once per modification; watchers ask for the same file every poll."""

    def __init__(self, secrets_dir: Path | None, *, max_entries: int = 256) -> None:
        self._secrets_dir = secrets_dir
        self._cache: dict[tuple[str, int], dict[str, str]] = {}
        self._max = max_entries

    def load(self, name: str) -> dict[str, str]:
        """The TikTok cookies of `name` (a path under LIVEVAULT_SECRETS_DIR).

        Raises:
            InvalidInput: no secrets dir, a path outside it, a missing, huge or unparsable file.
        """
        path = check_secret_file(name, self._secrets_dir)
        stat = path.stat()
        if stat.st_size > MAX_COOKIE_FILE_BYTES:
            raise InvalidInput("cookies file is larger than 1 MiB", details={"field": "cookies"})
        key = (str(path), stat.st_mtime_ns)
        cached = self._cache.get(key)
        if cached is None:
            cached = parse_cookies(path.read_text(encoding="utf-8", errors="replace"))
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[key] = cached
        return dict(cached)
