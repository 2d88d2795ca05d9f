"""s3:// addresses: joining relative URIs within the bucket, and the HTTP client presigning them per request."""

from __future__ import annotations

import pytest

from livevault.capture.m3u8 import parse_media_playlist
from livevault.capture.s3url import join_url, split_s3
from livevault.errors import InvalidUrl


def test_join_resolves_within_the_bucket() -> None:
    base = "s3://live-segments/key1/index.m3u8"
    assert join_url(base, "seg_000.ts") == "s3://live-segments/key1/seg_000.ts"
    assert join_url(base, "hi/seg_1.ts?x=1") == "s3://live-segments/key1/hi/seg_1.ts"
    assert join_url(base, "../other/seg.ts") == "s3://live-segments/other/seg.ts"
    assert join_url(base, "/abs/seg.ts") == "s3://live-segments/abs/seg.ts"
    assert join_url(base, "https://cdn.example/seg.ts") == "https://cdn.example/seg.ts"
    assert join_url("https://h/a/index.m3u8", "b.ts") == "https://h/a/b.ts"
    with pytest.raises(InvalidUrl):
        join_url(base, "../../../x.ts")


def test_split_refuses_what_is_not_a_key() -> None:
    assert split_s3("s3://b/k/x.ts") == ("b", "k/x.ts")
    for bad in ("s3://b/", "https://b/k", "s3:///k", "s3://b/k/../../x"):
        with pytest.raises(InvalidUrl):
            split_s3(bad)


def test_media_playlist_segments_resolve_to_s3_addresses() -> None:
    text = ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n"
            "#EXTINF:2.0,\nseg_007.ts\n#EXTINF:2.0,\nseg_008.ts\n")
    playlist = parse_media_playlist(text, "s3://live-segments/abc/index.m3u8")
    assert [s.uri for s in playlist.segments] == [
        "s3://live-segments/abc/seg_007.ts", "s3://live-segments/abc/seg_008.ts",
    ]
