"""The TikTok LIVE source: target → live room → the FLV (or HLS) URL to record.

A user is resolved with `api-live/user/room`, which names the room and, when live, carries the stream
data; `webcast/room/info` is asked when it does not (restricted rooms) and for room ids. The chosen URL
is checked with a HEAD on the CDN (no API budget) and the next candidate is tried when it does not
serve. Failures are statuses with a code and advice (see `markers`); only invalid input raises.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from livevault.domain.stream import LiveState, LiveStatus, StreamFormat, StreamInfo
from livevault.errors import LiveOffline, LivevaultError, SourceError, SourceUnreachable
from livevault.sources.tiktok import markers
from livevault.sources.tiktok.api import CallContext, TikTokApi
from livevault.sources.tiktok.batch import BatchChecker, UserRooms, status_of
from livevault.sources.tiktok.budget import RequestBudget
from livevault.sources.tiktok.cookies import CookieFiles, cookie_header
from livevault.sources.tiktok.payloads import Room, read_room_info, read_user_room
from livevault.sources.tiktok.streams import Choice, rank
from livevault.sources.tiktok.targets import (
    DEFAULT_WEB_URL,
    TargetKind,
    TikTokHosts,
    TikTokTarget,
    looks_like_tiktok,
    parse_target,
    user_from_url,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    import aiohttp

    from livevault.sources.base import ResolveRequest
    from livevault.sources.tiktok.api import Probe

log = logging.getLogger(__name__)

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
MAX_PROBES = 4
_ACCEPTED_PROBE_STATUSES = frozenset({405, 501})  # a CDN that does not do HEAD: cannot tell, take the URL
_MAX_SHORT_LINKS = 4096


@dataclass(frozen=True, slots=True)
class TikTokConfig:
    """What the source needs from Settings (plus knobs tests turn)."""

    web_url: str = DEFAULT_WEB_URL
    webcast_url: str = "https://webcast.tiktok.com"
    timeout: float = 10.0
    requests_per_min: int = 600
    prefer_h265: bool = False
    secrets_dir: Path | None = None
    user_agent: str = BROWSER_USER_AGENT
    user_ttl: float = 300.0
    """How long a user's room id is reused by `check_many` (a new LIVE is seen within this time)."""
    batch_size: int = 50
    """Room ids per `check_alive` request (LIVEVAULT_WATCHER_BATCH_SIZE; TikTok documents no limit)."""
    probe: bool = True
    """HEAD the chosen media URL before answering, and fall back to the next candidate when it fails."""


class TikTokSource:
    """TikTok LIVE by room id, `@user`, LIVE / profile / share URL or short link."""

    name: ClassVar[str] = "tiktok"

    def __init__(self, http: aiohttp.ClientSession, config: TikTokConfig | None = None,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or TikTokConfig()
        self.hosts = TikTokHosts(self.config.web_url)
        self.budget = RequestBudget(self.config.requests_per_min, clock)
        self.api = TikTokApi(http, web_url=self.config.web_url, webcast_url=self.config.webcast_url,
                             timeout=self.config.timeout, budget=self.budget)
        self.user_rooms = UserRooms(self.config.user_ttl, clock)
        self._cookie_files = CookieFiles(self.config.secrets_dir)
        self._short_links: dict[str, TikTokTarget] = {}
        self._checker = BatchChecker(self.api, self.user_rooms, batch_size=self.config.batch_size,
                                     expand=self._expand)

    def matches(self, target: str) -> bool:
        return looks_like_tiktok(target, self.hosts)

    def parse(self, target: str) -> TikTokTarget:
        """The target as a room id, user or short link; the API may call this to refuse bad input early.

        Raises:
            InvalidRoomId, InvalidUrl, InvalidInput: see `targets.parse_target`.
        """
        return parse_target(target, self.hosts)

    def context(self, request: ResolveRequest) -> CallContext:
        """Headers and proxy for TikTok: a browser User-Agent, Referer, the cookies file's cookies.

        Raises:
            InvalidInput: a cookies file outside LIVEVAULT_SECRETS_DIR, missing or unparsable.
        """
        web = self.hosts.web_base
        headers = {"User-Agent": self.config.user_agent, "Referer": f"{web}/", "Origin": web,
                   "Accept-Language": "en-US,en;q=0.9"}
        cookies_file = request.options.get("cookies")
        if cookies_file:
            jar = self._cookie_files.load(str(cookies_file))
            if jar:
                headers["Cookie"] = cookie_header(jar)
        headers.update(request.headers)
        return CallContext(headers, request.proxy)

    async def resolve(self, request: ResolveRequest) -> LiveStatus:
        target = self.parse(request.target)
        ctx = self.context(request)
        try:
            if target.kind is TargetKind.SHORT_LINK:
                target = await self._expand(target.value, ctx)
            room = await self._live_room(target, ctx)
            stream = await self._stream(room, request, ctx)
        except SourceError as exc:
            level = logging.DEBUG if isinstance(exc, LiveOffline) else logging.INFO
            log.log(level, "tiktok target not recordable", extra={"target": request.target[:200], "code": exc.code})
            status = status_of(exc)
            if exc.details.get("inferred_from") == "stream_urls":  # the API says LIVE; the CDN says 404
                status = replace(status, inferred=True)
            return status
        return LiveStatus(LiveState.LIVE, stream=stream)

    async def check_many(self, requests: Sequence[ResolveRequest]) -> list[LiveStatus]:
        """Live / offline / error per request, in order, with as few TikTok requests as possible.

        Invalid targets are ERROR statuses here (one bad watcher must not fail the batch). LIVE results
        carry no StreamInfo; `resolve()` the ones to record.
        """
        results: dict[int, LiveStatus] = {}
        items: list[tuple[int, TikTokTarget, CallContext]] = []
        for index, request in enumerate(requests):
            try:
                items.append((index, self.parse(request.target), self.context(request)))
            except LivevaultError as exc:
                results[index] = status_of(exc)
        results.update(await self._checker.check(items))
        return [results[index] for index in range(len(requests))]

    async def _expand(self, url: str, ctx: CallContext) -> TikTokTarget:
        """The room or user a short link leads to (remembered: short links do not change)."""
        known = self._short_links.get(url)
        if known is None:
            known = user_from_url(await self.api.follow_short_link(url, ctx), self.hosts)
            if len(self._short_links) >= _MAX_SHORT_LINKS:
                self._short_links.clear()
            self._short_links[url] = known
        return known

    async def _live_room(self, target: TikTokTarget, ctx: CallContext) -> Room:
        if target.kind is TargetKind.ROOM:
            payload = await self.api.room_info(target.value, ctx)
            return read_room_info(payload, target.value, what=f"TikTok LIVE room {target.value}", by_room=True)
        user = target.value
        room = read_user_room(await self.api.user_room(user, ctx), user)
        self.user_rooms.put(user, room.room_id)
        if not room.live:
            raise markers.offline(f"@{user}")
        if room.candidates:
            return room
        info = read_room_info(await self.api.room_info(room.room_id, ctx), room.room_id,
                              what=f"the LIVE of @{user}", by_room=False)
        return replace(info, user=info.user or room.user, nickname=info.nickname or room.nickname,
                       title=info.title or room.title)

    async def _stream(self, room: Room, request: ResolveRequest, ctx: CallContext) -> StreamInfo:
        options: Mapping[str, Any] = request.options
        fmt = StreamFormat.HLS if str(options.get("format", "")).lower() == "hls" else StreamFormat.FLV
        codec = str(options.get("codec", "")).lower()
        prefer_h265 = codec in {"h265", "hevc"} or (self.config.prefer_h265 and codec not in {"h264", "avc"})
        choices = rank(room.candidates, request.quality, prefer_h265=prefer_h265, fmt=fmt)
        what = f"@{room.user}" if room.user else f"TikTok LIVE room {room.room_id}"
        if not choices:
            raise SourceUnreachable(f"TikTok says {what} is LIVE but gave no stream URL; try again in a minute.",
                                    details={"room_id": room.room_id})
        probe = self.config.probe and options.get("probe") is not False
        choice = await self._first_serving(choices, ctx, what) if probe else choices[0]
        headers = {"User-Agent": ctx.headers.get("User-Agent", self.config.user_agent),
                   "Referer": f"{self.hosts.web_base}/"}
        headers.update({k: v for k, v in ctx.headers.items() if k.lower() not in {"origin", "accept-language"}})
        return StreamInfo(
            url=choice.url, format=choice.format, headers=headers, quality=choice.candidate.sdk_key,
            title=room.title, author=room.user or room.nickname, proxy=request.proxy,
            extra={"room_id": room.room_id, "user": room.user, "nickname": room.nickname,
                   "sdk_key": choice.candidate.sdk_key, "codec": choice.candidate.codec, "target": request.target},
        )

    async def _first_serving(self, choices: Sequence[Choice], ctx: CallContext, what: str) -> Choice:
        """The first candidate whose URL answers a HEAD; the next level when one does not."""
        probes: list[Probe] = []
        for choice in choices[:MAX_PROBES]:
            probe = await self.api.probe(choice.url, ctx)
            if probe.ok or probe.status in _ACCEPTED_PROBE_STATUSES:
                return choice
            log.info("tiktok stream URL not served, trying the next",
                     extra={"sdk_key": choice.candidate.sdk_key, "status": probe.status})
            probes.append(probe)
        raise _probe_failure(probes, what)


def _probe_failure(probes: list[Probe], what: str) -> SourceError:
    statuses = [p.status for p in probes]
    refused = [s for s in statuses if s in {401, 403}]
    if refused:
        return markers.refused(refused[0], "the stream URL (an expired signature or an IP block)")
    if statuses and all(s in {404, 410} for s in statuses):
        # TikTok's API said LIVE: the CDN not (yet, or for a moment) serving it is no proof the LIVE ended
        return LiveOffline(f"TikTok says {what} is LIVE, but every stream URL answered HTTP {statuses[0]}: the "
                           f"LIVE has likely just ended or not started yet; try again in a minute.",
                           details={"inferred_from": "stream_urls", "statuses": statuses})
    errors = [p.error for p in probes if p.error is not None]
    if errors:
        return errors[0]
    return markers.server_error(max(statuses), "the stream URL")
