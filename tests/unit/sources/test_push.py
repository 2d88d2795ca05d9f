"""The push source: `push:<stream_key>` targets, the origin URL template, and resolve against a real HLS origin."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import cast

import aiohttp
import pytest

from livevault.domain.stream import LiveState, StreamFormat
from livevault.sources.base import ResolveRequest
from livevault.sources.direct import DirectSource
from livevault.sources.push import (
    InvalidStreamKey,
    PushNotConfigured,
    PushSource,
    check_stream_key,
    origin_url,
    push_target,
    stream_key_of,
)
from livevault.sources.registry import SourceRegistry
from livevault.testsrc import StreamServer

should_match = [
    "push:abc",
    "push:d1eb2fe800d01c797c84f0b622e474d9",
    "push:bb52ba50-edc5-4056-a62c-6ef211d72d25",
    "push:cam_1.main~hd",
    "push:9",
    "push:" + "k" * 128,
]

should_not_match = [
    "abc",
    "push:",
    "push:-abc",
    "push:.hidden",
    "push:..",
    "push:a/b",
    "push:../etc",
    "push:a b",
    "push:a%2Fb",
    "push:a?b=c",
    "push:a#b",
    "push:abc\n",
    "push:ключ",
    "push:" + "k" * 129,
    "PUSH:abc",
    "push://abc",
    "http://origin:8080/hls/abc/index.m3u8",
    "12345678",
    "@someone",
]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def matcher() -> PushSource:
    """Matching never touches the network: no session needed."""
    return PushSource(cast(aiohttp.ClientSession, None), template="")


def template_for(server: StreamServer, variant: str = "hi/index.m3u8") -> str:
    return f"{server.base_url}/live/{{stream_key}}/{variant}"


def fresh_key() -> str:
    return f"push-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("target", should_match)
def test_matches_push_targets(target: str) -> None:
    assert matcher().matches(target)


@pytest.mark.parametrize("target", should_not_match)
def test_does_not_match_anything_else(target: str) -> None:
    assert not matcher().matches(target)


def test_a_push_target_wins_over_the_generic_url_source_and_urls_do_not_reach_it() -> None:
    registry = SourceRegistry([matcher(), DirectSource(cast(aiohttp.ClientSession, None))])
    assert registry.match("push:abc").name == "push"
    assert registry.match("http://origin/hls/abc/index.m3u8").name == "url"


def test_the_stream_key_is_checked_before_it_is_substituted_and_quoted() -> None:
    template = "http://origin:8080/hls/{stream_key}/index.m3u8"
    assert origin_url(template, "d1eb2fe8") == "http://origin:8080/hls/d1eb2fe8/index.m3u8"
    assert origin_url("http://o/{stream_key}.m3u8?k={stream_key}", "a~b.c") == "http://o/a~b.c.m3u8?k=a~b.c"
    for bad in ["../../admin", "a/b", "a?x=1", "", "x" * 129, "a b", "%2e%2e"]:
        with pytest.raises(InvalidStreamKey):
            origin_url(template, bad)
    assert check_stream_key("abc") == "abc"
    assert push_target("abc") == "push:abc"
    assert stream_key_of("push:abc") == "abc"
    assert stream_key_of("push:a/b") is None


def test_an_empty_or_keyless_template_is_a_configuration_error() -> None:
    with pytest.raises(PushNotConfigured):
        origin_url("", "abc")
    with pytest.raises(PushNotConfigured):
        origin_url("http://origin/hls/live/index.m3u8", "abc")


async def test_resolve_finds_the_origin_playlist_of_the_stream_key(
    http: aiohttp.ClientSession, stream_server: StreamServer
) -> None:
    key = fresh_key()
    stream_server.stream(key, segment_duration=1.0)
    source = PushSource(http, template=template_for(stream_server), timeout=5, publish_wait=1)

    status = await source.resolve(ResolveRequest(push_target(key), quality="best"))

    assert status.state is LiveState.LIVE, status
    assert status.stream is not None
    assert status.stream.format is StreamFormat.HLS
    assert status.stream.url == f"{stream_server.base_url}/live/{key}/hi/index.m3u8"
    assert status.stream.extra == {"stream_key": key}


async def test_resolve_waits_for_a_playlist_that_appears_a_moment_after_the_webhook(
    http: aiohttp.ClientSession, stream_server: StreamServer
) -> None:
    # Given an origin that has not written the playlist yet (404 for the first 1.5 s)
    key = fresh_key()
    stream_server.stream(key, segment_duration=1.0).offline(1.5)
    source = PushSource(http, template=template_for(stream_server), timeout=5, publish_wait=10, poll_interval=0.2)

    started = time.monotonic()
    status = await source.resolve(ResolveRequest(push_target(key)))

    assert status.state is LiveState.LIVE, status
    assert 1.0 <= time.monotonic() - started < 8


async def test_resolve_says_offline_when_the_playlist_never_appears(
    http: aiohttp.ClientSession, stream_server: StreamServer
) -> None:
    key = fresh_key()
    stream_server.stream(key, segment_duration=1.0).offline(30)
    source = PushSource(http, template=template_for(stream_server), timeout=5, publish_wait=1, poll_interval=0.2)

    status = await source.resolve(ResolveRequest(push_target(key)))

    assert status.state is LiveState.OFFLINE
    assert status.error_code == "LIVE_OFFLINE"
    assert status.error_message is not None
    assert key in status.error_message


async def test_resolve_reports_a_refusing_origin_and_a_non_hls_answer_as_errors(
    http: aiohttp.ClientSession, stream_server: StreamServer
) -> None:
    guarded = fresh_key()
    stream_server.stream(guarded, segment_duration=1.0, token="s3cret")
    blocked = await PushSource(http, template=template_for(stream_server), publish_wait=5).resolve(
        ResolveRequest(push_target(guarded))
    )
    assert (blocked.state, blocked.error_code) == (LiveState.ERROR, "SOURCE_BLOCKED")

    key = fresh_key()
    stream_server.stream(key, segment_duration=1.0)
    flv = await PushSource(http, template=template_for(stream_server, "stream.flv"), publish_wait=1).resolve(
        ResolveRequest(push_target(key))
    )
    assert (flv.state, flv.error_code) == (LiveState.ERROR, "UNSUPPORTED_FORMAT")


async def test_resolve_without_a_template_reports_the_missing_configuration(http: aiohttp.ClientSession) -> None:
    status = await PushSource(http, template="").resolve(ResolveRequest("push:abc"))
    assert (status.state, status.error_code) == (LiveState.ERROR, "PUSH_NOT_CONFIGURED")
    with pytest.raises(InvalidStreamKey):
        await PushSource(http, template="http://o/{stream_key}.m3u8").resolve(ResolveRequest("push:a/b"))


async def test_resolve_gives_up_on_an_unreachable_origin_after_the_publish_wait(http: aiohttp.ClientSession) -> None:
    source = PushSource(http, template="http://127.0.0.1:9/hls/{stream_key}/index.m3u8", timeout=1,
                        publish_wait=0.5, poll_interval=0.1)
    status = await source.resolve(ResolveRequest("push:abc"))
    assert (status.state, status.error_code) == (LiveState.OFFLINE, "LIVE_OFFLINE")
