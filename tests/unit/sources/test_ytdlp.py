"""The yt-dlp source: routing (site extractors only, never plain media URLs), and resolving the live test
server through the real yt-dlp library and its generic extractor."""

from __future__ import annotations

import socket
import uuid

import pytest

from livevault.domain.stream import LiveState, StreamFormat
from livevault.errors import LiveOffline, SourceBlocked, SourceUnreachable, UnsupportedSource
from livevault.sources.base import ResolveRequest
from livevault.sources.ytdlp import YtDlpSource, choose, cookie_header, map_ytdlp_error, pick_format
from livevault.testsrc import LiveStream, StreamServer

should_match = [
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtu.be/dQw4w9WgXcQ",
    "https://www.twitch.tv/somechannel",
    "https://vimeo.com/123456789",
    "https://www.tiktok.com/@someone/live",
]

should_not_match = [
    "https://cdn.example.com/live/stream.m3u8",
    "https://cdn.example.com/live/stream.flv?token=abc",
    "http://127.0.0.1:8080/live/x/master.m3u8",
    "https://cdn.example.com/segments/part-1.ts",
    "https://example.com/some/page",
    "rtmp://example.com/live/key",
    "hls://https://example.com/live.m3u8",
    "7503448765740976902",
    "@someone",
]


def new_stream(server: StreamServer) -> LiveStream:
    return server.stream(f"y-{uuid.uuid4().hex[:8]}", segment_duration=1.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_named_ytdlp_source_accepts_any_web_url_but_routes_only_known_sites() -> None:
    source = YtDlpSource()
    assert source.accepts("http://127.0.0.1:8080/live/x/master.m3u8")
    assert source.accepts("https://example.com/some/page")
    assert not source.accepts("rtmp://example.com/live/key")
    assert not source.matches("https://example.com/some/page")


async def test_resolve_picks_the_variant_by_quality_with_the_generic_extractor(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    source = YtDlpSource(allow_private=True)

    best = await source.resolve(ResolveRequest(target=stream.master_url))
    worst = await source.resolve(ResolveRequest(target=stream.master_url, quality="worst"))
    capped = await source.resolve(ResolveRequest(target=stream.master_url, quality="200p"))

    assert best.state is LiveState.LIVE
    assert best.stream is not None
    assert best.stream.url == stream.playlist_url("hi")
    assert best.stream.format is StreamFormat.HLS
    assert best.stream.engine is None
    assert best.stream.extra["format_id"] == "hi"
    assert "User-Agent" in best.stream.headers
    assert best.stream.title
    assert worst.stream is not None
    assert worst.stream.url == stream.playlist_url("lo")
    assert capped.stream is not None
    assert capped.stream.url == stream.playlist_url("lo")


async def test_resolve_reads_a_progressive_flv_url(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    status = await YtDlpSource(allow_private=True).resolve(ResolveRequest(target=stream.flv_url, proxy=None))
    assert status.state is LiveState.LIVE
    assert status.stream is not None
    assert status.stream.format is StreamFormat.FLV
    assert status.stream.url == stream.flv_url


async def test_resolve_reports_an_offline_stream_as_live_offline(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    stream.offline(60)
    status = await YtDlpSource(allow_private=True).resolve(ResolveRequest(target=stream.master_url))
    assert status.state is LiveState.OFFLINE
    assert status.error_code == "LIVE_OFFLINE"


async def test_resolve_reports_an_unreachable_host() -> None:
    status = await YtDlpSource(allow_private=True, timeout=3).resolve(
        ResolveRequest(target=f"http://127.0.0.1:{free_port()}/live.m3u8"))
    assert status.state is LiveState.ERROR
    assert status.error_code == "SOURCE_UNREACHABLE"


async def test_resolve_refuses_private_addresses_unless_allowed(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    status = await YtDlpSource(allow_private=False).resolve(ResolveRequest(target=stream.master_url))
    assert status.state is LiveState.ERROR
    assert status.error_code == "ADDRESS_NOT_ALLOWED"
    assert not stream.request_log, "nothing may be fetched from a refused address"


async def test_resolve_says_a_page_without_a_stream_is_unsupported(stream_server: StreamServer) -> None:
    status = await YtDlpSource(allow_private=True).resolve(ResolveRequest(target=f"{stream_server.base_url}/"))
    assert status.state is LiveState.ERROR
    assert status.error_code == "UNSUPPORTED_FORMAT"


async def test_resolve_rejects_a_non_http_target() -> None:
    status = await YtDlpSource(allow_private=True).resolve(ResolveRequest(target="rtmp://example.com/live"))
    assert status.state is LiveState.ERROR
    assert status.error_code == "INVALID_URL"


def test_formats_are_chosen_like_hls_variants() -> None:
    formats = [
        {"format_id": "dash-v", "url": "https://x/v.mp4", "protocol": "https", "ext": "mp4", "acodec": "none"},
        {"format_id": "hls-360", "url": "https://x/360.m3u8", "protocol": "m3u8_native", "height": 360, "tbr": 800},
        {"format_id": "hls-720", "url": "https://x/720.m3u8", "protocol": "m3u8_native", "height": 720, "tbr": 2500},
        {"format_id": "flv-1080", "url": "https://x/1080.flv", "protocol": "https", "ext": "flv", "height": 1080,
         "tbr": 5000},
    ]
    assert pick_format(formats, "best")[0]["format_id"] == "flv-1080"
    assert pick_format(formats, "best")[1] is StreamFormat.FLV
    assert pick_format(formats, "worst")[0]["format_id"] == "hls-360"
    assert pick_format(formats, "720p")[0]["format_id"] == "hls-720"
    assert pick_format(formats, "240p")[0]["format_id"] == "hls-360"
    assert pick_format(formats, "3000000")[0]["format_id"] == "hls-720"
    assert pick_format(formats, "hls-720")[0]["format_id"] == "hls-720"


def test_a_live_offered_only_as_http_mp4_goes_to_the_ffmpeg_engine() -> None:
    chosen, fmt, engine = pick_format([{"url": "https://x/live.mp4", "protocol": "https", "ext": "mp4"}], "best")
    assert (chosen["url"], fmt, engine) == ("https://x/live.mp4", StreamFormat.TS, "ffmpeg")


def test_formats_livevault_cannot_record_are_refused() -> None:
    from livevault.errors import NoMatchingQuality, UnsupportedFormat

    with pytest.raises(UnsupportedFormat):
        pick_format([{"url": "rtmp://x/live", "protocol": "rtmp", "ext": "flv"}], "best")
    with pytest.raises(NoMatchingQuality):
        choose([{"format_id": "a", "url": "https://x/a.m3u8"}], "ultra")


def test_cookies_from_ytdlp_become_a_cookie_header() -> None:
    raw = 'sid=abc; Domain=.example.com; Path=/; Secure; token="x=y"'
    assert cookie_header(raw) == "sid=abc; token=x=y"


def test_ytdlp_errors_map_to_livevault_codes() -> None:
    from yt_dlp.utils import DownloadError, GeoRestrictedError, UnsupportedError, UserNotLive

    assert isinstance(map_ytdlp_error(DownloadError("ERROR: x", (None, UserNotLive(), None))), LiveOffline)
    assert isinstance(map_ytdlp_error(UnsupportedError("https://example.com/")), UnsupportedSource)
    assert isinstance(map_ytdlp_error(GeoRestrictedError("not in your country")), SourceBlocked)
    assert isinstance(map_ytdlp_error(DownloadError("ERROR: This live event will begin in 2 hours")), LiveOffline)
    assert isinstance(map_ytdlp_error(ConnectionRefusedError(111, "Connection refused")), SourceUnreachable)
