"""HLS media features: fMP4 init sections, byte ranges, AES-128, DRM refusal, big segments, resume."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from livevault.capture import http as capture_http
from livevault.capture.base import CaptureControl
from livevault.capture.crypto import sequence_iv
from livevault.capture.hls import HlsCapture
from livevault.capture.http import create_session
from livevault.capture.spool import Spool
from livevault.domain.capture import EndReason, PartContainer, PartReason
from livevault.domain.stream import StreamFormat, StreamInfo
from livevault.net.guard import UrlGuard
from tests.unit.capture.harness import FAST, part_bytes, record
from tests.unit.capture.origin import Origin, fmp4_bytes, media, seg_bytes

HEAD = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:0.2\n#EXT-X-MEDIA-SEQUENCE:0\n"


def encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


async def test_fmp4_init_sections_lead_each_part_and_a_new_map_opens_a_part(
    origin: Origin, tmp_path: Path
) -> None:
    init1 = origin.add("init1.mp4", b"\x00\x00\x00\x18ftypiso6" + b"I1" * 20)
    init2 = origin.add("init2.mp4", b"\x00\x00\x00\x18ftypiso6" + b"I2" * 20)
    segs = [origin.add(f"f{n}.m4s", fmp4_bytes(f"f{n}")) for n in range(4)]
    origin.script("fmp4.m3u8", HEAD + '#EXT-X-MAP:URI="init1.mp4"\n'
                  + "".join(f"#EXTINF:0.2,\nf{n}.m4s\n" for n in range(2))
                  + '#EXT-X-MAP:URI="init2.mp4"\n'
                  + "".join(f"#EXTINF:0.2,\nf{n}.m4s\n" for n in range(2, 4)) + "#EXT-X-ENDLIST\n")
    outcome, spool = await record(origin.url("fmp4.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [init1 + segs[0] + segs[1], init2 + segs[2] + segs[3]]
    assert [(p.container, p.reason) for p in spool.parts()] == [
        (PartContainer.FMP4, PartReason.START), (PartContainer.FMP4, PartReason.INIT_CHANGE)]
    assert spool.parts()[0].path.endswith(".mp4")
    assert origin.hits["init1.mp4"] == 1
    assert origin.hits["init2.mp4"] == 1


@pytest.mark.parametrize("honor_range", [True, False])
async def test_byteranges_are_fetched_exactly(origin: Origin, tmp_path: Path, honor_range: bool) -> None:
    blob = origin.add("all.mp4", bytes(range(256)) * 8, honor_range=honor_range)
    origin.script("br.m3u8", HEAD + '#EXT-X-MAP:URI="all.mp4",BYTERANGE="100@0"\n'
                  "#EXTINF:0.2,\n#EXT-X-BYTERANGE:300@100\nall.mp4\n"
                  "#EXTINF:0.2,\n#EXT-X-BYTERANGE:500\nall.mp4\n"
                  "#EXTINF:0.2,\n#EXT-X-BYTERANGE:48@2000\nall.mp4\n#EXT-X-ENDLIST\n")
    outcome, spool = await record(origin.url("br.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [blob[:100] + blob[100:400] + blob[400:900] + blob[2000:2048]]
    assert [r.bytes for r in spool.segments()] == [400, 500, 48]
    if honor_range:
        assert sorted(spec for _, spec in origin.ranges) == sorted(
            ["bytes=0-99", "bytes=100-399", "bytes=400-899", "bytes=2000-2047"])


async def test_aes128_with_explicit_and_sequence_ivs(origin: Origin, tmp_path: Path) -> None:
    key1, key2 = os.urandom(16), os.urandom(16)
    origin.add("keys/k1.bin", key1)
    origin.add("keys/k2.bin", key2)
    iv = bytes.fromhex("00112233445566778899aabbccddeeff")
    plain = {n: seg_bytes(f"e{n}", 188 * 7 + n) for n in range(10, 14)}
    for n in (10, 11):
        origin.add(f"e{n}.ts", encrypt(plain[n], key1, iv))
    for n in (12, 13):
        origin.add(f"e{n}.ts", encrypt(plain[n], key2, sequence_iv(n)))
    origin.script("aes.m3u8", HEAD.replace("SEQUENCE:0", "SEQUENCE:10")
                  + f'#EXT-X-KEY:METHOD=AES-128,URI="keys/k1.bin?t=a%2Bb",IV=0x{iv.hex()}\n'
                  + "#EXTINF:0.2,\ne10.ts\n#EXTINF:0.2,\ne11.ts\n"
                  + '#EXT-X-KEY:METHOD=AES-128,URI="keys/k2.bin?t=c%3D"\n'
                  + "#EXTINF:0.2,\ne12.ts\n#EXTINF:0.2,\ne13.ts\n#EXT-X-ENDLIST\n")
    outcome, spool = await record(origin.url("aes.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [b"".join(plain[n] for n in range(10, 14))]
    assert origin.queries["keys/k1.bin"] == ["t=a%2Bb"]
    assert origin.queries["keys/k2.bin"] == ["t=c%3D"]
    assert spool.parts()[0].container is PartContainer.TS


async def test_a_wrong_key_is_a_failed_segment_not_a_crash(origin: Origin, tmp_path: Path) -> None:
    origin.add("k.bin", b"0" * 16)
    origin.add("e0.ts", encrypt(seg_bytes("e0"), b"1" * 16, sequence_iv(0)))
    origin.add("c1.ts", seg_bytes("c1"))
    origin.script("aes.m3u8", HEAD + '#EXT-X-KEY:METHOD=AES-128,URI="k.bin"\n#EXTINF:0.2,\ne0.ts\n'
                  + "#EXT-X-KEY:METHOD=NONE\n#EXTINF:0.2,\nc1.ts\n#EXT-X-ENDLIST\n")
    outcome, spool = await record(origin.url("aes.m3u8"), tmp_path)
    assert outcome.reason is EndReason.END_OF_STREAM
    assert part_bytes(spool) == [seg_bytes("c1")]
    assert [g.from_sequence for g in spool.gaps()] == [0]


async def test_sample_aes_ends_with_a_clear_error(origin: Origin, tmp_path: Path) -> None:
    origin.add("c0.ts", seg_bytes("c0"))
    origin.script("drm.m3u8", HEAD + "#EXTINF:0.2,\nc0.ts\n"
                  + '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://k",KEYFORMAT="com.apple.streamingkeydelivery"\n'
                  + "#EXTINF:0.2,\nd1.ts\n#EXT-X-ENDLIST\n")
    outcome, spool = await record(origin.url("drm.m3u8"), tmp_path)
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "DECRYPTION_FAILED")
    assert outcome.error_message is not None
    assert "SAMPLE-AES" in outcome.error_message
    assert part_bytes(spool) == [seg_bytes("c0")]
    assert origin.hits["d1.ts"] == 0


async def test_big_segments_spill_to_disk_and_arrive_whole(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture_http, "SPILL_BYTES", 1000)
    big = [origin.add(f"b{n}.ts", seg_bytes(f"b{n}", 188 * 3000)) for n in range(3)]
    origin.script("big.m3u8", media(0, 3, prefix="b", endlist=True))
    _outcome, spool = await record(origin.url("big.m3u8"), tmp_path)
    assert part_bytes(spool) == [b"".join(big)]
    assert not (tmp_path / ".hls-tmp").exists() or not any((tmp_path / ".hls-tmp").iterdir())


async def test_disk_full_ends_the_capture_with_its_code(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        origin.add(f"s{n}.ts", seg_bytes(f"s{n}"))
    origin.script("vod.m3u8", media(0, 4, endlist=True))
    real_writev = os.writev

    def writev(fd: int, buffers: Sequence[bytes]) -> int:  # the disk fills up after the first segment
        if os.fstat(fd).st_size > 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", writev)
    outcome, spool = await record(origin.url("vod.m3u8"), tmp_path)
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "DISK_FULL")
    assert [s.sequence for s in spool.segments()] == [0]


async def test_resume_after_a_crash_continues_after_the_last_sequence(origin: Origin, tmp_path: Path) -> None:
    data = {n: origin.add(f"s{n}.ts", seg_bytes(f"s{n}")) for n in range(10)}
    before = Spool(tmp_path)
    part = before.open_part(PartContainer.TS, PartReason.START)
    for n in range(3, 6):
        part.append_segment(data[n], sequence=n, duration=0.2)
    before.close()
    origin.script("live.m3u8", media(2, 7), media(4, 6, endlist=True))
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    assert part_bytes(spool) == [b"".join(data[n] for n in range(3, 6)), b"".join(data[n] for n in range(6, 10))]
    assert spool.parts()[1].reason is PartReason.RESUME
    assert origin.hits["s5.ts"] == 0


async def test_packed_audio_and_unsupported_proxy(origin: Origin, tmp_path: Path) -> None:
    adts = b"\xff\xf1\x50\x80" + b"A" * 60
    origin.add("a0.aac", adts)
    origin.script("aac.m3u8", media(0, 1, prefix="a", ext="aac", endlist=True))
    outcome, spool = await record(origin.url("aac.m3u8"), tmp_path / "a")
    assert spool.parts()[0].container is PartContainer.AAC
    assert part_bytes(spool) == [adts]

    session = create_session(FAST, guard=UrlGuard(allow_private=True))
    try:
        stream = StreamInfo(url=origin.url("aac.m3u8"), format=StreamFormat.HLS, proxy="socks5://127.0.0.1:1")
        outcome = await HlsCapture(session, FAST).run(stream, Spool(tmp_path / "b"), CaptureControl())
    finally:
        await session.close()
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "VALIDATION_ERROR")
