"""The HLS endpoints of a running server, fetched over real HTTP."""

from __future__ import annotations

import itertools
import time

import av
import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from livevault.testsrc import StreamServer, describe_urls, read_frame_number
from tests.unit.testsrc.conftest import SEGMENT, Playlist, decode, numbers


def _decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()


def test_master_playlist_lists_two_variants(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("master", preroll=2)
    response = client.get(stream.master_url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    lines = response.text.splitlines()
    infos = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert [lines[lines.index(info) + 1] for info in infos] == ["hi/index.m3u8", "lo/index.m3u8"]
    assert "RESOLUTION=320x240" in infos[0]
    assert "RESOLUTION=160x120" in infos[1]
    assert all('CODECS="avc1.' in info and "mp4a.40.2" in info for info in infos)
    bandwidths = [int(info.split("BANDWIDTH=")[1].split(",")[0]) for info in infos]
    assert bandwidths[0] > bandwidths[1] > 0


def test_media_playlist_slides_in_real_time(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("sliding", window=3)
    started = time.monotonic()
    first = Playlist(client.get(stream.playlist_url("hi")).text)  # held until segment 0 exists
    assert time.monotonic() - started >= SEGMENT * 0.8
    assert first.tags["EXT-X-TARGETDURATION"] == "1"
    assert first.tags["EXT-X-VERSION"] == "3"
    assert first.media_sequence == 0
    assert first.uris[0] == "seg-0.ts"
    assert all(segment["duration"] == SEGMENT for segment in first.segments)
    stream.wait_for_segments(5, timeout=5)
    later = Playlist(client.get(stream.playlist_url("hi")).text)
    assert len(later.segments) == 3
    assert later.media_sequence >= 2
    assert later.uris == [f"seg-{n}.ts" for n in range(later.media_sequence, later.media_sequence + 3)]
    assert later.tags["EXT-X-DISCONTINUITY-SEQUENCE"] == "0"
    assert not later.ended
    stamps = [str(segment["pdt"]) for segment in later.segments]
    assert stamps == sorted(stamps)


def test_ts_segment_holds_the_frames_recorded_as_served(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("frames", preroll=3)
    response = client.get(stream.url("hi/seg-2.ts"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp2t"
    assert int(response.headers["content-length"]) == len(response.content)
    served = stream.served("hi")[-1]
    assert (served.sequence, served.global_index, served.status, served.completed) == (2, 2, 200, True)
    assert served.bytes == len(response.content)
    assert served.duration == SEGMENT
    assert numbers(response.content) == list(served.frames) == list(range(24, 36))
    lo = client.get(stream.url("lo/seg-2.ts"))
    assert numbers(lo.content) == list(range(24, 36))


def test_consecutive_ts_segments_play_continuously(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("continuous", preroll=4)
    playlist = Playlist(client.get(stream.playlist_url("hi")).text)
    joined = b"".join(client.get(stream.url(f"hi/{uri}")).content for uri in playlist.uris)
    frames, samples = decode(joined)
    assert [n for _, n in frames] == list(range(len(frames)))
    assert len(frames) == 12 * len(playlist.uris)
    steps = {b[0] - a[0] for a, b in itertools.pairwise(frames)}
    assert steps == {3750}
    assert abs(samples - len(playlist.uris) * 24_000) < 1024


def test_fmp4_init_and_fragment_decode(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("fmp4", preroll=2)
    playlist = Playlist(client.get(stream.playlist_url("fmp4")).text)
    assert playlist.tags["EXT-X-VERSION"] == "7"
    assert playlist.segments[0]["map"] == "init-0.mp4"
    init = client.get(stream.url("fmp4/init-0.mp4"))
    fragment = client.get(stream.url(f"fmp4/{playlist.uris[1]}"))
    assert init.headers["content-type"] == "video/mp4"
    assert fragment.headers["content-type"] == "video/iso.segment"
    assert numbers(init.content + fragment.content) == list(range(12, 24))
    assert stream.served("fmp4")[-1].global_index == 1
    assert client.get(stream.url("fmp4/init-9.mp4")).status_code == 404


def test_aes_segments_decrypt_to_ts(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("aes", preroll=2)
    playlist = Playlist(client.get(stream.playlist_url("aes")).text)
    key_tag = str(playlist.segments[1]["key"])
    assert 'METHOD=AES-128,URI="key.bin",IV=0x' in key_tag
    iv = bytes.fromhex(key_tag.split("IV=0x")[1])
    key = client.get(stream.url("aes/key.bin")).content
    assert len(key) == 16
    encrypted = client.get(stream.url(f"aes/{playlist.uris[1]}")).content
    assert numbers(_decrypt(encrypted, key, iv)) == list(range(12, 24))


def test_aes_implicit_iv_and_key_rotation(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("aes-rotate", preroll=4, key_period=2, aes_iv="alternate")
    playlist = Playlist(client.get(stream.playlist_url("aes")).text)
    keys = [str(segment.get("key")) for segment in playlist.segments]
    assert 'URI="key-0.bin",IV=0x' in keys[0]
    assert 'URI="key-0.bin",IV=0x' in keys[1]
    assert keys[2] == 'METHOD=AES-128,URI="key-1.bin"'
    assert keys[3] == "None"
    key = client.get(stream.url("aes/key-1.bin")).content
    encrypted = client.get(stream.url("aes/seg-3.ts")).content
    assert numbers(_decrypt(encrypted, key, (3).to_bytes(16, "big"))) == list(range(36, 48))


def test_byterange_segments_are_ranges_of_growing_chunks(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("ranges", preroll=3, byterange_group=2)
    playlist = Playlist(client.get(stream.playlist_url("byterange")).text)
    assert playlist.tags["EXT-X-VERSION"] == "4"
    assert playlist.uris == ["chunk-0.ts", "chunk-0.ts", "chunk-1.ts"]
    length, offset = playlist.segments[1]["byterange"]  # type: ignore[misc]
    assert offset == playlist.segments[0]["byterange"][0]  # type: ignore[index]
    part = client.get(stream.url("byterange/chunk-0.ts"), headers={"Range": f"bytes={offset}-{offset + length - 1}"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes {offset}-{offset + length - 1}/{offset + length}"
    assert part.content == client.get(stream.url("hi/seg-1.ts")).content
    assert numbers(part.content) == list(range(12, 24))
    assert [s.global_index for s in stream.served("byterange")] == [1]
    growing = client.get(stream.url("byterange/chunk-1.ts"))
    assert growing.status_code == 200
    assert len(growing.content) == playlist.segments[2]["byterange"][0]


def test_segment_ranges_heads_and_missing_segments(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("http", preroll=2, window=2)
    head = client.head(stream.url("hi/seg-0.ts"))
    assert head.status_code == 200
    assert int(head.headers["content-length"]) > 0
    assert head.content == b""
    first = client.get(stream.url("hi/seg-0.ts"), headers={"Range": "bytes=0-187"})
    assert first.status_code == 206
    assert len(first.content) == 188
    assert first.content[0] == 0x47
    tail = client.get(stream.url("hi/seg-0.ts"), headers={"Range": "bytes=-188"})
    assert tail.status_code == 206
    assert len(tail.content) == 188
    assert client.get(stream.url("hi/seg-0.ts"), headers={"Range": "bytes=99999999-"}).status_code == 416
    assert client.get(stream.url("hi/seg-99.ts")).status_code == 404
    stream.wait_for_segments(8, timeout=5)
    assert client.get(stream.url("hi/seg-0.ts")).status_code == 404  # left the window long ago
    assert stream.served("hi")[-1].status == 404
    assert client.get(f"{server.base_url}/live/http/nothing-here").status_code == 404


def test_token_is_required_everywhere_and_carried_in_uris(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("secret", preroll=2, token="s3cret")
    root = f"{server.base_url}/live/secret"
    for path in ("master.m3u8", "hi/index.m3u8", "hi/seg-0.ts", "aes/key.bin", "fmp4/init-0.mp4", "stream.flv"):
        assert client.get(f"{root}/{path}").status_code == 403
        assert client.get(f"{root}/{path}?token=wrong").status_code == 403
    master = client.get(stream.master_url).text
    assert "hi/index.m3u8?token=s3cret" in master
    for flavour in ("hi", "aes", "fmp4", "byterange"):
        text = client.get(stream.playlist_url(flavour)).text
        uris = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert uris
        assert all(uri.endswith("?token=s3cret") for uri in uris)
        assert 'URI="' not in text or '?token=s3cret"' in text
    assert client.get(stream.url("hi/seg-0.ts")).status_code == 200
    assert [r.status for r in stream.request_log[:2]] == [403, 403]
    assert describe_urls(server.base_url, "secret", "s3cret")["master"] == stream.master_url


def test_streams_are_created_on_first_request(server: StreamServer, client: httpx.Client) -> None:
    response = client.get(f"{server.base_url}/live/adhoc/lo/index.m3u8")
    assert response.status_code == 200
    assert "seg-0.ts" in response.text
    assert "adhoc" in server.streams
    index = client.get(f"{server.base_url}/").text
    assert "/live/adhoc/master.m3u8" in index
    with pytest.raises(ValueError):
        server.stream("adhoc", window=2)
    assert server.stream("adhoc") is server.streams["adhoc"]
    assert server.stream().name != server.stream().name


@pytest.mark.parametrize("flavour", ["hi", "lo", "fmp4", "aes", "byterange"])
def test_ffmpeg_hls_client_plays_every_flavour(server: StreamServer, flavour: str) -> None:
    """libavformat's own HLS demuxer (a real client) reads the whole playlist, keys, ranges and all."""
    stream = server.stream(
        f"client-{flavour}", preroll=4, max_segments=4, key_period=2, aes_iv="alternate", token="t0k"
    )
    with av.open(stream.playlist_url(flavour), timeout=5) as container:
        read = [read_frame_number(frame) for frame in container.decode(video=0)]
    assert read == list(range(48))
