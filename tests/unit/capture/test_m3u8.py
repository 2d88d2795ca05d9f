"""The playlist parser: master and media playlists, nasty ones included, and variant selection."""

from __future__ import annotations

import pytest

from livevault.capture.m3u8 import (
    ByteRange,
    MasterPlaylist,
    MediaPlaylist,
    parse_attributes,
    parse_media_playlist,
    parse_playlist,
    select_variant,
    start_index,
)
from livevault.errors import InvalidInput, NoMatchingQuality, PlaylistInvalid

BASE = "https://cdn.example.com/live/stream/index.m3u8?token=abc%2Fdef&exp=1"

MASTER = """#EXTM3U
#EXT-X-VERSION:4
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English, main",LANGUAGE="en",DEFAULT=YES,URI="audio/en.m3u8?t=1"
#EXT-X-STREAM-INF:BANDWIDTH=800000,AVERAGE-BANDWIDTH=700000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",FRAME-RATE=30.000,AUDIO="aud"
low/index.m3u8?sig=L%3D%3D
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=59.94
mid/index.m3u8?sig=M
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="iframe.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080
https://other.example.net/high/index.m3u8?sig=H
#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"
audio-only.m3u8
"""


def test_attribute_lists_keep_commas_inside_quotes() -> None:
    attrs = parse_attributes('BANDWIDTH=1,CODECS="avc1.4d401f,mp4a.40.2",NAME="a, b",iv=0x01')
    assert attrs == {"BANDWIDTH": "1", "CODECS": "avc1.4d401f,mp4a.40.2", "NAME": "a, b", "IV": "0x01"}


def test_master_playlist_variants_and_renditions() -> None:
    master = parse_playlist(MASTER, BASE)
    assert isinstance(master, MasterPlaylist)
    assert [v.bandwidth for v in master.variants] == [800000, 2500000, 5000000, 64000]
    low = master.variants[0]
    assert low.uri == "https://cdn.example.com/live/stream/low/index.m3u8?sig=L%3D%3D"
    assert (low.average_bandwidth, low.resolution, low.codecs) == (700000, (640, 360), "avc1.4d401e,mp4a.40.2")
    assert low.frame_rate == 30.0
    assert low.audio == "aud"
    assert master.variants[2].uri == "https://other.example.net/high/index.m3u8?sig=H"
    assert master.variants[3].resolution is None
    (audio,) = master.media
    assert (audio.type, audio.group_id, audio.name, audio.language, audio.default) == (
        "AUDIO", "aud", "English, main", "en", True)
    assert audio.uri == "https://cdn.example.com/live/stream/audio/en.m3u8?t=1"


@pytest.mark.parametrize(
    ("quality", "bandwidth"),
    [("best", 5000000), ("worst", 64000), ("BEST", 5000000), ("720p", 2500000), ("1080p", 5000000),
     ("2160p", 5000000), ("480p", 800000), ("360p", 800000), ("240p", 800000), ("720p60", 2500000),
     ("3000000", 2500000), ("800000", 800000), ("10", 64000)],
)
def test_select_variant(quality: str, bandwidth: int) -> None:
    master = parse_playlist(MASTER, BASE)
    assert isinstance(master, MasterPlaylist)
    assert select_variant(master, quality).bandwidth == bandwidth


def test_select_variant_rejects_unknown_quality_and_empty_masters() -> None:
    master = parse_playlist(MASTER, BASE)
    assert isinstance(master, MasterPlaylist)
    with pytest.raises(InvalidInput):
        select_variant(master, "ultra")
    with pytest.raises(NoMatchingQuality):
        select_variant(MasterPlaylist(url=BASE, variants=()), "best")


def test_height_quality_without_resolutions_takes_the_best() -> None:
    text = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=9\nb.m3u8\n"
    master = parse_playlist(text, BASE)
    assert isinstance(master, MasterPlaylist)
    assert select_variant(master, "480p").uri.endswith("b.m3u8")


MEDIA = (
    "\ufeff#EXTM3U\r\n"
    "#EXT-X-VERSION:7\r\n"
    "#EXT-X-TARGETDURATION:6\r\n"
    "#EXT-X-MEDIA-SEQUENCE:1000\r\n"
    "#EXT-X-DISCONTINUITY-SEQUENCE:4\r\n"
    "#EXT-X-PLAYLIST-TYPE:event\r\n"
    "#EXT-X-SOMETHING-NEW:1\r\n"
    "\r\n"
    "#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example.com/k1?auth=x%2By\",IV=0x000102030405060708090a0b0c0d0e0f\r\n"
    "#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"\r\n"
    "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z\r\n"
    "#EXTINF:5.005,first title, with comma\r\n"
    "seg1000.m4s?tok=1\r\n"
    "#EXTINF:6\r\n"
    "/abs/seg1001.m4s\r\n"
    "#EXT-X-KEY:METHOD=AES-128,URI=\"../k2\"\r\n"
    "#EXT-X-DISCONTINUITY\r\n"
    "#EXT-X-MAP:URI=\"init2.mp4\"\r\n"
    "#EXTINF:4.5,\r\n"
    "//edge.example.org/seg1002.m4s\r\n"
    "#EXT-X-KEY:METHOD=NONE\r\n"
    "#EXT-X-GAP\r\n"
    "#EXTINF:6.0,\r\n"
    "seg1003.m4s\r\n"
    "#EXT-X-ENDLIST\r\n"
)


def test_media_playlist_with_everything() -> None:
    playlist = parse_playlist(MEDIA, BASE)
    assert isinstance(playlist, MediaPlaylist)
    assert (playlist.target_duration, playlist.media_sequence, playlist.discontinuity_sequence) == (6, 1000, 4)
    assert (playlist.version, playlist.playlist_type, playlist.endlist) == (7, "EVENT", True)
    assert playlist.last_sequence == 1003
    s0, s1, s2, s3 = playlist.segments
    assert s0.uri == "https://cdn.example.com/live/stream/seg1000.m4s?tok=1"
    assert (s0.sequence, s0.duration, s0.title) == (1000, 5.005, "first title, with comma")
    assert s0.program_date_time == "2024-05-01T12:00:00.000Z"
    assert s0.key is not None
    assert s0.key.method == "AES-128"
    assert s0.key.uri == "https://keys.example.com/k1?auth=x%2By"
    assert s0.key.iv == bytes(range(16))
    assert s0.init is not None
    assert s0.init.uri == "https://cdn.example.com/live/stream/init.mp4"
    assert s0.init.byterange == ByteRange(720, 0)
    assert (s1.uri, s1.duration, s1.program_date_time) == ("https://cdn.example.com/abs/seg1001.m4s", 6.0, None)
    assert s1.key == s0.key
    assert s1.discontinuity_sequence == 4
    assert not s1.discontinuity
    assert s2.uri == "https://edge.example.org/seg1002.m4s"
    assert s2.discontinuity
    assert s2.discontinuity_sequence == 5
    assert s2.key is not None
    assert s2.key.uri == "https://cdn.example.com/live/k2"
    assert s2.key.iv is None
    assert s2.init is not None
    assert s2.init.uri.endswith("/init2.mp4")
    assert s2.init.byterange is None
    assert s3.key is None
    assert s3.gap
    assert s3.discontinuity_sequence == 5
    assert not s3.discontinuity


def test_byteranges_imply_offsets_per_resource() -> None:
    text = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXTINF:2,
#EXT-X-BYTERANGE:100@50
all.ts
#EXTINF:2,
#EXT-X-BYTERANGE:200
all.ts
#EXTINF:2,
#EXT-X-BYTERANGE:10
other.ts
#EXTINF:2,
#EXT-X-BYTERANGE:30
all.ts
#EXTINF:2,
whole.ts
"""
    playlist = parse_media_playlist(text, "http://h/p/x.m3u8")
    assert [s.byterange for s in playlist.segments] == [
        ByteRange(100, 50), ByteRange(200, 150), ByteRange(10, 0), ByteRange(30, 350), None]


def test_short_iv_is_left_padded_and_bad_iv_is_invalid() -> None:
    head = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
    ok = parse_media_playlist(head + '#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0X1F\n#EXTINF:2,\na.ts\n', BASE)
    assert ok.segments[0].key is not None
    assert ok.segments[0].key.iv == b"\x00" * 15 + b"\x1f"
    with pytest.raises(PlaylistInvalid):
        parse_media_playlist(head + '#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0xZZ\n#EXTINF:2,\na.ts\n', BASE)


def test_keyformats_prefer_identity_and_sample_aes_is_kept() -> None:
    text = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://x",KEYFORMAT="com.apple.streamingkeydelivery"
#EXT-X-KEY:METHOD=AES-128,URI="k.bin",KEYFORMAT="identity"
#EXTINF:2,
a.ts
#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://y",KEYFORMAT="com.apple.streamingkeydelivery"
#EXTINF:2,
b.ts
"""
    a, b = parse_media_playlist(text, BASE).segments
    assert a.key is not None
    assert a.key.method == "AES-128"
    assert a.key.uri is not None
    assert a.key.uri.endswith("/k.bin")
    assert b.key is not None
    assert b.key.method == "SAMPLE-AES"
    assert b.key.keyformat.startswith("com.apple")


@pytest.mark.parametrize(
    "text",
    ["", "#EXTINF:2,\na.ts\n", "<html>not a playlist</html>",
     "#EXTM3U\n#EXTINF:2,\na.ts\n", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n#EXT-X-TARGETDURATION:2\n"],
)
def test_invalid_playlists(text: str) -> None:
    with pytest.raises(PlaylistInvalid):
        parse_playlist(text, BASE)


def test_a_master_where_a_media_playlist_is_expected_is_invalid() -> None:
    with pytest.raises(PlaylistInvalid):
        parse_media_playlist(MASTER, BASE)


def test_tolerates_sloppy_playlists() -> None:
    text = "  \n#EXTM3U\n\n#EXT-X-TARGETDURATION:2.5\n#EXTINF:bogus,t\na.ts\nb.ts\n#EXTINF:1.5\n  c.ts  \n"
    playlist = parse_media_playlist(text, "http://h/dir/")
    assert [(s.uri, s.duration, s.sequence) for s in playlist.segments] == [
        ("http://h/dir/a.ts", 2.5, 0), ("http://h/dir/b.ts", 2.5, 1), ("http://h/dir/c.ts", 1.5, 2)]


def test_empty_live_playlist() -> None:
    playlist = parse_media_playlist("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n", BASE)
    assert playlist.segments == ()
    assert playlist.last_sequence == 6
    assert not playlist.endlist


def _playlist(durations: list[float], target: float = 2, endlist: bool = False) -> MediaPlaylist:
    body = "".join(f"#EXTINF:{d},\ns{i}.ts\n" for i, d in enumerate(durations))
    tail = "#EXT-X-ENDLIST\n" if endlist else ""
    return parse_media_playlist(f"#EXTM3U\n#EXT-X-TARGETDURATION:{target}\n{body}{tail}", BASE)


def test_start_index_live_edge_and_window_start() -> None:
    assert start_index(_playlist([2] * 6)) == 5, "live_edge: the newest segment"
    assert start_index(_playlist([2] * 2)) == 1
    assert start_index(_playlist([2] * 6), "player") == 3
    assert start_index(_playlist([2, 2, 2, 1.9, 1.9, 1.9]), "player") == 2
    assert start_index(_playlist([2] * 2), "player") == 0
    assert start_index(_playlist([2] * 6), "window_start") == 0
    assert start_index(_playlist([2] * 6, endlist=True)) == 0
    with pytest.raises(InvalidInput):
        start_index(_playlist([2] * 6), "middle")
