"""The two download strategies against real HTTP: the resolver client's retry rules, and yt-dlp on a direct MP4."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from livevault.errors import (
    DownloadFailed,
    InvalidUrl,
    LivevaultError,
    NavigationFailed,
    NetworkTimeout,
    NoDownloadLink,
    SourceUnreachable,
)
from livevault.sources.http_api import ResolvedVideo, ResolverClient, media_chunks
from livevault.sources.ytdlp_video import YtDlpVideo
from tests.fakes.resolver import CLIP_SECONDS, FakeResolver, sample_mp4, video_url


@pytest.fixture
def fake() -> Iterator[FakeResolver]:
    with FakeResolver() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def headful_flags(fake: FakeResolver, video_id: str) -> list[bool]:
    return [body["force_headful"] for body in fake.requests_for(video_id)]


async def test_a_successful_answer_gives_the_media_url_and_the_video_facts(
    fake: FakeResolver, http: aiohttp.ClientSession
) -> None:
    client = ResolverClient(http, fake.base_url + "/", timeout=10)
    video = await client.resolve(video_url("701"))
    assert video.media_url == f"{fake.base_url}/media/701.mp4"
    assert (video.video_id, video.title, video.author) == ("701", "Fake video 701", "fakeuser")
    assert video.duration == CLIP_SECONDS
    assert video.file_size == len(fake.media)
    assert video.execution_time is not None
    assert video.execution_time >= 1.5  # the resolver's own figure, not our round trip
    assert video.attempts == 1
    assert headful_flags(fake, "701") == [False]


async def test_navigation_failed_is_retried_exactly_once_headful(
    fake: FakeResolver, http: aiohttp.ClientSession
) -> None:
    video = await ResolverClient(http, fake.base_url, timeout=10).resolve(video_url("702", "navigation_failed"))
    assert video.attempts == 2
    assert headful_flags(fake, "702") == [False, True]


async def test_invalid_url_fails_fast_without_a_retry(fake: FakeResolver, http: aiohttp.ClientSession) -> None:
    with pytest.raises(InvalidUrl) as caught:
        await ResolverClient(http, fake.base_url, timeout=10).resolve(video_url("703", "invalid_url"))
    assert caught.value.details["attempts"] == 1
    assert caught.value.details["status"] == 400
    assert headful_flags(fake, "703") == [False]


@pytest.mark.parametrize(
    ("scenario", "error"),
    [
        ("navigation_failed_always", NavigationFailed),
        ("no_download_link", NoDownloadLink),
        ("server_error_always", DownloadFailed),
    ],
)
async def test_retryable_failures_get_one_headful_retry_then_surface(
    fake: FakeResolver, http: aiohttp.ClientSession, scenario: str, error: type[LivevaultError]
) -> None:
    with pytest.raises(error) as caught:
        await ResolverClient(http, fake.base_url, timeout=10).resolve(video_url("704", scenario))
    assert caught.value.details["attempts"] == 2
    assert caught.value.details["force_headful"] is True
    assert headful_flags(fake, "704") == [False, True]


async def test_a_5xx_then_success_headful_resolves(fake: FakeResolver, http: aiohttp.ClientSession) -> None:
    video = await ResolverClient(http, fake.base_url, timeout=10).resolve(video_url("705", "server_error"))
    assert video.attempts == 2
    assert headful_flags(fake, "705") == [False, True]


async def test_a_timeout_counts_as_a_network_error_and_is_retried_headful(
    fake: FakeResolver, http: aiohttp.ClientSession
) -> None:
    client = ResolverClient(http, fake.base_url, timeout=0.5)
    started = time.monotonic()
    video = await client.resolve(video_url("706", "timeout"))
    assert video.attempts == 2
    assert headful_flags(fake, "706") == [False, True]
    assert time.monotonic() - started < 2.5
    with pytest.raises(NetworkTimeout):
        await client.request(video_url("707", "timeout"), force_headful=False)


async def test_an_unreachable_resolver_is_tried_twice_then_reported(http: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(SourceUnreachable) as caught:
        await ResolverClient(http, f"http://127.0.0.1:{closed_port}", timeout=5).resolve(video_url("708"))
    assert caught.value.details["attempts"] == 2


async def test_an_answer_without_video_info_still_resolves(fake: FakeResolver, http: aiohttp.ClientSession) -> None:
    video = await ResolverClient(http, fake.base_url, timeout=10).resolve(video_url("709", "bare"))
    assert (video.title, video.author, video.duration, video.video_id) == (None, None, None, None)


def test_the_client_needs_a_base_url() -> None:
    with pytest.raises(ValueError, match="LIVEVAULT_DOWNLOAD_RESOLVER_URL"):
        ResolverClient(None, " ")  # type: ignore[arg-type]


async def test_media_chunks_refuse_a_private_media_url_unless_allowed(
    fake: FakeResolver, http: aiohttp.ClientSession
) -> None:
    video = ResolvedVideo(media_url=f"{fake.base_url}/media/710.mp4")
    with pytest.raises(InvalidUrl):
        async for _chunk in media_chunks(http, video, max_bytes=10**9, allow_private=False):
            pass
    assert fake.media_paths == []
    body = b"".join([c async for c in media_chunks(http, video, max_bytes=10**9, allow_private=True)])
    assert body == sample_mp4()


async def test_ytdlp_extracts_a_direct_mp4_and_livevault_fetches_the_bytes(
    fake: FakeResolver, http: aiohttp.ClientSession
) -> None:
    url = f"{fake.base_url}/media/clip.mp4"
    video = await YtDlpVideo(timeout=30).resolve(url)
    assert video.media_url == url
    assert (video.video_id, video.title, video.ext) == ("clip", "clip", "mp4")
    assert video.video_info["extractor"] == "generic"
    assert video.execution_time is not None
    body = b"".join([c async for c in media_chunks(http, video, max_bytes=10**9, allow_private=True)])
    assert body == sample_mp4()
    assert fake.requests == []  # the resolver API is never involved


async def test_ytdlp_errors_become_livevault_errors(fake: FakeResolver) -> None:
    strategy = YtDlpVideo(timeout=30)
    with pytest.raises(InvalidUrl, match="Unsupported URL"):
        await strategy.resolve(f"{fake.base_url}/media/page.html")
    with pytest.raises(DownloadFailed, match="404"):
        await strategy.resolve(f"{fake.base_url}/missing/gone.mp4")
