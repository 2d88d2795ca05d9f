"""The streamlink source: routing (protocol URLs and site plugins, never plain media URLs), and resolving the
live test server through the real streamlink library, `hls://` and `httpstream://` included."""

from __future__ import annotations

import socket
import uuid

import pytest

from livevault.domain.stream import LiveState, StreamFormat
from livevault.errors import LiveOffline, NoMatchingQuality, SourceBlocked, SourceUnreachable
from livevault.sources.base import ResolveRequest
from livevault.sources.streamlink import StreamlinkSource, inner_url, map_streamlink_error, pick_stream
from livevault.testsrc import LiveStream, StreamServer

should_match = [
    "hls://https://cdn.example.com/live/index.m3u8",
    "hls://cdn.example.com/live/index.m3u8",
    "hlsvariant://http://127.0.0.1:8080/live/x/master.m3u8",
    "httpstream://https://cdn.example.com/live.flv",
    "https://www.twitch.tv/somechannel",
]

should_not_match = [
    "https://cdn.example.com/live/stream.m3u8",
    "http://127.0.0.1:8080/live/x/master.m3u8",
    "https://cdn.example.com/live/stream.flv",
    "https://example.com/some/page",
    "hls://ftp://example.com/live.m3u8",
    "rtmp://example.com/live/key",
    "7503448765740976902",
    "@someone",
]


def new_stream(server: StreamServer) -> LiveStream:
    return server.stream(f"sl-{uuid.uuid4().hex[:8]}", segment_duration=1.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_named_streamlink_source_accepts_plain_media_urls_too() -> None:
    source = StreamlinkSource()
    assert source.accepts("http://127.0.0.1:8080/live/x/master.m3u8")
    assert source.accepts("hls://http://127.0.0.1:8080/live/x/master.m3u8")
    assert not source.accepts("rtmp://example.com/live/key")
    assert inner_url("hls://example.com/a.m3u8") == "https://example.com/a.m3u8"
    assert inner_url("https://example.com/a.m3u8") is None


async def test_resolve_an_hls_protocol_url_picks_the_variant_by_quality(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    source = StreamlinkSource(allow_private=True)
    target = f"hls://{stream.master_url}"

    best = await source.resolve(ResolveRequest(target=target))
    worst = await source.resolve(ResolveRequest(target=target, quality="worst"))
    capped = await source.resolve(ResolveRequest(target=target, quality="720p"))

    assert best.state is LiveState.LIVE
    assert best.stream is not None
    assert (best.stream.url, best.stream.format, best.stream.extra["stream"]) == (
        stream.playlist_url("hi"), StreamFormat.HLS, "best")
    assert "User-Agent" in best.stream.headers
    assert "Accept-Encoding" not in best.stream.headers
    assert worst.stream is not None
    assert worst.stream.url == stream.playlist_url("lo")
    assert capped.stream is not None
    assert capped.stream.url == stream.playlist_url("hi")
    assert capped.stream.extra["stream"] == "240p"
    assert capped.stream.quality == "720p", "the engine sees the quality asked for"


async def test_resolve_a_plain_m3u8_url_when_streamlink_is_named(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    status = await StreamlinkSource(allow_private=True).resolve(
        ResolveRequest(target=stream.master_url, quality="120p", headers={"X-Test": "1"}))
    assert status.stream is not None
    assert status.stream.url == stream.playlist_url("lo")
    assert status.stream.headers["X-Test"] == "1"
    assert status.stream.extra["plugin"] == "hls"


async def test_resolve_httpstream_urls_as_flv_and_ts(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    source = StreamlinkSource(allow_private=True)
    flv = await source.resolve(ResolveRequest(target=f"httpstream://{stream.flv_url}"))
    ts = await source.resolve(ResolveRequest(target=f"httpstream://{stream.ts_url}"))
    assert flv.stream is not None
    assert (flv.stream.url, flv.stream.format) == (stream.flv_url, StreamFormat.FLV)
    assert ts.stream is not None
    assert (ts.stream.url, ts.stream.format) == (stream.ts_url, StreamFormat.TS)


async def test_resolve_reports_an_offline_stream_as_live_offline(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    stream.offline(60)
    status = await StreamlinkSource(allow_private=True).resolve(ResolveRequest(target=f"hls://{stream.master_url}"))
    assert status.state is LiveState.OFFLINE
    assert status.error_code == "LIVE_OFFLINE"


async def test_resolve_reports_an_unreachable_host_and_a_url_without_plugin() -> None:
    source = StreamlinkSource(allow_private=True, timeout=3)
    down = await source.resolve(ResolveRequest(target=f"hls://http://127.0.0.1:{free_port()}/live.m3u8"))
    assert (down.state, down.error_code) == (LiveState.ERROR, "SOURCE_UNREACHABLE")
    unknown = await source.resolve(ResolveRequest(target="https://example.invalid/some/page"))
    assert (unknown.state, unknown.error_code) == (LiveState.ERROR, "UNSUPPORTED_SOURCE")


async def test_resolve_refuses_private_addresses_unless_allowed(stream_server: StreamServer) -> None:
    stream = new_stream(stream_server)
    status = await StreamlinkSource(allow_private=False).resolve(ResolveRequest(target=f"hls://{stream.master_url}"))
    assert (status.state, status.error_code) == (LiveState.ERROR, "ADDRESS_NOT_ALLOWED")
    assert not stream.request_log, "nothing may be fetched from a refused address"


def test_stream_names_are_chosen_by_quality() -> None:
    names = ["160p", "360p", "720p60", "1080p60", "audio_only", "worst", "best"]
    assert pick_stream(names, "best") == "best"
    assert pick_stream(names, "720p") == "720p60"
    assert pick_stream(names, "480p") == "360p"
    assert pick_stream(names, "144p") == "160p"
    assert pick_stream(names, "audio_only") == "audio_only"
    assert pick_stream(["live"], "720p") == "live"
    assert pick_stream(["500k", "1500k", "best", "worst"], "1000000") == "500k"
    with pytest.raises(NoMatchingQuality):
        pick_stream(names, "ultra")


def test_streamlink_errors_map_to_livevault_codes() -> None:
    import requests
    from streamlink.exceptions import PluginError

    def wrapped(status: int) -> PluginError:
        response = requests.Response()
        response.status_code = status
        error = PluginError("Unable to open URL")
        error.__cause__ = requests.HTTPError(response=response)
        return error

    assert isinstance(map_streamlink_error(wrapped(404)), LiveOffline)
    assert isinstance(map_streamlink_error(wrapped(403)), SourceBlocked)
    assert isinstance(map_streamlink_error(wrapped(502)), SourceUnreachable)
    cause = PluginError("Unable to open URL")
    cause.__cause__ = requests.ConnectionError("refused")
    assert isinstance(map_streamlink_error(cause), SourceUnreachable)
