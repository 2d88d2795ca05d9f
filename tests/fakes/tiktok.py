"""A fake TikTok: a real aiohttp server in a daemon thread answering like research/tiktok.md §3-4.

Media is real: stream URLs point at the fake's CDN paths, which proxy a ``StreamServer`` stream
(``/live/<stream>/stream.flv`` for FLV; ``hi``/``lo`` HLS playlists and segments), so scenarios can cut,
stall or refuse them while the API keeps saying "live".

    with StreamServer() as media, FakeTikTok(media.base_url) as tiktok:
        media.stream("alice", segment_duration=0.5)
        tiktok.add_user("alice", "7000000000000000001", live=True)
        settings = make_settings(tmp, tiktok_web_url=tiktok.base_url, tiktok_webcast_url=tiktok.base_url)
        ...
        tiktok.set_scenario("alice", "drop", seconds=3)    # FLV cut, media 503 for 3 s, API still live
        tiktok.end_live("alice")                            # API offline, FLV bodies end, media 404
        assert [r.path for r in tiktok.requests_for("alice")] ...

Public API (stable; watcher tests and benchmarks use it):
    FakeTikTok(stream_base_url, host="127.0.0.1", port=0); start() / stop() / context manager; .base_url
        (serves both the web host and the webcast host: use it for LIVEVAULT_TIKTOK_WEB_URL and _WEBCAST_URL)
    add_user(user, room_id, *, live=False, scenario="live", stream=None, nickname=None, title=None,
             qualities=None, broken_qualities=())
        stream: the StreamServer stream name (default: the user name). qualities: sdk keys offered
        (default all of origin, uhd_60, hd_60, hd, sd, ld; `ao` audio-only is always added, as TikTok does).
        broken_qualities: sdk keys whose media URLs answer 404 (quality fallback).
    set_scenario(user_or_room, scenario, **kw)   "*" sets the scenario for every request (an IP-wide block)
    go_live(user, *, room_id=None)               room_id: start the LIVE in a new room (TikTok does, each LIVE)
    end_live(user)                               API offline; open FLV bodies end cleanly; media 404
    add_short_link(code, user)                   /t/<code> answers 301 to <base>/@<user>/live
    requests -> list[FakeRequest]                every request, oldest first (thread-safe copy)
    requests_for(user_or_room, path=None)        those naming the user or its room (also inside a batched
                                                 check_alive), optionally only paths starting with `path`
    clear_requests(); media_connections(user) -> open proxied media bodies; room_of(user)

FakeRequest: time (time.monotonic() when the answer started), method, path, query (dict), user, room_id,
room_ids (tuple; check_alive), status, cookies (names only).

Endpoints: GET /live (E1), /@<user>/live (E2, SIGI_STATE), /@<user> (E3), /api-live/user/room[/] (E4),
/webcast/room/check_alive[/] (E5, any number of comma-separated room_ids), /webcast/room/info[/] (E6),
/t/<code>[/] (E8), /login; media GET/HEAD /cdn/stage/stream-<room>[_<suffix>].flv,
/cdn/stage/stream-<room>[_<suffix>]/playlist.m3u8 and its segments. `stream_data` and `sdk_params` are
JSON strings, as TikTok sends them.

Scenarios (kw in brackets):
    live            normal; the API follows go_live / end_live
    offline         every endpoint says offline (status 4, alive false); media 404
    drop            [seconds=5, status=503] open media bodies are cut now; media answers `status` for
                    `seconds`; the API keeps saying live. status=404 is TikTok's CDN blip: the room stays
                    live while every pull URL answers 404 for a few seconds
    timeout         [seconds=30] media requests (HEAD and GET) get no answer at all for `seconds`
    stall           [seconds=30] media sends no bytes for `seconds` (open bodies pause, new ones hang)
    stream_forbidden  media answers 403 (expired sign / IP block); the API says live
    waf             every API/page request naming the user (a whole check_alive batch containing its room)
                    answers 200 with the WAF/captcha HTML
    blacklist       www endpoints (/live, pages, api-live/user/room, short links) answer 302 to /login;
                    webcast endpoints still answer (as for a blacklisted country)
    rate_limit      [retry_after=60] API/page requests naming the user answer 429 with Retry-After
    user_not_found  user/room: statusCode 19881007 "user_not_found"; room/info: no owner (unknown room)
    login_required  user/room: live without stream data; room/info: 4003110 {"prompts": ""}, unless the
                    request carries a non-empty `sessionid` or `sessionid_ss` cookie
    private         like login_required, but room/info names "Follow the creator to watch their LIVE"
    h265_only       stream data offers H.265 only (user/room: hevcStreamData; room/info: VCodec h265)
    h265_h264       both (user/room: streamData + hevcStreamData; room/info: origin and uhd_60 are H.265)
Media is always the StreamServer's H.264: the H.265 scenarios test the choice, not the decoding.
A room keeps its id across LIVEs unless go_live(room_id=…) moves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

SCENARIOS = frozenset({
    "live", "offline", "drop", "stall", "timeout", "stream_forbidden", "waf", "blacklist", "rate_limit",
    "user_not_found", "login_required", "private", "h265_only", "h265_h264",
})
ALL = "*"
QUALITIES = {  # sdk_key: (name, level, resolution, vbitrate, URL suffix)
    "origin": ("Original", 10, "1920x1080", 4_000_000, ""),
    "uhd_60": ("1080p60", 6, "1920x1080", 3_000_000, "uhd560"),
    "hd_60": ("720p60", 4, "1280x720", 2_000_000, "hd560"),
    "hd": ("720p", 3, "1280x720", 1_500_000, "hd5"),
    "sd": ("540p", 2, "960x540", 800_000, "sd5"),
    "ld": ("360p", 1, "640x360", 500_000, "ld5"),
    "ao": ("", 0, "", 0, ""),
}
_SUFFIX_KEYS = {spec[4]: key for key, spec in QUALITIES.items() if spec[4]} | {"uhd": "uhd_60", "hd": "hd",
                                                                              "sd": "sd", "ld": "ld"}
LEGACY = {"FULL_HD1": "uhd_60", "HD1": "hd", "SD2": "sd", "SD1": "ld"}
FOLLOW_PROMPT = "Follow the creator to watch their LIVE"
WAF_PAGE = (
    '<!DOCTYPE html><html><head><script id="slardar-config" type="application/json">{"slardarClient":"SlardarWAF",'
    '"bid":"slardar_us_waf"}</script></head><body><p>Please wait...</p><p id="wci" class="_wafchallengeid"></p>'
    '<p id="cs" class="eyJ2Ijp7ImEiOiJhYmMiLCJjIjoiMDAwIn19"></p></body></html>'
)
_TIMED = frozenset({"drop", "stall", "timeout"})
_BLOCKING = ("rate_limit", "waf", "blacklist")
_MAX_RECORDS = 200_000


@dataclass(frozen=True, slots=True)
class FakeRequest:
    time: float
    method: str
    path: str
    query: dict[str, str]
    user: str | None = None
    room_id: str | None = None
    room_ids: tuple[str, ...] = ()
    status: int = 0
    cookies: tuple[str, ...] = ()


@dataclass(slots=True, eq=False)
class _Conn:
    transport: asyncio.Transport | None
    task: asyncio.Task[Any] | None = None
    ended: bool = False


@dataclass(slots=True, eq=False)
class _User:
    user: str
    room_id: str
    live: bool
    stream: str
    nickname: str
    title: str
    qualities: tuple[str, ...]
    broken: frozenset[str]
    scenario: str = "live"
    kw: dict[str, Any] = field(default_factory=dict)
    until: float = 0.0
    connections: set[_Conn] = field(default_factory=set)
    playlists: dict[str, str] = field(default_factory=dict)


def _ms() -> int:
    return int(time.time() * 1000)


class FakeTikTok:
    def __init__(self, stream_base_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.stream_base_url = stream_base_url.rstrip("/")
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._users: dict[str, _User] = {}
        self._rooms: dict[str, _User] = {}
        self._links: dict[str, str] = {}
        self._global: tuple[str, dict[str, Any], float] = ("live", {}, 0.0)
        self._log: list[FakeRequest] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._thread is None:
            raise RuntimeError("the fake TikTok is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeTikTok:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fake-tiktok", daemon=True)
            self._thread.start()
            self._ready.wait()
            if self._error is not None:
                self._thread = None
                raise RuntimeError(f"the fake TikTok could not start: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeTikTok:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        app = web.Application()
        app.on_response_prepare.append(self._record)
        routes = [
            ("/live", self._live_probe), ("/login", self._login), ("/api-live/user/room", self._user_room),
            ("/api-live/user/room/", self._user_room), ("/webcast/room/info", self._room_info),
            ("/webcast/room/info/", self._room_info), ("/webcast/room/check_alive", self._check_alive),
            ("/webcast/room/check_alive/", self._check_alive), ("/t/{code}", self._short_link),
            ("/t/{code}/", self._short_link), ("/@{user}/live", self._live_page), ("/@{user}", self._profile),
            ("/cdn/stage/{name:stream-[0-9]+(?:_[a-z0-9]+)?}.flv", self._flv),
            ("/cdn/stage/{name:stream-[0-9]+(?:_[a-z0-9]+)?}/playlist.m3u8", self._playlist),
            ("/cdn/stage/{name:stream-[0-9]+(?:_[a-z0-9]+)?}/{segment}", self._segment),
        ]
        for path, handler in routes:
            app.router.add_get(path, handler)
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        with self._lock:
            users = list(self._users.values())
        tasks = [c.task for user in users for c in user.connections if c.task is not None]
        for user in users:
            self._cut(user, abort=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- control (any thread) -------------------------------------------------------------------

    def add_user(self, user: str, room_id: str, *, live: bool = False, scenario: str = "live",
                 stream: str | None = None, nickname: str | None = None, title: str | None = None,
                 qualities: list[str] | tuple[str, ...] | None = None,
                 broken_qualities: list[str] | tuple[str, ...] = ()) -> None:
        name = user.lstrip("@").lower()
        offered = tuple(q for q in (qualities or QUALITIES) if q != "ao")
        unknown = set(offered) - set(QUALITIES)
        if unknown:
            raise ValueError(f"unknown sdk keys {sorted(unknown)}; use {sorted(QUALITIES)}")
        entry = _User(name, str(room_id), live, stream or name, nickname or name.title(), title or f"{name} LIVE",
                      offered, frozenset(broken_qualities))
        with self._lock:
            self._users[name] = entry
            self._rooms[entry.room_id] = entry
        self.set_scenario(name, scenario)

    def set_scenario(self, user_or_room: str, scenario: str, **kw: Any) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; use one of {sorted(SCENARIOS)}")
        until = time.monotonic() + float(kw.get("seconds", 5 if scenario == "drop" else 30))
        if user_or_room == ALL:
            self._global = (scenario, dict(kw), until)
            with self._lock:
                entries = list(self._users.values())
        else:
            entries = [self._entry(user_or_room)]
            entries[0].scenario, entries[0].kw, entries[0].until = scenario, dict(kw), until
        if scenario in {"drop", "offline", "user_not_found"}:
            for entry in entries:
                self._in_loop(lambda entry=entry: self._cut(entry, abort=scenario == "drop"))

    def go_live(self, user: str, *, room_id: str | None = None) -> None:
        entry = self._entry(user)
        with self._lock:
            if room_id is not None:
                self._rooms.pop(entry.room_id, None)
                entry.room_id = str(room_id)
                self._rooms[entry.room_id] = entry
            entry.playlists.clear()
            entry.live = True

    def end_live(self, user: str) -> None:
        entry = self._entry(user)
        entry.live = False
        self._in_loop(lambda: self._cut(entry, abort=False))

    def add_short_link(self, code: str, user: str) -> None:
        name = self._entry(user).user
        with self._lock:
            self._links[code] = name

    def room_of(self, user: str) -> str:
        return self._entry(user).room_id

    def media_connections(self, user: str) -> int:
        return len(self._entry(user).connections)

    @property
    def requests(self) -> list[FakeRequest]:
        with self._lock:
            return list(self._log)

    def requests_for(self, user_or_room: str, path: str | None = None) -> list[FakeRequest]:
        entry = self._entry(user_or_room)
        return [
            r for r in self.requests
            if (r.user == entry.user or r.room_id == entry.room_id or entry.room_id in r.room_ids)
            and (path is None or r.path.startswith(path))
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def _entry(self, user_or_room: str) -> _User:
        key = user_or_room.lstrip("@").lower()
        with self._lock:
            entry = self._users.get(key) or self._rooms.get(key)
        if entry is None:
            raise KeyError(f"no fake TikTok user or room {user_or_room!r}")
        return entry

    def _in_loop(self, callback: Any) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(callback)

    def _cut(self, entry: _User, *, abort: bool) -> None:
        """End (cleanly, or by resetting the TCP connection) every open media body of `entry` (event loop)."""
        for conn in list(entry.connections):
            conn.ended = True
            if abort and conn.transport is not None:
                conn.transport.abort()

    # --- state ----------------------------------------------------------------------------------

    def _scenario(self, entry: _User | None) -> tuple[str, dict[str, Any]]:
        """The scenario in force for `entry` (its own, else the global one); timed ones lapse."""
        now = time.monotonic()
        if entry is not None and entry.scenario != "live" and not (entry.scenario in _TIMED and now >= entry.until):
            return entry.scenario, entry.kw
        scenario, kw, until = self._global
        if scenario in _TIMED and now >= until:
            return "live", {}
        return scenario, kw

    def _until(self, entry: _User) -> float:
        return entry.until if entry.scenario in _TIMED else self._global[2]

    def _is_live(self, entry: _User | None) -> bool:
        return entry is not None and entry.live and self._scenario(entry)[0] not in {"offline", "user_not_found"}

    def _restricted(self, entry: _User, request: web.Request) -> str | None:
        scenario = self._scenario(entry)[0]
        if scenario not in {"login_required", "private"}:
            return None
        if any(request.cookies.get(name) for name in ("sessionid", "sessionid_ss")):
            return None
        return scenario

    def _block(self, request: web.Request, entries: list[_User | None], *, www: bool) -> web.Response | None:
        """The IP-level answer (429, WAF, blacklist redirect) when a named user or "*" has one in force."""
        scenarios = {self._scenario(None)[0]: self._scenario(None)[1]}
        for entry in entries:
            name, kw = self._scenario(entry)
            scenarios.setdefault(name, kw)
        for scenario in _BLOCKING:
            if scenario not in scenarios or (scenario == "blacklist" and not www):
                continue
            if scenario == "rate_limit":
                retry = str(int(scenarios[scenario].get("retry_after", 60)))
                return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": retry})
            if scenario == "waf":
                return web.Response(text=WAF_PAGE, content_type="text/html")
            location = f"{self.base_url}/login?redirect_url={request.path}"
            return web.Response(status=302, headers={"Location": location})
        return None

    async def _record(self, request: web.Request, response: web.StreamResponse) -> None:
        query = dict(request.query)
        rooms = tuple(r for r in query.get("room_ids", "").split(",") if r)
        user = (query.get("uniqueId") or request.match_info.get("user") or "").lower() or None
        room = query.get("room_id") or query.get("roomID")
        name = request.match_info.get("name")
        if name:
            room = name.removeprefix("stream-").split("_")[0]
        code = request.match_info.get("code")
        if code:
            user = self._links.get(code)
        record = FakeRequest(time.monotonic(), request.method, request.path, query, user, room, rooms,
                             response.status, tuple(request.cookies))
        with self._lock:
            self._log.append(record)
            if len(self._log) > _MAX_RECORDS:
                del self._log[: _MAX_RECORDS // 2]

    # --- stream data ----------------------------------------------------------------------------

    def _media_url(self, entry: _User, key: str, fmt: str, codec: str = "h264") -> str:
        suffix = QUALITIES[key][4]
        name = f"stream-{entry.room_id}" + (f"_{suffix}" if suffix else "")
        expire = int(time.time()) + 3600
        sign = hashlib.md5(f"{name}{expire}".encode(), usedforsecurity=False).hexdigest()
        query = f"expire={expire}&sign={sign}" + ("&codec=h265" if codec == "h265" else "")
        query += "&only_audio=1" if key == "ao" else ""
        root = f"{self.base_url}/cdn/stage/{name}"
        return f"{root}.flv?{query}" if fmt == "flv" else f"{root}/playlist.m3u8?{query}"

    def _pull_data(self, entry: _User, codec_of: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in (*entry.qualities, "ao"):
            _name, _level, resolution, bitrate, _suffix = QUALITIES[key]
            codec = codec_of(key)
            params = {"VCodec": codec, "vbitrate": bitrate, "resolution": resolution, "gop": 4, "Auto": 0}
            data[key] = {"main": {
                "flv": self._media_url(entry, key, "flv", codec), "hls": self._media_url(entry, key, "hls", codec),
                "cmaf": "", "dash": "", "lls": "", "tsl": "", "tile": "", "rtc": "", "sdk_params": json.dumps(params),
            }}
        qualities = [
            {"icon_type": 0, "level": QUALITIES[k][1], "name": QUALITIES[k][0], "resolution": QUALITIES[k][2],
             "sdk_key": k, "v_codec": codec_of(k)} for k in entry.qualities
        ]
        common = {"session_id": f"fake-{entry.room_id}", "rule_ids": "", "user_count": 561, "peer_anchor_level": 1}
        return {
            "options": {"qualities": qualities, "default_quality": "sd"},
            "stream_data": json.dumps({"common": common, "data": data}),
        }

    def _owner(self, entry: _User, live: bool) -> dict[str, Any]:
        return {"id": f"6{entry.room_id[-18:]}", "uniqueId": entry.user, "nickname": entry.nickname,
                "roomId": entry.room_id, "secUid": f"MS4w-{entry.user}", "status": 2 if live else 4}

    # --- API handlers ---------------------------------------------------------------------------

    def _users_of(self, *keys: str | None) -> list[_User | None]:
        with self._lock:
            return [self._users.get(k.lower()) or self._rooms.get(k) if k else None for k in keys]

    async def _live_probe(self, request: web.Request) -> web.Response:
        return self._block(request, [], www=True) or web.Response(text="<html>LIVE</html>", content_type="text/html")

    async def _login(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>Log in to TikTok</html>", content_type="text/html")

    async def _user_room(self, request: web.Request) -> web.Response:
        name = request.query.get("uniqueId", "").lower()
        entry = self._users_of(name)[0] if name else None
        blocked = self._block(request, [entry], www=True)
        if blocked is not None:
            return blocked
        if entry is None or self._scenario(entry)[0] == "user_not_found":
            return web.json_response({"statusCode": 19881007, "message": "user_not_found", "data": {}})
        live, scenario = self._is_live(entry), self._scenario(entry)[0]
        room: dict[str, Any] = {"status": 2 if live else 4, "title": entry.title, "streamId": f"29{entry.room_id}"}
        if live and self._restricted(entry, request) is None:
            if scenario != "h265_only":
                room["streamData"] = {"pull_data": self._pull_data(entry, lambda _k: "h264")}
            if scenario in {"h265_only", "h265_h264"}:
                room["hevcStreamData"] = {"pull_data": self._pull_data(entry, lambda _k: "h265")}
        data = {"user": self._owner(entry, live), "liveRoom": room}
        return web.json_response({"statusCode": 0, "message": "", "data": data})

    async def _room_info(self, request: web.Request) -> web.Response:
        room_id = request.query.get("room_id", "")
        entry = self._users_of(room_id)[0] if room_id.isdigit() else None
        blocked = self._block(request, [entry], www=False)
        if blocked is not None:
            return blocked
        extra = {"now": _ms()}
        if entry is None or self._scenario(entry)[0] == "user_not_found":
            return web.json_response({"status_code": 0, "data": {}, "extra": extra})
        owner = {"id_str": f"6{entry.room_id[-18:]}", "display_id": entry.user, "nickname": entry.nickname}
        data: dict[str, Any] = {"id_str": entry.room_id, "status": 2, "title": entry.title, "user_count": 561,
                                "owner": owner}
        if not self._is_live(entry):
            data = {"id_str": entry.room_id, "status": 4, "owner": owner}
        elif (restricted := self._restricted(entry, request)) == "login_required":
            return web.json_response({"data": {"prompts": ""}, "extra": extra, "status_code": 4003110})
        elif restricted == "private":
            data["prompts"] = FOLLOW_PROMPT
        else:
            data["stream_url"] = self._stream_url(entry)
        return web.json_response({"status_code": 0, "extra": extra, "data": data})

    def _stream_url(self, entry: _User) -> dict[str, Any]:
        scenario = self._scenario(entry)[0]
        hevc = {"h265_only": set(QUALITIES), "h265_h264": {"origin", "uhd_60"}}.get(scenario, set())

        def codec_of(key: str) -> str:
            return "h265" if key in hevc else "h264"

        flv = {legacy: self._media_url(entry, key, "flv", codec_of(key))
               for legacy, key in LEGACY.items() if key in entry.qualities}
        return {
            "flv_pull_url": flv,
            "flv_pull_url_params": {legacy: json.dumps({"VCodec": codec_of(LEGACY[legacy])}) for legacy in flv},
            "hls_pull_url": self._media_url(entry, entry.qualities[0], "hls", codec_of(entry.qualities[0])),
            "hls_pull_url_params": json.dumps({"VCodec": codec_of(entry.qualities[0])}),
            "rtmp_pull_url": self._media_url(entry, "origin", "flv", codec_of("origin")),
            "live_core_sdk_data": {"pull_data": self._pull_data(entry, codec_of)},
        }

    async def _check_alive(self, request: web.Request) -> web.Response:
        ids = [r for r in request.query.get("room_ids", "").split(",") if r]
        entries = self._users_of(*ids)
        blocked = self._block(request, entries, www=False)
        if blocked is not None:
            return blocked
        data = [{"alive": self._is_live(e), "room_id": int(r) if r.isdigit() else 0, "room_id_str": r}
                for r, e in zip(ids, entries, strict=True)]
        return web.json_response({"data": data, "extra": {"now": _ms()}, "status_code": 0})

    async def _short_link(self, request: web.Request) -> web.Response:
        user = self._links.get(request.match_info["code"])
        blocked = self._block(request, self._users_of(user), www=True)
        if blocked is not None:
            return blocked
        if user is None:
            return web.Response(status=404, text="Not Found")
        target = f"{self.base_url}/@{user}/live?_r=1"
        return web.Response(status=301, headers={"Location": target},
                            text=f'<a href="{target}">Moved Permanently</a>', content_type="text/html")

    async def _live_page(self, request: web.Request) -> web.Response:
        entry = self._users_of(request.match_info["user"])[0]
        blocked = self._block(request, [entry], www=True)
        if blocked is not None:
            return blocked
        state: dict[str, Any] = {}
        if entry is not None and self._scenario(entry)[0] != "user_not_found":
            live = self._is_live(entry)
            room: dict[str, Any] = {"title": entry.title, "status": 2 if live else 4}
            if live and self._restricted(entry, request) is None:
                room["streamData"] = {"pull_data": {"stream_data": self._pull_data(entry, lambda _k: "h264")[
                    "stream_data"]}}
            state = {"LiveRoom": {"liveRoomUserInfo": {"user": self._owner(entry, live), "liveRoom": room}}}
        script = f'<script id="SIGI_STATE" type="application/json">{json.dumps(state)}</script>'
        return web.Response(text=f"<html><body>{script}</body></html>", content_type="text/html")

    async def _profile(self, request: web.Request) -> web.Response:
        entry = self._users_of(request.match_info["user"])[0]
        blocked = self._block(request, [entry], www=True)
        if blocked is not None:
            return blocked
        detail: dict[str, Any] = {"statusCode": 10221, "userInfo": {}}
        if entry is not None and self._scenario(entry)[0] != "user_not_found":
            user = {k: v for k, v in self._owner(entry, self._is_live(entry)).items() if k != "status"}
            detail = {"statusCode": 10222 if self._scenario(entry)[0] == "private" else 0, "userInfo": {"user": user}}
        data = json.dumps({"__DEFAULT_SCOPE__": {"webapp.user-detail": detail}})
        script = f'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">{data}</script>'
        return web.Response(text=f"<html><body>{script}</body></html>", content_type="text/html")

    # --- media (the CDN) ------------------------------------------------------------------------

    def _media_target(self, request: web.Request) -> tuple[_User | None, str]:
        room, _, suffix = request.match_info["name"].removeprefix("stream-").partition("_")
        key = "ao" if request.query.get("only_audio") else _SUFFIX_KEYS.get(suffix, "origin")
        return self._users_of(room)[0], key

    def _media_status(self, entry: _User | None, key: str) -> int:
        if entry is None or not self._is_live(entry) or key in entry.broken:
            return 404
        scenario, kw = self._scenario(entry)
        if scenario == "stream_forbidden":
            return 403
        if scenario == "drop":
            return int(kw.get("status", 503))
        return 200

    async def _unstalled(self, entry: _User, conn: _Conn | None = None) -> None:
        while self._scenario(entry)[0] == "stall" and not (conn and conn.ended):
            await asyncio.sleep(min(0.05, max(0.005, self._until(entry) - time.monotonic())))

    async def _unanswered(self, entry: _User | None) -> None:
        while entry is not None and self._scenario(entry)[0] == "timeout":
            await asyncio.sleep(0.05)

    async def _flv(self, request: web.Request) -> web.StreamResponse:
        entry, key = self._media_target(request)
        await self._unanswered(entry)
        status = self._media_status(entry, key)
        if entry is None or status != 200:
            return web.Response(status=status, text="unavailable")
        headers = {"Content-Type": "video/x-flv", "Cache-Control": "no-cache"}
        if request.method == "HEAD":
            return web.Response(headers=headers)
        assert self._client is not None
        conn = _Conn(request.transport, asyncio.current_task())
        entry.connections.add(conn)
        try:
            async with self._client.get(f"{self.stream_base_url}/live/{entry.stream}/stream.flv") as upstream:
                if upstream.status != 200:
                    return web.Response(status=upstream.status, text="upstream unavailable")
                response = web.StreamResponse(headers=headers)
                response.enable_chunked_encoding()
                await response.prepare(request)
                await self._pump(entry, conn, upstream, response)
                return response
        finally:
            entry.connections.discard(conn)

    async def _pump(self, entry: _User, conn: _Conn, upstream: aiohttp.ClientResponse,
                    response: web.StreamResponse) -> None:
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            await self._unstalled(entry, conn)
            async for chunk in upstream.content.iter_any():
                await self._unstalled(entry, conn)
                if conn.ended:
                    break
                await response.write(chunk)
            await response.write_eof()

    async def _playlist(self, request: web.Request) -> web.Response:
        entry, key = self._media_target(request)
        await self._unanswered(entry)
        status = self._media_status(entry, key)
        if entry is not None and status == 404 and not entry.live and key in entry.playlists:
            ended = entry.playlists[key].rstrip("\n") + "\n#EXT-X-ENDLIST\n"
            return web.Response(text=ended, content_type="application/vnd.apple.mpegurl")
        if entry is None or status != 200:
            return web.Response(status=status, text="unavailable")
        if request.method == "HEAD":
            return web.Response(content_type="application/vnd.apple.mpegurl")
        await self._unstalled(entry)
        assert self._client is not None
        variant = "hi" if QUALITIES[key][1] >= 3 else "lo"
        async with self._client.get(f"{self.stream_base_url}/live/{entry.stream}/{variant}/index.m3u8") as upstream:
            text = await upstream.text()
            if upstream.status != 200:
                return web.Response(status=upstream.status, text="upstream unavailable")
        entry.playlists[key] = text
        return web.Response(text=text, content_type="application/vnd.apple.mpegurl")

    async def _segment(self, request: web.Request) -> web.Response:
        entry, key = self._media_target(request)
        await self._unanswered(entry)
        status = self._media_status(entry, key)
        if entry is not None and status == 404 and key in entry.playlists:
            status = 200  # an ended LIVE's last segments stay fetchable
        if entry is None or status != 200:
            return web.Response(status=status, text="unavailable")
        await self._unstalled(entry)
        assert self._client is not None
        variant = "hi" if QUALITIES[key][1] >= 3 else "lo"
        url = f"{self.stream_base_url}/live/{entry.stream}/{variant}/{request.match_info['segment']}"
        async with self._client.get(url, params=request.query) as upstream:
            body = await upstream.read()
            return web.Response(status=upstream.status, body=body, content_type="video/mp2t")
