"""The TikTok source against the fake TikTok (a real HTTP server): every scenario, stream choice, cookies,
proxy, batched liveness checks and the request budget. The fake's request log is the witness."""

from __future__ import annotations

import itertools
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from livevault.domain.stream import LiveState, LiveStatus, StreamFormat
from livevault.errors import InvalidInput, InvalidRoomId, InvalidUrl
from livevault.sources.base import BatchResolver, ResolveRequest
from livevault.sources.tiktok import TikTokSource, create
from livevault.testsrc import StreamServer
from tests.conftest import make_settings
from tests.fakes.tiktok import FakeTikTok

_rooms = itertools.count(7_100_000_000_000_000_000)
COOKIES = ".tiktok.com\tTRUE\t/\tTRUE\t0\tsessionid\ts3cr3t-session-value\n"


@pytest.fixture(scope="module")
def fake(stream_server: StreamServer) -> Iterator[FakeTikTok]:
    with FakeTikTok(stream_server.base_url) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    path = tmp_path / "secrets"
    path.mkdir()
    (path / "tiktok-cookies.txt").write_text(COOKIES)
    return path


def source_for(fake: FakeTikTok, http: aiohttp.ClientSession, tmp_path: Path, **overrides: Any) -> TikTokSource:
    values: dict[str, Any] = {"tiktok_web_url": fake.base_url, "tiktok_webcast_url": fake.base_url,
                              "secrets_dir": tmp_path / "secrets", "http_timeout": 2.0, **overrides}
    source: TikTokSource = create(make_settings(tmp_path / "data", **values), http)
    return source


@pytest.fixture
def source(fake: FakeTikTok, http: aiohttp.ClientSession, tmp_path: Path, secrets: Path) -> TikTokSource:
    return source_for(fake, http, tmp_path)


def new_user(fake: FakeTikTok, **kw: Any) -> tuple[str, str]:
    """A fresh user (scenarios stay theirs) and their room id."""
    name, room = f"u{uuid.uuid4().hex[:10]}", str(next(_rooms))
    fake.add_user(name, room, **kw)
    return name, room


async def resolve(source: TikTokSource, target: str, quality: str = "best", **options: Any) -> LiveStatus:
    proxy = options.pop("proxy", None)
    return await source.resolve(ResolveRequest(target=target, quality=quality, proxy=proxy, options=options))


# --- live and offline -------------------------------------------------------------------------


async def test_resolve_a_live_user_gives_the_best_h264_flv_with_headers_and_facts(
    fake: FakeTikTok, source: TikTokSource, http: aiohttp.ClientSession, stream_server: StreamServer
) -> None:
    user, room = new_user(fake, live=True, title="hello")
    stream_server.stream(user, segment_duration=0.5)
    status = await resolve(source, f"@{user.upper()}")

    assert status.state is LiveState.LIVE
    stream = status.stream
    assert stream is not None
    assert stream.format is StreamFormat.FLV
    assert stream.url.startswith(f"{fake.base_url}/cdn/stage/stream-{room}.flv?expire=")
    assert (stream.quality, stream.title, stream.author) == ("origin", "hello", user)
    assert stream.extra["room_id"] == room
    assert stream.extra["user"] == user
    assert stream.extra["codec"] == "h264"
    assert stream.headers["Referer"] == f"{fake.base_url}/"
    assert "Mozilla/5.0" in stream.headers["User-Agent"]
    # Given the URL, the fake proxies real FLV from the test stream server.
    async with http.get(stream.url, headers=stream.headers) as resp:
        assert resp.status == 200
        assert await resp.content.readexactly(3) == b"FLV"
    paths = [(r.method, r.path) for r in fake.requests_for(user)]
    assert paths[:2] == [("GET", "/api-live/user/room/"), ("HEAD", f"/cdn/stage/stream-{room}.flv")]
    assert not fake.requests_for(user, "/webcast/room/info"), "user/room carried the stream data"


@pytest.mark.parametrize("form", ["room", "live_url", "profile_url", "share_url", "short_link", "real_host_url"])
async def test_resolve_every_input_form_of_the_same_live(fake: FakeTikTok, source: TikTokSource, form: str) -> None:
    user, room = new_user(fake, live=True)
    code = f"ZM{uuid.uuid4().hex[:8]}"
    fake.add_short_link(code, user)
    target = {
        "room": room, "live_url": f"{fake.base_url}/@{user}/live", "profile_url": f"{fake.base_url}/@{user}",
        "share_url": f"https://m.tiktok.com/share/live/{room}/?language=en", "short_link": f"https://vm.tiktok.com/{code}/",
        "real_host_url": f"https://www.tiktok.com/@{user}/live",
    }[form]
    status = await resolve(source, target)
    assert status.state is LiveState.LIVE, status
    assert status.stream is not None
    assert status.stream.extra["room_id"] == room
    assert status.stream.author == user


async def test_resolve_follows_a_short_link_once(fake: FakeTikTok, source: TikTokSource) -> None:
    user, _ = new_user(fake, live=True)
    fake.add_short_link("ZTonce1", user)
    for _ in range(2):
        assert (await resolve(source, "https://www.tiktok.com/t/ZTonce1")).state is LiveState.LIVE
    assert len(fake.requests_for(user, "/t/")) == 1
    missing = await resolve(source, "https://vt.tiktok.com/ZSnothing/")
    assert (missing.state, missing.error_code) == (LiveState.ERROR, "NOT_FOUND")


async def test_resolve_offline_user_and_ended_room(fake: FakeTikTok, source: TikTokSource) -> None:
    user, room = new_user(fake, live=False)
    by_user, by_room = await resolve(source, f"@{user}"), await resolve(source, room)
    assert (by_user.state, by_user.error_code) == (LiveState.OFFLINE, "LIVE_OFFLINE")
    assert (by_room.state, by_room.error_code) == (LiveState.OFFLINE, "LIVE_OFFLINE")
    assert "record the user instead" in (by_room.error_message or "")


async def test_resolve_after_end_live_is_offline_and_after_go_live_is_live(fake: FakeTikTok,
                                                                          source: TikTokSource) -> None:
    user, _ = new_user(fake, live=True)
    fake.end_live(user)
    assert (await resolve(source, f"@{user}")).state is LiveState.OFFLINE
    fake.go_live(user, room_id="7199999999999999999")
    status = await resolve(source, f"@{user}")
    assert status.stream is not None
    assert status.stream.extra["room_id"] == "7199999999999999999"


# --- failure markers (research/tiktok.md §6) ---------------------------------------------------

SCENARIOS = [
    # scenario, target ("user" / "room"), state, code, a word of advice the message must carry
    ("offline", "user", LiveState.OFFLINE, "LIVE_OFFLINE", "not LIVE"),
    ("waf", "user", LiveState.ERROR, "SOURCE_BLOCKED", "proxy"),
    ("waf", "room", LiveState.ERROR, "SOURCE_BLOCKED", "proxy"),
    ("blacklist", "user", LiveState.ERROR, "SOURCE_BLOCKED", "room id"),
    ("blacklist", "room", LiveState.LIVE, None, None),  # webcast still answers a blacklisted country
    ("user_not_found", "user", LiveState.ERROR, "NOT_FOUND", "spelling"),
    ("user_not_found", "room", LiveState.ERROR, "NOT_FOUND", "record the user"),
    ("login_required", "user", LiveState.ERROR, "LOGIN_REQUIRED", "LIVEVAULT_SECRETS_DIR"),
    ("login_required", "room", LiveState.ERROR, "LOGIN_REQUIRED", "LIVEVAULT_SECRETS_DIR"),
    ("private", "user", LiveState.ERROR, "LOGIN_REQUIRED", "follows"),
    ("stream_forbidden", "user", LiveState.ERROR, "SOURCE_BLOCKED", "proxy"),
    ("rate_limit", "user", LiveState.ERROR, "RATE_LIMITED", "poll less often"),
    ("drop", "user", LiveState.ERROR, "SOURCE_UNREACHABLE", "try again"),
    ("stall", "user", LiveState.LIVE, None, None),  # the API and the HEAD answer; the bytes are late
    ("h265_only", "room", LiveState.LIVE, None, None),
]


@pytest.mark.parametrize(("scenario", "kind", "state", "code", "advice"), SCENARIOS)
async def test_resolve_maps_each_scenario_to_state_and_code(
    fake: FakeTikTok, http: aiohttp.ClientSession, tmp_path: Path, secrets: Path,
    scenario: str, kind: str, state: LiveState, code: str | None, advice: str | None,
) -> None:
    source = source_for(fake, http, tmp_path)  # its own budget: a 429 pauses only this one
    user, room = new_user(fake, live=True)
    fake.set_scenario(user, scenario, seconds=30)
    status = await resolve(source, f"@{user}" if kind == "user" else room)
    assert (status.state, status.error_code) == (state, code), status.error_message
    if advice is not None:
        assert advice in (status.error_message or "")


async def test_resolve_unknown_user_and_room_are_not_found(source: TikTokSource) -> None:
    assert (await resolve(source, "@nobody_at_all")).error_code == "NOT_FOUND"
    assert (await resolve(source, "999")).error_code == "NOT_FOUND"


async def test_resolve_reports_timeouts_and_unreachable_hosts(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    with socket.socket() as silent, socket.socket() as closed:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections, never answers
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
        closed.close()
        quiet = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = make_settings(tmp_path, tiktok_web_url=quiet, tiktok_webcast_url=dead, http_timeout=0.5)
        source = create(settings, http)
        timed_out, unreachable = await resolve(source, "@someone"), await resolve(source, "123")
    assert (timed_out.state, timed_out.error_code) == (LiveState.ERROR, "NETWORK_TIMEOUT")
    assert (unreachable.state, unreachable.error_code) == (LiveState.ERROR, "SOURCE_UNREACHABLE")
    assert "proxy" in (unreachable.error_message or "")


async def test_resolve_raises_on_invalid_input(source: TikTokSource) -> None:
    with pytest.raises(InvalidRoomId):
        await resolve(source, "1" * 21)
    with pytest.raises(InvalidUrl):
        await resolve(source, "https://example.com/@someone/live")
    with pytest.raises(InvalidUrl):
        await resolve(source, "https://www.tiktok.com/@someone/video/1")


# --- stream choice ----------------------------------------------------------------------------


async def test_resolve_quality_falls_back_to_the_next_lower_level(fake: FakeTikTok, source: TikTokSource) -> None:
    user, _ = new_user(fake, live=True, qualities=["hd", "sd", "ld"])
    for quality, expected in [("1080p", "hd"), ("origin", "hd"), ("540p", "sd"), ("worst", "ld"), ("720p", "hd")]:
        status = await resolve(source, f"@{user}", quality)
        assert status.stream is not None
        assert status.stream.quality == expected, quality
    bad = await resolve(source, f"@{user}", "8k")
    assert (bad.state, bad.error_code) == (LiveState.ERROR, "NO_MATCHING_QUALITY")


async def test_resolve_skips_a_quality_whose_url_is_not_served(fake: FakeTikTok, source: TikTokSource) -> None:
    user, room = new_user(fake, live=True, broken_qualities=["origin"])
    status = await resolve(source, f"@{user}")
    assert status.stream is not None
    assert status.stream.quality == "uhd_60"
    heads = [r.path for r in fake.requests_for(user) if r.method == "HEAD"]
    assert heads == [f"/cdn/stage/stream-{room}.flv", f"/cdn/stage/stream-{room}_uhd560.flv"]
    unprobed = await resolve(source, f"@{user}", probe=False)
    assert unprobed.stream is not None
    assert unprobed.stream.quality == "origin"


async def test_a_live_room_whose_pull_urls_all_answer_404_is_offline_only_by_inference(
    fake: FakeTikTok, source: TikTokSource
) -> None:
    user, _room = new_user(fake, live=True)
    fake.set_scenario(user, "drop", seconds=30, status=404)
    blip = await resolve(source, f"@{user}")
    assert (blip.state, blip.error_code) == (LiveState.OFFLINE, "LIVE_OFFLINE")
    assert blip.inferred, "TikTok's API says live: a recording keeps trying"
    assert "every stream URL answered HTTP 404" in (blip.error_message or "")
    fake.set_scenario(user, "live")
    fake.end_live(user)
    ended = await resolve(source, f"@{user}")
    assert (ended.state, ended.inferred) == (LiveState.OFFLINE, False), "the API itself says offline"


async def test_a_cdn_that_does_not_answer_is_a_network_timeout(
    fake: FakeTikTok, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    source = source_for(fake, http, tmp_path, http_timeout=1.0)
    user, _room = new_user(fake, live=True)
    fake.set_scenario(user, "timeout", seconds=30)
    status = await resolve(source, f"@{user}")
    assert (status.state, status.error_code) == (LiveState.ERROR, "NETWORK_TIMEOUT")
    fake.set_scenario(user, "live")


@pytest.mark.parametrize(
    ("scenario", "kind", "options", "prefer", "codec", "quality"),
    [
        ("h265_h264", "user", {}, False, "h264", "origin"),
        ("h265_h264", "user", {"codec": "h265"}, False, "h265", "origin"),
        ("h265_h264", "user", {}, True, "h265", "origin"),
        ("h265_h264", "user", {"codec": "h264"}, True, "h264", "origin"),
        ("h265_h264", "room", {}, False, "h264", "hd_60"),  # room/info: origin and 1080p60 are H.265 only
        ("h265_h264", "room", {"codec": "hevc"}, False, "h265", "origin"),
        ("h265_only", "user", {}, False, "h265", "origin"),
    ],
)
async def test_resolve_prefers_h264_unless_h265_is_asked_for(
    fake: FakeTikTok, http: aiohttp.ClientSession, tmp_path: Path, secrets: Path, scenario: str, kind: str,
    options: dict[str, str], prefer: bool, codec: str, quality: str,
) -> None:
    source = source_for(fake, http, tmp_path, tiktok_prefer_h265=prefer)
    user, room = new_user(fake, live=True, scenario=scenario)
    status = await resolve(source, f"@{user}" if kind == "user" else room, **options)
    assert status.stream is not None
    assert (status.stream.extra["codec"], status.stream.quality) == (codec, quality)
    assert ("codec=h265" in status.stream.url) is (codec == "h265")


async def test_resolve_gives_hls_when_asked_for(
    fake: FakeTikTok, source: TikTokSource, http: aiohttp.ClientSession, stream_server: StreamServer
) -> None:
    user, room = new_user(fake, live=True)
    stream_server.stream(user, segment_duration=0.5)
    status = await resolve(source, f"@{user}", "sd", format="hls")
    assert status.stream is not None
    assert status.stream.format is StreamFormat.HLS
    assert f"/cdn/stage/stream-{room}_sd5/playlist.m3u8" in status.stream.url
    async with http.get(status.stream.url) as resp:
        assert (await resp.text()).startswith("#EXTM3U")


# --- cookies and proxy ------------------------------------------------------------------------


async def test_resolve_with_cookies_from_the_secrets_dir_unlocks_a_restricted_live(
    fake: FakeTikTok, source: TikTokSource, caplog: pytest.LogCaptureFixture
) -> None:
    user, _ = new_user(fake, live=True, scenario="login_required")
    caplog.set_level(logging.DEBUG)
    status = await resolve(source, f"@{user}", cookies="tiktok-cookies.txt")
    assert status.state is LiveState.LIVE, status.error_message
    assert status.stream is not None
    assert status.stream.headers["Cookie"] == "sessionid=s3cr3t-session-value"
    assert all(r.cookies == ("sessionid",) for r in fake.requests_for(user))
    assert "s3cr3t" not in caplog.text


async def test_resolve_refuses_cookie_files_outside_the_secrets_dir(
    fake: FakeTikTok, source: TikTokSource, tmp_path: Path
) -> None:
    (tmp_path / "stolen.txt").write_text(COOKIES)
    user, _ = new_user(fake, live=True)
    for name in ["../stolen.txt", str(tmp_path / "stolen.txt")]:
        with pytest.raises(InvalidInput):
            await resolve(source, f"@{user}", cookies=name)
    assert fake.requests_for(user) == []


@pytest.fixture
async def forward_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A real HTTP forward proxy (absolute-form requests), logging what it forwarded."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        url = f"http://{request.headers['Host']}{request.rel_url}"
        seen.append(url)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "proxy-connection"}}
        async with aiohttp.ClientSession() as client, client.request(
            request.method, url, headers=headers, allow_redirects=False
        ) as upstream:
            body = await upstream.read()
            wanted = {"content-type", "location", "retry-after"}
            kept = {k: v for k, v in upstream.headers.items() if k.lower() in wanted}
            return web.Response(status=upstream.status, body=body, headers=kept)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}", seen
    await server.close()


async def test_resolve_goes_through_the_request_proxy(
    fake: FakeTikTok, source: TikTokSource, forward_proxy: tuple[str, list[str]]
) -> None:
    proxy, seen = forward_proxy
    user, _ = new_user(fake, live=True)
    status = await resolve(source, f"@{user}", proxy=proxy)
    assert status.stream is not None
    assert status.stream.proxy == proxy
    assert any("/api-live/user/room/" in url and user in url for url in seen)
    assert any("/cdn/stage/" in url for url in seen), "the media probe went through the proxy too"


# --- budget -----------------------------------------------------------------------------------


async def test_resolve_stops_at_the_request_budget_instead_of_asking_tiktok(
    fake: FakeTikTok, http: aiohttp.ClientSession, tmp_path: Path, secrets: Path
) -> None:
    source = source_for(fake, http, tmp_path, tiktok_requests_per_min=2)
    user, room = new_user(fake, live=True)
    results = [await resolve(source, room) for _ in range(3)]
    assert [r.state for r in results] == [LiveState.LIVE, LiveState.LIVE, LiveState.ERROR]
    assert results[2].error_code == "RATE_LIMITED"
    assert "LIVEVAULT_TIKTOK_REQUESTS_PER_MIN=2" in (results[2].error_message or "")
    assert len(fake.requests_for(user, "/webcast/room/info")) == 2


async def test_a_429_pauses_every_request_for_retry_after(
    fake: FakeTikTok, http: aiohttp.ClientSession, tmp_path: Path, secrets: Path
) -> None:
    source = source_for(fake, http, tmp_path)
    limited, _ = new_user(fake, live=True, scenario="rate_limit")
    fake.set_scenario(limited, "rate_limit", retry_after=120)
    other, other_room = new_user(fake, live=True)
    first = await resolve(source, f"@{limited}")
    second = await resolve(source, other_room)
    assert first.error_code == second.error_code == "RATE_LIMITED"
    assert "120" in (first.error_message or "")
    assert fake.requests_for(other) == [], "TikTok was not asked while it asked us to wait"


# --- check_many -------------------------------------------------------------------------------


async def test_check_many_batches_room_ids_into_chunks_of_check_alive(
    fake: FakeTikTok, http: aiohttp.ClientSession, tmp_path: Path, secrets: Path
) -> None:
    source = source_for(fake, http, tmp_path, watcher_batch_size=100)
    assert isinstance(source, BatchResolver)
    live_rooms = [new_user(fake, live=True)[1] for _ in range(3)]
    rooms = live_rooms + [str(next(_rooms)) for _ in range(247)]
    before = len(fake.requests)
    results = await source.check_many([ResolveRequest(target=r) for r in rooms])

    calls = [r for r in fake.requests[before:] if r.path.startswith("/webcast/room/check_alive")]
    assert [len(c.room_ids) for c in calls] == [100, 100, 50]
    assert sorted(itertools.chain.from_iterable(c.room_ids for c in calls)) == sorted(rooms)
    assert len(fake.requests) - before == 3, "nothing but the three batched calls"
    assert [r.state for r in results[:3]] == [LiveState.LIVE] * 3
    assert all(r.stream is None for r in results[:3])
    assert {(r.state, r.error_code) for r in results[3:]} == {(LiveState.OFFLINE, "LIVE_OFFLINE")}


async def test_check_many_looks_each_user_up_so_a_new_live_is_seen_at_the_next_check(
    fake: FakeTikTok, source: TikTokSource
) -> None:
    live_user, _live_room = new_user(fake, live=True)
    off_user, _off_room = new_user(fake, live=False)
    requests = [ResolveRequest(target=f"@{u}") for u in (live_user, off_user, live_user)]

    first = await source.check_many(requests)
    assert [s.state for s in first] == [LiveState.LIVE, LiveState.OFFLINE, LiveState.LIVE]
    assert len(fake.requests_for(live_user, "/api-live/user/room")) == 1, "equal targets are asked once"
    assert not fake.requests_for(live_user, "/webcast/room/check_alive"), "the lookup answers by itself"

    fake.go_live(off_user, room_id=str(next(_rooms)))  # each LIVE gets a new room id
    second = await source.check_many(requests)
    assert [s.state for s in second] == [LiveState.LIVE] * 3
    assert len(fake.requests_for(off_user, "/api-live/user/room")) == 2


async def test_check_many_reports_bad_targets_and_failed_batches_per_request(
    fake: FakeTikTok, source: TikTokSource
) -> None:
    blocked_user, blocked_room = new_user(fake, live=True)
    fake.set_scenario(blocked_user, "waf")
    _, fine_room = new_user(fake, live=True)
    missing = "@nobody_here"
    results = await source.check_many([
        ResolveRequest(target="1" * 25), ResolveRequest(target=blocked_room), ResolveRequest(target=fine_room),
        ResolveRequest(target=missing),
    ])
    assert [(r.state, r.error_code) for r in results] == [
        (LiveState.ERROR, "INVALID_ROOM_ID"),
        (LiveState.ERROR, "SOURCE_BLOCKED"),  # one WAF answer for the whole check_alive call
        (LiveState.ERROR, "SOURCE_BLOCKED"),
        (LiveState.ERROR, "NOT_FOUND"),
    ]


async def test_check_many_sends_one_batch_per_proxy(
    fake: FakeTikTok, source: TikTokSource, forward_proxy: tuple[str, list[str]]
) -> None:
    proxy, seen = forward_proxy
    rooms = [new_user(fake, live=True)[1] for _ in range(4)]
    before = len(fake.requests)
    results = await source.check_many(
        [ResolveRequest(target=room, proxy=proxy if i % 2 else None) for i, room in enumerate(rooms)]
    )
    assert [r.state for r in results] == [LiveState.LIVE] * 4
    calls = [r for r in fake.requests[before:] if r.path.startswith("/webcast/room/check_alive")]
    assert sorted(sorted(c.room_ids) for c in calls) == sorted([sorted(rooms[0::2]), sorted(rooms[1::2])])
    assert sum("check_alive" in url for url in seen) == 1
