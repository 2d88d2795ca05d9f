"""HTTP calls to TikTok's web and webcast endpoints (research/tiktok.md §3), failures mapped by `markers`.

Every API request takes a token from the request budget first, never follows redirects (a 3xx is the
blacklist / login-wall marker) and goes through the request's proxy. Media probes (HEAD on a CDN URL)
are not API requests and take no token.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import yarl

from livevault.errors import InvalidUrl, NetworkTimeout, SourceNotFound, SourceUnreachable
from livevault.sources.tiktok import markers
from livevault.sources.tiktok.budget import retry_after_seconds

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from livevault.errors import SourceError
    from livevault.sources.tiktok.budget import RequestBudget

log = logging.getLogger(__name__)

AID = "1988"
MAX_BODY_BYTES = 4 * 1024 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SHORT_LINK_AGENT = "facebookexternalhit/1.1"
_BODY_LIVE_URL = re.compile(r"com/@(?P<user>[\w.-]{1,64})/live", re.ASCII)


@dataclass(frozen=True, slots=True)
class CallContext:
    """How to reach TikTok for one request: headers (User-Agent, Referer, Cookie…) and the proxy."""

    headers: Mapping[str, str] = field(default_factory=dict)
    proxy: str | None = None

    @property
    def key(self) -> tuple[str | None, str]:
        """Requests with equal keys may share one batched call."""
        return self.proxy, self.headers.get("Cookie", "")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str
    location: str = ""
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """A HEAD on a media URL: its status, or the error that stopped it."""

    status: int = 0
    error: SourceError | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _exact(url: str) -> yarl.URL | str:
    """A signed CDN URL sent as written (no re-quoting of its query), when it is plain ASCII."""
    if url.isascii() and url.isprintable() and " " not in url:
        try:
            return yarl.URL(url, encoded=True)
        except ValueError:
            return url
    return url


async def _read_limited(resp: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
    return b"".join(chunks)


class TikTokApi:
    def __init__(self, http: aiohttp.ClientSession, *, web_url: str, webcast_url: str, timeout: float,
                 budget: RequestBudget) -> None:
        self._http = http
        self.web_url = web_url.rstrip("/")
        self.webcast_url = webcast_url.rstrip("/")
        self._timeout = timeout
        self._budget = budget

    async def _get(self, url: str, params: Mapping[str, str] | None, ctx: CallContext, where: str,
                   *, headers: Mapping[str, str] | None = None, redirect_ok: bool = False) -> Answer:
        wait = self._budget.take(ctx.proxy)
        if wait > 0:
            raise markers.over_budget(self._budget.per_minute, wait)
        try:
            async with self._http.get(
                url, params=params, headers={**ctx.headers, **(headers or {})}, proxy=ctx.proxy,
                allow_redirects=False, timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as resp:
                body = await _read_limited(resp)
                answer = Answer(resp.status, body.decode("utf-8", errors="replace"),
                                resp.headers.get("Location", ""), resp.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise NetworkTimeout(
                f"TikTok did not answer {where} within {self._timeout:g} s; check the network or the proxy.",
                details={"endpoint": where},
            ) from exc
        except aiohttp.ClientError as exc:
            host = urlsplit(url).hostname
            raise SourceUnreachable(
                f"cannot reach TikTok ({host}) for {where}: {type(exc).__name__}; check the network or the proxy.",
                details={"endpoint": where},
            ) from exc
        log.debug("tiktok answered", extra={"endpoint": where, "status": answer.status})
        return self._check_status(answer, ctx, where, redirect_ok=redirect_ok)

    def _check_status(self, answer: Answer, ctx: CallContext, where: str, *, redirect_ok: bool) -> Answer:
        if answer.status in REDIRECT_STATUSES:
            if redirect_ok:
                return answer
            raise markers.redirected(answer.status, answer.location, where)
        if answer.status == 429:
            wait = retry_after_seconds(answer.retry_after)
            self._budget.pause(ctx.proxy, wait)
            raise markers.throttled(wait, where)
        if answer.status in {401, 403}:
            raise markers.refused(answer.status, where)
        if answer.status >= 300:
            raise markers.server_error(answer.status, where)
        return answer

    async def _json(self, url: str, params: Mapping[str, str], ctx: CallContext, where: str,
                    *, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        answer = await self._get(url, params, ctx, where, headers=headers)
        text = answer.text.strip()
        if not text.startswith("{"):
            reason = markers.looks_blocked(text) or "an HTML page instead of JSON"
            raise markers.blocked_body(reason, where)
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise SourceUnreachable(f"TikTok answered {where} with broken JSON; try again later.",
                                    details={"endpoint": where}) from exc
        if not isinstance(payload, dict):
            raise SourceUnreachable(f"TikTok answered {where} with unexpected JSON.", details={"endpoint": where})
        return payload

    async def user_room(self, user: str, ctx: CallContext) -> dict[str, Any]:
        """E4 `api-live/user/room`: the user, their room id, its status and (when live) the stream data."""
        params = {"aid": AID, "uniqueId": user, "sourceType": "54", "staleTime": "600000"}
        return await self._json(f"{self.web_url}/api-live/user/room/", params, ctx, "api-live/user/room",
                                headers={"Referer": f"{self.web_url}/@{user}/live"})

    async def room_info(self, room_id: str, ctx: CallContext) -> dict[str, Any]:
        """E6 `webcast/room/info`: room status, owner and stream URLs; 4003110 when restricted."""
        params = {"aid": AID, "room_id": room_id}
        return await self._json(f"{self.webcast_url}/webcast/room/info/", params, ctx, "webcast/room/info")

    async def check_alive(self, room_ids: Sequence[str], ctx: CallContext) -> dict[str, bool]:
        """E5 `webcast/room/check_alive` for many rooms in one request; rooms missing from the answer are not alive."""
        params = {"aid": AID, "room_ids": ",".join(room_ids)}
        payload = await self._json(f"{self.webcast_url}/webcast/room/check_alive/", params, ctx,
                                   "webcast/room/check_alive")
        code = payload.get("status_code", 0)
        if code not in (0, None):
            raise markers.api_error(code, payload.get("message"), "webcast/room/check_alive")
        alive = dict.fromkeys(room_ids, False)
        entries = payload.get("data")
        if not isinstance(entries, list):
            return alive
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            room = str(entry.get("room_id_str") or entry.get("room_id") or "")
            if not room and position < len(room_ids):
                room = room_ids[position]
            if room in alive:
                alive[room] = entry.get("alive") is True
        return alive

    async def follow_short_link(self, url: str, ctx: CallContext) -> str:
        """E8: where a short link leads (its `Location`, or the URL its body names), without following it."""
        try:
            answer = await self._get(url, None, ctx, "the short link", headers={"User-Agent": _SHORT_LINK_AGENT},
                                     redirect_ok=True)
        except SourceUnreachable as exc:
            if exc.details.get("status") in {404, 410}:
                raise SourceNotFound("the TikTok short link does not exist (HTTP 404); check the link.",
                                     details={"status": exc.details["status"]}) from exc
            raise
        if not answer.location:
            found = _BODY_LIVE_URL.search(answer.text)
            if found is None and (reason := markers.looks_blocked(answer.text)):
                raise markers.blocked_body(reason, "the short link")
            if found is None:
                raise InvalidUrl("the short link does not lead to a TikTok LIVE", details={"url": url[:200]})
            return f"{self.web_url}/@{found['user']}/live"
        target = urljoin(url, answer.location)
        if urlsplit(target).path.rstrip("/").startswith(("/login", "/passport")):
            raise markers.redirected(answer.status, target, "the short link")
        return target

    async def probe(self, url: str, ctx: CallContext) -> Probe:
        """HEAD on a media URL (CDN, no budget): is it served right now?"""
        try:
            async with self._http.head(
                _exact(url), headers=ctx.headers, proxy=ctx.proxy, allow_redirects=True,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as resp:
                return Probe(resp.status)
        except TimeoutError:
            return Probe(error=NetworkTimeout(
                f"the TikTok CDN did not answer within {self._timeout:g} s; check the network or the proxy."
            ))
        except aiohttp.ClientError as exc:
            return Probe(error=SourceUnreachable(
                f"cannot reach the TikTok CDN ({urlsplit(url).hostname}): {type(exc).__name__}."
            ))
