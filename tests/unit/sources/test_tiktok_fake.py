"""The fake TikTok itself: the JSON shapes of research/tiktok.md §3-4 and the scenario switches, seen by a plain
HTTP client (other tests rely on them)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from livevault.testsrc import StreamServer
from tests.fakes.tiktok import FakeTikTok

_rooms = itertools.count(7_200_000_000_000_000_000)


@pytest.fixture(scope="module")
def fake(stream_server: StreamServer) -> Iterator[FakeTikTok]:
    with FakeTikTok(stream_server.base_url) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def new_user(fake: FakeTikTok, **kw: Any) -> tuple[str, str]:
    name, room = f"f{uuid.uuid4().hex[:10]}", str(next(_rooms))
    fake.add_user(name, room, **kw)
    return name, room


async def get_json(http: aiohttp.ClientSession, url: str, **params: str) -> dict[str, Any]:
    async with http.get(url, params=params, allow_redirects=False) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_user_room_and_room_info_carry_stream_data_as_json_strings(fake: FakeTikTok,
                                                                         http: aiohttp.ClientSession) -> None:
    user, room = new_user(fake, live=True, scenario="h265_h264")
    body = await get_json(http, f"{fake.base_url}/api-live/user/room/", aid="1988", uniqueId=user, sourceType="54")
    assert body["statusCode"] == 0
    assert body["data"]["user"]["roomId"] == room
    live_room = body["data"]["liveRoom"]
    assert live_room["status"] == 2
    stream_data = live_room["streamData"]["pull_data"]["stream_data"]
    assert isinstance(stream_data, str)
    data = json.loads(stream_data)["data"]
    assert set(data) == {"origin", "uhd_60", "hd_60", "hd", "sd", "ld", "ao"}
    assert isinstance(data["hd"]["main"]["sdk_params"], str)
    assert json.loads(data["hd"]["main"]["sdk_params"])["VCodec"] == "h264"
    hevc = json.loads(live_room["hevcStreamData"]["pull_data"]["stream_data"])["data"]
    assert json.loads(hevc["origin"]["main"]["sdk_params"])["VCodec"] == "h265"

    info = await get_json(http, f"{fake.base_url}/webcast/room/info/", aid="1988", room_id=room)
    assert (info["status_code"], info["data"]["status"], info["data"]["owner"]["display_id"]) == (0, 2, user)
    pull = info["data"]["stream_url"]["live_core_sdk_data"]["pull_data"]
    assert isinstance(pull["stream_data"], str)
    assert {q["sdk_key"] for q in pull["options"]["qualities"]} == {"origin", "uhd_60", "hd_60", "hd", "sd", "ld"}
    assert set(info["data"]["stream_url"]["flv_pull_url"]) == {"FULL_HD1", "HD1", "SD2", "SD1"}


async def test_check_alive_answers_many_rooms_in_order(fake: FakeTikTok, http: aiohttp.ClientSession) -> None:
    live = [new_user(fake, live=True)[1] for _ in range(2)]
    off = new_user(fake)[1]
    ids = [live[0], "1", off, live[1]]
    body = await get_json(http, f"{fake.base_url}/webcast/room/check_alive/", aid="1988", room_ids=",".join(ids))
    assert [(d["room_id_str"], d["alive"]) for d in body["data"]] == [
        (live[0], True), ("1", False), (off, False), (live[1], True)]
    assert fake.requests_for(off, "/webcast/room/check_alive")[-1].room_ids == tuple(ids)


@pytest.mark.parametrize(
    ("scenario", "path", "status", "marker"),
    [
        ("user_not_found", "/api-live/user/room/", 200, '"statusCode": 19881007'),
        ("login_required", "/webcast/room/info/", 200, '"status_code": 4003110'),
        ("private", "/webcast/room/info/", 200, "Follow the creator to watch their LIVE"),
        ("waf", "/api-live/user/room/", 200, "Please wait"),
        ("waf", "/webcast/room/check_alive/", 200, "_wafchallengeid"),
        ("blacklist", "/api-live/user/room/", 302, ""),
        ("blacklist", "/webcast/room/info/", 200, '"status": 2'),
        ("rate_limit", "/webcast/room/info/", 429, "Too Many Requests"),
        ("offline", "/webcast/room/info/", 200, '"status": 4'),
    ],
)
async def test_scenarios_answer_with_their_markers(
    fake: FakeTikTok, http: aiohttp.ClientSession, scenario: str, path: str, status: int, marker: str
) -> None:
    user, room = new_user(fake, live=True, scenario=scenario)
    params = {"aid": "1988", "uniqueId": user, "room_id": room, "room_ids": room}
    async with http.get(f"{fake.base_url}{path}", params=params, allow_redirects=False) as resp:
        assert resp.status == status
        assert marker in await resp.text()
        if status == 302:
            assert "/login" in resp.headers["Location"]
        if status == 429:
            assert resp.headers["Retry-After"] == "60"


async def test_a_login_cookie_lifts_login_required(fake: FakeTikTok, http: aiohttp.ClientSession) -> None:
    _, room = new_user(fake, live=True, scenario="login_required")
    info = await get_json(http, f"{fake.base_url}/webcast/room/info/?room_id={room}&x=1")
    assert info["status_code"] == 4003110
    async with http.get(f"{fake.base_url}/webcast/room/info/", params={"room_id": room},
                        headers={"Cookie": "sessionid_ss=abc"}) as resp:
        assert (await resp.json())["data"]["status"] == 2
    assert fake.requests_for(room)[-1].cookies == ("sessionid_ss",)


async def test_media_stalls_then_flows(fake: FakeTikTok, http: aiohttp.ClientSession,
                                       stream_server: StreamServer) -> None:
    user, room = new_user(fake, live=True)
    stream_server.stream(user, segment_duration=0.5)
    fake.set_scenario(user, "stall", seconds=1.0)
    started = time.monotonic()
    async with http.get(f"{fake.base_url}/cdn/stage/stream-{room}.flv") as resp:
        assert resp.status == 200
        assert await resp.content.readexactly(3) == b"FLV"
    assert time.monotonic() - started >= 0.9


async def test_end_live_ends_open_bodies_and_playlists(fake: FakeTikTok, http: aiohttp.ClientSession,
                                                       stream_server: StreamServer) -> None:
    user, room = new_user(fake, live=True)
    stream_server.stream(user, segment_duration=0.5)
    playlist = f"{fake.base_url}/cdn/stage/stream-{room}_hd5/playlist.m3u8"
    async with http.get(playlist) as resp:
        assert "#EXT-X-ENDLIST" not in await resp.text()
    async with http.get(f"{fake.base_url}/cdn/stage/stream-{room}.flv") as resp:
        await resp.content.readexactly(3)
        fake.end_live(user)
        await asyncio.wait_for(resp.content.read(), timeout=5)  # the body ends cleanly
    for _ in range(100):  # the handler closes its record just after the last byte
        if fake.media_connections(user) == 0:
            break
        await asyncio.sleep(0.01)
    assert fake.media_connections(user) == 0
    async with http.get(f"{fake.base_url}/cdn/stage/stream-{room}.flv") as resp:
        assert resp.status == 404
    async with http.get(playlist) as resp:
        assert (await resp.text()).rstrip().endswith("#EXT-X-ENDLIST")


async def test_a_drop_cuts_the_body_and_refuses_for_its_duration(fake: FakeTikTok, http: aiohttp.ClientSession,
                                                                 stream_server: StreamServer) -> None:
    user, room = new_user(fake, live=True)
    stream_server.stream(user, segment_duration=0.5)
    url = f"{fake.base_url}/cdn/stage/stream-{room}.flv"
    async with http.get(url) as resp:
        await resp.content.readexactly(3)
        fake.set_scenario(user, "drop", seconds=0.5, status=502)
        with pytest.raises(aiohttp.ClientPayloadError):
            await asyncio.wait_for(resp.content.read(), timeout=5)
    async with http.head(url) as resp:
        assert resp.status == 502
    await asyncio.sleep(0.6)
    async with http.head(url) as resp:
        assert resp.status == 200
