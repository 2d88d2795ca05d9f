"""The direct URL source: format from the path, else sniffed from the first bytes of a real HTTP answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from livevault.domain.stream import LiveState, StreamFormat
from livevault.errors import UnsupportedSource
from livevault.sources.base import ResolveRequest
from livevault.sources.direct import DirectSource, format_from_path, sniff_format
from livevault.sources.registry import SourceRegistry

BODIES = {
    "/hls": (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n", "application/vnd.apple.mpegurl"),
    "/flv": (b"FLV\x01\x05\x00\x00\x00\x09", "application/octet-stream"),
    "/ts": (b"\x47\x40\x00\x10" + b"\xff" * 184, "application/octet-stream"),
    "/html": (b"<html>nope</html>", "text/html"),
}


@pytest.fixture
async def origin() -> AsyncIterator[TestServer]:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/forbidden":
            return web.Response(status=403)
        if request.path == "/gone":
            return web.Response(status=404)
        if request.path == "/broken":
            return web.Response(status=500)
        body, ctype = BODIES[request.path]
        return web.Response(body=body, content_type=ctype.split(";")[0])

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://a/live.m3u8?t=1", StreamFormat.HLS), ("https://a/x.FLV", StreamFormat.FLV),
     ("http://a/b/c.ts", StreamFormat.TS), ("http://a/live", None), ("http://a/x.mp4", None)],
)
def test_format_from_path(url: str, expected: StreamFormat | None) -> None:
    assert format_from_path(url) is expected


def test_sniffing_bytes_and_content_types() -> None:
    assert sniff_format(b"\xef\xbb\xbf#EXTM3U") is StreamFormat.HLS
    assert sniff_format(b"", "audio/mpegurl") is StreamFormat.HLS
    assert sniff_format(b"FLV\x01") is StreamFormat.FLV
    assert sniff_format(b"\x47") is StreamFormat.TS
    assert sniff_format(b"<html>") is None


@pytest.mark.parametrize(("path", "expected"), [("/hls", StreamFormat.HLS), ("/flv", StreamFormat.FLV),
                                                ("/ts", StreamFormat.TS)])
async def test_resolve_sniffs_urls_without_an_extension(origin: TestServer, path: str,
                                                        expected: StreamFormat) -> None:
    async with aiohttp.ClientSession() as session:
        source = DirectSource(session, timeout=5)
        status = await source.resolve(ResolveRequest(str(origin.make_url(path)), quality="720p",
                                                     headers={"Referer": "x"}))
    assert status.state is LiveState.LIVE
    assert status.stream is not None
    assert status.stream.format is expected
    assert status.stream.quality == "720p"
    assert status.stream.headers == {"Referer": "x"}


@pytest.mark.parametrize(("path", "code"), [("/html", "UNSUPPORTED_FORMAT"), ("/forbidden", "SOURCE_BLOCKED"),
                                            ("/broken", "SOURCE_UNREACHABLE")])
async def test_resolve_reports_errors_as_a_status(origin: TestServer, path: str, code: str) -> None:
    async with aiohttp.ClientSession() as session:
        status = await DirectSource(session).resolve(ResolveRequest(str(origin.make_url(path))))
    assert status.state is LiveState.ERROR
    assert status.error_code == code
    assert status.error_message


async def test_a_missing_stream_is_offline_not_an_error(origin: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        status = await DirectSource(session).resolve(ResolveRequest(str(origin.make_url("/gone"))))
    assert status.state is LiveState.OFFLINE
    assert status.error_code == "LIVE_OFFLINE"


should_match = ["http://example.com/live.m3u8", "https://cdn.example.com/a/b.flv?token=x", "http://10.0.0.1/x.ts",
                "HTTPS://EXAMPLE.COM/live"]
should_not_match = ["ftp://example.com/live.m3u8", "file:///etc/passwd", "123456789", "@someone", "push:key",
                    "rtmp://example.com/live/x"]


@pytest.mark.parametrize("target", should_match)
def test_matches(target: str) -> None:
    assert DirectSource(None).matches(target)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", should_not_match)
def test_does_not_match(target: str) -> None:
    assert not DirectSource(None).matches(target)  # type: ignore[arg-type]


async def test_unreachable_hosts_are_an_error_status() -> None:
    async with aiohttp.ClientSession() as session:
        status = await DirectSource(session, timeout=2).resolve(ResolveRequest("http://127.0.0.1:9/live"))
    assert status.error_code == "SOURCE_UNREACHABLE"


async def test_registry_matches_and_names() -> None:
    async with aiohttp.ClientSession() as session:
        registry = SourceRegistry([DirectSource(session)])
        assert registry.match("https://x/y.m3u8").name == "url"
        assert registry.get("url").name == "url"
        assert registry.names == ["url"]
        with pytest.raises(UnsupportedSource):
            registry.match("rtmp://x/live")
        with pytest.raises(UnsupportedSource):
            registry.get("tiktok")
