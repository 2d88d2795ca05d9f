"""TikTok's failure markers (research/tiktok.md §6) as livevault errors whose messages say what to do.

| marker                                              | error             | code              |
|-----------------------------------------------------|-------------------|-------------------|
| 3xx on an API/page request (blacklist, login wall)  | SourceBlocked     | SOURCE_BLOCKED    |
| WAF / captcha HTML, empty body, region discontinued | SourceBlocked     | SOURCE_BLOCKED    |
| HTTP 401 / 403                                      | SourceBlocked     | SOURCE_BLOCKED    |
| HTTP 429 (or livevault's own request budget)        | SourceRateLimited | RATE_LIMITED      |
| `statusCode` 19881007 / `user_not_found`            | SourceNotFound    | NOT_FOUND         |
| room/info without owner and status                  | SourceNotFound    | NOT_FOUND         |
| `status_code` 4003110 (`{"prompts": ""}`)           | LoginRequired     | LOGIN_REQUIRED    |
| "Follow the creator to watch their LIVE"            | LoginRequired     | LOGIN_REQUIRED    |
| `liveRoom.status` / `data.status` 4, no room id     | LiveOffline       | LIVE_OFFLINE      |
| timeout                                             | NetworkTimeout    | NETWORK_TIMEOUT   |
| connection failure, 5xx, other API errors           | SourceUnreachable | SOURCE_UNREACHABLE|
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from livevault.errors import (
    LiveOffline,
    LoginRequired,
    SourceBlocked,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceUnreachable,
)

USER_NOT_FOUND_CODE = 19881007
RESTRICTED_CODE = 4003110
FOLLOW_PROMPT = "Follow the creator to watch their LIVE"
_WAF_MARKERS = ("Please wait", "SlardarWAF", "slardar_us_waf", "_wafchallengeid", 'id="wci"')
_REGION_MARKER = "we have discontinued operating TikTok"

ADVICE_BLOCKED = (
    "use a proxy (options.proxy), add login cookies (a file under LIVEVAULT_SECRETS_DIR, options.cookies) "
    "or poll less often"
)
ADVICE_COOKIES = (
    "export the cookies of a logged-in TikTok account (sessionid) to a file under LIVEVAULT_SECRETS_DIR "
    "and pass its name as options.cookies"
)


def looks_blocked(body: str) -> str | None:
    """Why a body is TikTok's WAF / captcha / region wall instead of an answer, or None."""
    if not body.strip():
        return "an empty answer (TikTok's WAF)"
    head = body[:20000]
    if _REGION_MARKER in head:
        return "a notice that TikTok is not available in this IP's region"
    if any(marker in head for marker in _WAF_MARKERS):
        return "its WAF / captcha page"
    return None


def blocked_body(reason: str, where: str) -> SourceBlocked:
    return SourceBlocked(f"TikTok answered {where} with {reason}: this IP is challenged or blocked; {ADVICE_BLOCKED}.",
                         details={"endpoint": where})


def redirected(status: int, location: str, where: str) -> SourceBlocked:
    path = urlsplit(location).path or location[:100] or "elsewhere"
    return SourceBlocked(
        f"TikTok redirected {where} to {path!r} (HTTP {status}) instead of answering: the country or IP is "
        f"blacklisted or a login wall is up; use a proxy in another region, a room id, or login cookies "
        f"(a file under LIVEVAULT_SECRETS_DIR, options.cookies).",
        details={"endpoint": where, "status": status, "location_path": path},
    )


def refused(status: int, where: str) -> SourceBlocked:
    return SourceBlocked(
        f"TikTok refused {where} (HTTP {status}): this IP is blocked; use a proxy (options.proxy) or wait a few "
        f"minutes and poll less often.",
        details={"endpoint": where, "status": status},
    )


def throttled(retry_after: float, where: str) -> SourceRateLimited:
    return SourceRateLimited(
        f"TikTok is rate limiting this IP (HTTP 429 on {where}); retry in {retry_after:.0f} s, poll less often "
        f"(a longer watcher poll_interval) or use a proxy.",
        details={"endpoint": where, "retry_after": retry_after},
    )


def over_budget(per_minute: int, wait: float) -> SourceRateLimited:
    return SourceRateLimited(
        f"livevault's TikTok request budget (LIVEVAULT_TIKTOK_REQUESTS_PER_MIN={per_minute}) is used up, so "
        f"TikTok was not asked; retry in {wait:.0f} s, poll less often or raise the budget.",
        details={"retry_after": round(wait, 1)},
    )


def server_error(status: int, where: str) -> SourceUnreachable:
    return SourceUnreachable(f"TikTok answered {where} with HTTP {status}; try again later.",
                             details={"endpoint": where, "status": status})


def user_not_found(user: str) -> SourceNotFound:
    return SourceNotFound(
        f"TikTok user @{user} does not exist or cannot go LIVE; check the spelling of the user name.",
        details={"user": user},
    )


def room_not_found(room_id: str) -> SourceNotFound:
    return SourceNotFound(
        f"TikTok knows no LIVE room {room_id}; room ids change with every LIVE, so record the user instead.",
        details={"room_id": room_id},
    )


def restricted(what: str) -> LoginRequired:
    return LoginRequired(
        f"{what} is restricted (age-gated, private or login-only; TikTok status {RESTRICTED_CODE}); {ADVICE_COOKIES}.",
        details={"status_code": RESTRICTED_CODE},
    )


def follow_only(what: str) -> LoginRequired:
    return LoginRequired(
        f"{what} is a private account: only followers can watch its LIVE; pass cookies of an account that follows "
        f"it (a file under LIVEVAULT_SECRETS_DIR, options.cookies).",
    )


def offline(what: str, *, ended: bool = False) -> LiveOffline:
    if ended:
        return LiveOffline(f"{what} has ended; a TikTok room id belongs to one LIVE, so record the user instead.")
    return LiveOffline(f"{what} is not LIVE right now.")


def api_error(code: Any, message: Any, where: str) -> SourceError:
    return SourceUnreachable(f"TikTok API error {code} ({message or 'no message'}) from {where}; try again later.",
                             details={"endpoint": where, "status_code": code})
