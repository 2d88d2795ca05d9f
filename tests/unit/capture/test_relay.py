"""The ffmpeg relay's addresses: playlists rewritten so every URI leads back to the relay, and a relay address
always maps to the upstream it stands for (the input's query restored, unknown addresses refused)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest

from livevault.capture.http import HttpClient
from livevault.capture.relay import RELAY_HOST, FfmpegRelay
from livevault.errors import InvalidUrl

INPUT = "https://cdn.example.com/live/abc/index.m3u8?token=SECRET-1&exp=99"


@pytest.fixture
async def relay() -> AsyncIterator[FfmpegRelay]:
    session = aiohttp.ClientSession()
    try:
        yield FfmpegRelay(HttpClient(session), INPUT)
    finally:
        await session.close()


async def test_the_input_address_has_no_query_and_maps_back_with_it(relay: FfmpegRelay) -> None:
    assert relay.input_url == f"http://{RELAY_HOST}/o1/live/abc/index.m3u8"
    assert relay.upstream_of("/o1/live/abc/index.m3u8", RELAY_HOST) == INPUT
    assert relay.upstream_of(relay.input_url, RELAY_HOST) == INPUT  # absolute form, as ffmpeg sends to a proxy
    # any other path of the origin keeps its own query (or none)
    assert relay.upstream_of("/o1/live/abc/s1.ts?x=1", RELAY_HOST) == "https://cdn.example.com/live/abc/s1.ts?x=1"


async def test_every_uri_of_a_playlist_points_at_the_relay(relay: FfmpegRelay) -> None:
    playlist = "\n".join([
        "#EXTM3U",
        '#EXT-X-KEY:METHOD=AES-128,URI="../keys/k1?sig=abc",IV=0x1',
        '#EXT-X-MAP:URI="/init/init.mp4"',
        "#EXTINF:2.0,",
        "s1.ts",
        "#EXTINF:2.0,",
        "http://other.example.net:8080/a/s2.ts?t=2",
        '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://key-id"',
        "#EXT-X-ENDLIST",
    ])
    out = relay.rewrite_playlist(playlist, INPUT).splitlines()
    assert out[1] == f'#EXT-X-KEY:METHOD=AES-128,URI="http://{RELAY_HOST}/o1/live/keys/k1?sig=abc",IV=0x1'
    assert out[2] == f'#EXT-X-MAP:URI="http://{RELAY_HOST}/o1/init/init.mp4"'
    assert out[4] == f"http://{RELAY_HOST}/o1/live/abc/s1.ts"
    assert out[6] == f"http://{RELAY_HOST}/o2/a/s2.ts?t=2"
    assert out[7] == '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://key-id"'  # not http: left for ffmpeg to refuse
    assert relay.upstream_of("/o2/a/s2.ts?t=2", RELAY_HOST) == "http://other.example.net:8080/a/s2.ts?t=2"
    assert relay.upstream_of("/o1/live/keys/k1?sig=abc", RELAY_HOST) == "https://cdn.example.com/live/keys/k1?sig=abc"


async def test_addresses_the_relay_never_gave_out_are_refused(relay: FfmpegRelay) -> None:
    for target in ("/o9/x.ts", "/etc/passwd", "/", "/../o1/x"):
        with pytest.raises(InvalidUrl):
            relay.upstream_of(target, RELAY_HOST)
    with pytest.raises(InvalidUrl):
        relay.upstream_of("/o1/live/abc/s1.ts", "127.0.0.1:9")  # origin-form for another host
    # a plain http URL ffmpeg built itself is fetched as it is (and guarded by the client like any other)
    assert relay.upstream_of("http://elsewhere.example/x.ts", "elsewhere.example") == "http://elsewhere.example/x.ts"


async def test_only_the_ffmpeg_it_serves_may_use_it(relay: FfmpegRelay) -> None:
    await relay.start()
    try:
        proxy = relay.environment()["http_proxy"]
        assert proxy.startswith("http://livevault:")
        assert proxy.endswith(f"@127.0.0.1:{relay.port}")
        async with aiohttp.ClientSession() as client:
            target = f"http://127.0.0.1:{relay.port}/o1/live/abc/index.m3u8"
            async with client.get(target, headers={"Host": RELAY_HOST}) as resp:
                assert resp.status == 407
                assert resp.headers["Proxy-Authenticate"].startswith("Basic")
            wrong = "Basic " + base64.b64encode(b"livevault:guess").decode()
            async with client.get(target, headers={"Host": RELAY_HOST, "Proxy-Authorization": wrong}) as resp:
                assert resp.status == 407
        assert relay.requests == 0
    finally:
        await relay.close()
