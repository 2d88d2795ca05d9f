"""What a user may give for TikTok LIVE, parsed without touching the network.

Accepted (research/tiktok.md §1): a room id (1-20 digits), `@user` (a bare `user` only when the caller
already chose TikTok), `https://www.tiktok.com/@user/live`, the profile `https://www.tiktok.com/@user`,
the mobile share `https://m.tiktok.com/share/live/<room_id>`, and short links `https://vm.tiktok.com/<code>`,
`https://vt.tiktok.com/<code>`, `https://www.tiktok.com/t/<code>`. The host of `LIVEVAULT_TIKTOK_WEB_URL`
counts as a TikTok host too, so a test deployment pointed at a fake TikTok accepts the same paths on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from livevault.domain.targets import MAX_ROOM_ID_DIGITS as MAX_ROOM_ID_DIGITS
from livevault.domain.targets import check_room_id as check_room_id
from livevault.domain.targets import check_user as check_user
from livevault.domain.targets import is_user
from livevault.errors import InvalidInput, InvalidUrl

DEFAULT_WEB_URL = "https://www.tiktok.com"
TIKTOK_HOSTS = frozenset({"tiktok.com", "www.tiktok.com", "m.tiktok.com", "vm.tiktok.com", "vt.tiktok.com"})
SHORT_LINK_HOSTS = frozenset({"vm.tiktok.com", "vt.tiktok.com"})

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_PROFILE_PATH = re.compile(r"/@(?P<user>[^/?#]+)(?:/live)?/?", re.ASCII)
_SHARE_PATH = re.compile(r"/share/live/(?P<room>[0-9]+)/?", re.ASCII)
_SHORT_PATH = re.compile(r"/(?P<code>\w{1,64})/?", re.ASCII)
_T_PATH = re.compile(r"/t/(?P<code>\w{1,64})/?", re.ASCII)


class TargetKind(StrEnum):
    ROOM = "room"
    USER = "user"
    SHORT_LINK = "short_link"


@dataclass(frozen=True, slots=True)
class TikTokTarget:
    """A parsed target: a room id, a lower-cased user name, or a short-link code still to be followed."""

    kind: TargetKind
    value: str


@dataclass(frozen=True, slots=True)
class TikTokHosts:
    """Which hosts are TikTok: the real ones plus the configured web URL's host and port."""

    web_url: str = DEFAULT_WEB_URL

    @property
    def web_base(self) -> str:
        return self.web_url.rstrip("/")

    @property
    def overridden(self) -> bool:
        return self.web_base.lower() != DEFAULT_WEB_URL

    def _configured(self) -> tuple[str, int]:
        return _host_port(self.web_base)

    def is_tiktok_url(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            host, port = _host_port(url)
        except ValueError:
            return False
        if parts.scheme.lower() not in {"http", "https"} or not host:
            return False
        return host in TIKTOK_HOSTS or (self.overridden and (host, port) == self._configured())

    def short_link_url(self, code: str, url: str) -> str:
        """Where to follow a short link: the link itself, or `<web>/t/<code>/` when the web URL is overridden."""
        if self.overridden:
            return f"{self.web_base}/t/{code}/"
        return url

    def live_url(self, user: str) -> str:
        return f"{self.web_base}/@{user}/live"


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return host, port


def looks_like_tiktok(target: str, hosts: TikTokHosts) -> bool:
    """The matcher: digits, `@user`, or an http(s) URL on a TikTok host. Bare words are ambiguous: no."""
    target = target.strip()
    if _DIGITS.fullmatch(target):
        return True
    if target.startswith("@"):
        return is_user(target)
    return "://" in target and hosts.is_tiktok_url(target)


def parse_target(target: str, hosts: TikTokHosts) -> TikTokTarget:
    """Room id, user or short link from what the user gave; a bare word is taken as a user name.

    Raises:
        InvalidRoomId: digits that cannot be a room id.
        InvalidUrl: a URL that is not a TikTok LIVE, profile, share or short link.
        InvalidInput: a user name with characters TikTok does not allow.
    """
    target = target.strip()
    if _DIGITS.fullmatch(target):
        return TikTokTarget(TargetKind.ROOM, check_room_id(target))
    if "://" not in target:
        return TikTokTarget(TargetKind.USER, check_user(target))
    if not hosts.is_tiktok_url(target):
        raise InvalidUrl("URL must be a TikTok LIVE URL (tiktok.com)", details={"url": target[:200]})
    return _parse_url(target, hosts)


def _parse_url(url: str, hosts: TikTokHosts) -> TikTokTarget:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path or "/"
    if host in SHORT_LINK_HOSTS and (short := _SHORT_PATH.fullmatch(path)):
        return TikTokTarget(TargetKind.SHORT_LINK, hosts.short_link_url(short["code"], url))
    if short := _T_PATH.fullmatch(path):
        return TikTokTarget(TargetKind.SHORT_LINK, hosts.short_link_url(short["code"], url))
    if share := _SHARE_PATH.fullmatch(path):
        return TikTokTarget(TargetKind.ROOM, check_room_id(share["room"]))
    if profile := _PROFILE_PATH.fullmatch(path):
        try:
            return TikTokTarget(TargetKind.USER, check_user(profile["user"]))
        except InvalidInput as exc:
            raise InvalidUrl(exc.message, details={"url": url[:200]}) from exc
    raise InvalidUrl(
        "not a TikTok LIVE URL: give https://www.tiktok.com/@<user>/live, a profile, a share or a short link",
        details={"url": url[:200]},
    )


def user_from_url(url: str, hosts: TikTokHosts) -> TikTokTarget:
    """Where a short link led: a LIVE/profile/share URL on a TikTok host (never another short link)."""
    if not hosts.is_tiktok_url(url):
        raise InvalidUrl("the short link does not lead to TikTok", details={"url": url[:200]})
    parsed = _parse_url(url, hosts)
    if parsed.kind is TargetKind.SHORT_LINK:
        raise InvalidUrl("the short link leads to another short link", details={"url": url[:200]})
    return parsed
