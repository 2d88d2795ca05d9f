"""The TS, fMP4 and FLV writers and AES-128, checked by decoding their output with PyAV."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from livevault.testsrc import flv, fmp4, tsmux
from livevault.testsrc.media import EncodedVideo, Rendition, audio_track, encode_video
from livevault.testsrc.package import encrypt
from livevault.testsrc.tsmux import SegmentTiming
from tests.unit.testsrc.conftest import decode

RENDITION = Rendition(160, 120, 24, 12)
BASE = 900_000


@pytest.fixture(scope="module")
def videos() -> list[EncodedVideo]:
    return [encode_video(RENDITION, k) for k in range(3)]


def _continuity_errors(data: bytes) -> int:
    last: dict[int, int] = {}
    errors = 0
    for packet in tsmux.iter_packets(data):
        assert packet[0] == 0x47
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        if pid == tsmux.NULL_PID or not packet[3] & 0x10:
            continue
        cc = packet[3] & 0x0F
        if pid in last and cc != (last[pid] + 1) % 16:
            errors += 1
        last[pid] = cc
    return errors


def test_ts_segments_concatenate_without_continuity_errors(videos: list[EncodedVideo]) -> None:
    audio = audio_track()
    segments = [tsmux.mux_segment(v, audio, SegmentTiming(k, k, BASE)) for k, v in enumerate(videos)]
    for segment in segments:
        assert len(segment) % tsmux.PACKET == 0
        assert segment[:4] == bytes([0x47, 0x40, 0x00, 0x10])  # starts with the PAT, CC 0
        assert _continuity_errors(segment + segment) == 0  # 16k packets per PID
    joined = b"".join(segments)
    assert _continuity_errors(joined) == 0
    frames, samples = decode(joined)
    assert [n for _, n in frames] == list(range(36))
    assert [pts for pts, _ in frames] == [BASE + i * 3750 for i in range(36)]
    assert abs(samples - 3 * 24_000) < 1024


def test_psi_sections_have_valid_crcs() -> None:
    for section in (tsmux._PAT, tsmux._PMT):
        assert tsmux.crc32_mpeg(section) == 0


def test_padding_adds_null_packets_only(videos: list[EncodedVideo]) -> None:
    segment = tsmux.mux_segment(videos[0], audio_track(), SegmentTiming(0, 0, BASE))
    padded = tsmux.pad(segment, 156_250)
    assert len(padded) >= 156_250
    assert len(padded) % 188 == 0
    assert padded.startswith(segment)
    assert {packet[1:3] for packet in tsmux.iter_packets(padded[len(segment) :])} == {b"\x1f\xff"}
    assert tsmux.pad(segment, 10) is segment
    assert [n for _, n in decode(padded)[0]] == list(range(12))


def test_adts_header_matches_the_audio_config() -> None:
    header = tsmux.adts_header(bytes([0x11, 0x90]), 100)
    assert header[:2] == b"\xff\xf1"
    assert ((header[3] & 3) << 11 | header[4] << 3 | header[5] >> 5) == 107
    assert (header[2] >> 2) & 0xF == 3  # 48 kHz


def test_fmp4_init_and_fragments_decode(videos: list[EncodedVideo]) -> None:
    audio = audio_track()
    init = fmp4.init_segment(videos[0], audio)
    assert init[4:8] == b"ftyp"
    assert b"moov" in init
    assert b"mvex" in init
    fragments = [fmp4.media_segment(v, audio, SegmentTiming(k, k, BASE), k + 1) for k, v in enumerate(videos)]
    for fragment in fragments:
        assert fragment[4:8] == b"styp"
        assert b"moof" in fragment
        assert b"mdat" in fragment
    frames, samples = decode(init + b"".join(fragments))
    assert [n for _, n in frames] == list(range(36))
    assert frames[0][0] == BASE
    assert samples > 3 * 24_000 - 1024
    late, _ = decode(init + fragments[2])
    assert [n for _, n in late] == list(range(24, 36))
    assert late[0][0] == BASE + 2 * 12 * 3750  # tfdt places a lone fragment on the timeline


def test_fmp4_tfdt_is_the_epoch_timestamp(videos: list[EncodedVideo]) -> None:
    fragment = fmp4.media_segment(videos[1], audio_track(), SegmentTiming(1, 1, BASE), 2)
    at = fragment.index(b"tfdt")
    assert struct.unpack(">Q", fragment[at + 8 : at + 16])[0] == BASE + 12 * 3750


def test_flv_body_decodes_with_increasing_frames(videos: list[EncodedVideo]) -> None:
    audio = audio_track()
    timing = SegmentTiming(0, 0, BASE)
    body = flv.file_header() + flv.metadata(videos[0])
    body += flv.sequence_headers(videos[0], audio, flv.header_millis(timing, videos[0]))
    body += b"".join(flv.segment_tags(v, audio, SegmentTiming(k, k, BASE)) for k, v in enumerate(videos))
    assert body[:3] == b"FLV"
    frames, samples = decode(body, "flv")
    assert [n for _, n in frames] == list(range(36))
    assert frames[0][0] == 10_000  # milliseconds
    assert samples > 0


def test_aes_128_cbc_round_trip(videos: list[EncodedVideo]) -> None:
    segment = tsmux.mux_segment(videos[0], audio_track(), SegmentTiming(0, 0, BASE))
    key, iv = bytes(range(16)), bytes(16)
    encrypted = encrypt(segment, key, iv)
    assert len(encrypted) % 16 == 0
    assert encrypted != segment
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = PKCS7(128).unpadder()
    plain = unpadder.update(decryptor.update(encrypted) + decryptor.finalize()) + unpadder.finalize()
    assert plain == segment
