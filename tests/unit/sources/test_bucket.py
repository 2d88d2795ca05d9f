"""The bucket source: `push:<stream_key>` targets resolved to the playlist's s3:// address in the segments bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from livevault.config import Settings
from livevault.domain.stream import LiveState, StreamFormat
from livevault.errors import InvalidStreamKey
from livevault.sources.base import ResolveRequest
from livevault.sources.bucket import ENGINE, BucketSource, create, playlist_key, playlist_url

should_match = [
    "push:abc",
    "push:d1eb2fe800d01c797c84f0b622e474d9",
    "push:cam_1.main~hd",
]

should_not_match = [
    "abc",
    "push:",
    "push:../etc",
    "s3://live-segments/abc/index.m3u8",
    "https://example.com/live/abc/index.m3u8",
]


def test_playlist_key_follows_the_layout() -> None:
    assert playlist_key("{stream_key}/index.m3u8", "abc") == "abc/index.m3u8"
    assert playlist_key("live/{stream_key}/hls/playlist.m3u8", "k1") == "live/k1/hls/playlist.m3u8"
    assert playlist_url("live-segments", "{stream_key}/index.m3u8", "abc") == "s3://live-segments/abc/index.m3u8"
    with pytest.raises(InvalidStreamKey):
        playlist_key("{stream_key}/index.m3u8", "../x")


async def test_resolve_gives_an_hls_stream_in_the_bucket() -> None:
    source = BucketSource(bucket="live-segments", layout="{stream_key}/index.m3u8")
    status = await source.resolve(ResolveRequest(target="push:d1eb2fe8"))
    assert status.state is LiveState.LIVE
    assert status.stream is not None
    assert status.stream.url == "s3://live-segments/d1eb2fe8/index.m3u8"
    assert status.stream.format is StreamFormat.HLS
    assert status.stream.engine == ENGINE
    assert status.stream.extra["stream_key"] == "d1eb2fe8"


async def test_resolve_refuses_other_targets() -> None:
    source = BucketSource(bucket="live-segments", layout="{stream_key}/index.m3u8")
    with pytest.raises(InvalidStreamKey):
        await source.resolve(ResolveRequest(target="https://example.com/a.m3u8"))


def test_settings_accept_seed_names_and_go_durations(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, MINIO_BUCKET_SEGMENTS="segs", MONITOR_INTERVAL="10s",  # type: ignore[call-arg]
                        SEGMENT_DOWNLOAD_TIMEOUT="1m30s", MAX_RETRY_ATTEMPTS="3",
                        LIVEVAULT_BUCKET_PLAYLIST="hls/{stream_key}/live.m3u8")
    assert settings.bucket_source_bucket == "segs"
    assert settings.bucket_poll_interval == 10.0
    assert settings.bucket_read_timeout == 90.0
    assert settings.bucket_read_retries == 3
    source = create(settings, None)  # type: ignore[arg-type]
    assert source.url_for("k") == "s3://segs/hls/k/live.m3u8"
    with pytest.raises(ValueError, match="stream_key"):
        Settings(data_dir=tmp_path, LIVEVAULT_BUCKET_PLAYLIST="index.m3u8")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path, MONITOR_INTERVAL="soon")  # type: ignore[call-arg]
