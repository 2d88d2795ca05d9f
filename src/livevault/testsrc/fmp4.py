"""Fragmented MP4 (ISO/IEC 14496-12, CMAF-style): an init segment and one moof+mdat per segment.

Track 1 is H.264 (avc1, 90 kHz timescale), track 2 AAC-LC (mp4a, sample-rate timescale). Each media
fragment carries its own ``tfdt`` so fragments of one epoch play back to back.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from livevault.testsrc.media import AAC_FRAME, SAMPLE_RATE, TICKS, audio_frames, avc_config, length_prefixed

if TYPE_CHECKING:
    from livevault.testsrc.media import AudioTrack, EncodedVideo
    from livevault.testsrc.tsmux import SegmentTiming

VIDEO_TRACK = 1
AUDIO_TRACK = 2
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_KEY_FLAGS = 0x02000000
_DELTA_FLAGS = 0x01010000


def box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def _tkhd(track: int, width: int, height: int, audio: bool) -> bytes:
    return full_box(
        b"tkhd",
        0,
        3,
        struct.pack(">IIIII", 0, 0, track, 0, 0),
        b"\x00" * 8,
        struct.pack(">hhhH", 0, 0, 0x0100 if audio else 0, 0),
        _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )


def _mdia(timescale: int, handler: bytes, name: bytes, media_header: bytes, sample_entry: bytes) -> bytes:
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I", 0), handler, b"\x00" * 12, name + b"\x00")
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
        full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    return box(b"mdia", mdhd, hdlr, box(b"minf", media_header, dinf, stbl))


def _avc1(video: EncodedVideo) -> bytes:
    rendition = video.rendition
    return box(
        b"avc1",
        b"\x00" * 6,
        struct.pack(">H", 1),
        b"\x00" * 16,
        struct.pack(">HH", rendition.width, rendition.height),
        struct.pack(">IIIH", 0x00480000, 0x00480000, 0, 1),
        bytes([9]) + b"livevault" + b"\x00" * 22,
        struct.pack(">Hh", 0x18, -1),
        box(b"avcC", avc_config(video.sps, video.pps)),
    )


def _descriptor(tag: int, payload: bytes) -> bytes:
    return bytes([tag, len(payload)]) + payload


def _mp4a(audio: AudioTrack) -> bytes:
    decoder_config = _descriptor(
        0x04,
        bytes([0x40, 0x15]) + b"\x00\x00\x00" + struct.pack(">II", 128_000, 64_000) + _descriptor(0x05, audio.config),
    )
    es = _descriptor(0x03, struct.pack(">HB", AUDIO_TRACK, 0) + decoder_config + _descriptor(0x06, b"\x02"))
    return box(
        b"mp4a",
        b"\x00" * 6,
        struct.pack(">H", 1),
        b"\x00" * 8,
        struct.pack(">HHHH", audio.channels, 16, 0, 0),
        struct.pack(">I", audio.sample_rate << 16),
        full_box(b"esds", 0, 0, es),
    )


def init_segment(video: EncodedVideo, audio: AudioTrack) -> bytes:
    """ftyp + moov with empty sample tables and an mvex: the EXT-X-MAP of the stream."""
    rendition = video.rendition
    ftyp = box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6cmfcmp41avc1")
    mvhd = full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIIIIH", 0, 0, 1000, 0, 0x00010000, 0x0100),
        b"\x00" * 10,
        _MATRIX,
        b"\x00" * 24,
        struct.pack(">I", AUDIO_TRACK + 1),
    )
    video_trak = box(
        b"trak",
        _tkhd(VIDEO_TRACK, rendition.width, rendition.height, audio=False),
        _mdia(TICKS, b"vide", b"VideoHandler", full_box(b"vmhd", 0, 1, b"\x00" * 8), _avc1(video)),
    )
    audio_trak = box(
        b"trak",
        _tkhd(AUDIO_TRACK, 0, 0, audio=True),
        _mdia(audio.sample_rate, b"soun", b"SoundHandler", full_box(b"smhd", 0, 0, b"\x00" * 4), _mp4a(audio)),
    )
    mvex = box(
        b"mvex",
        *(full_box(b"trex", 0, 0, struct.pack(">IIIII", track, 1, 0, 0, 0)) for track in (VIDEO_TRACK, AUDIO_TRACK)),
    )
    return ftyp + box(b"moov", mvhd, video_trak, audio_trak, mvex)


def _traf(track: int, decode_time: int, samples: list[tuple[int, int, int]], data_offset: int) -> bytes:
    tfhd = full_box(b"tfhd", 0, 0x020000, struct.pack(">I", track))
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    entries = b"".join(struct.pack(">III", duration, size, flags) for duration, size, flags in samples)
    trun = full_box(b"trun", 0, 0x000701, struct.pack(">Ii", len(samples), data_offset), entries)
    return box(b"traf", tfhd, tfdt, trun)


def media_segment(video: EncodedVideo, audio: AudioTrack, timing: SegmentTiming, sequence: int) -> bytes:
    """styp + moof + mdat for one segment; ``sequence`` is the mfhd fragment number (1-based)."""
    rendition = video.rendition
    video_samples = [length_prefixed(au) for au in video.access_units]
    frames = audio_frames(rendition, timing.relative)
    audio_data = audio.packet * len(frames)
    video_decode = timing.video_pts(video)
    audio_decode = timing.base * SAMPLE_RATE // TICKS + frames.start * AAC_FRAME
    video_table = [
        (rendition.frame_ticks, len(sample), _KEY_FLAGS if i == 0 else _DELTA_FLAGS)
        for i, sample in enumerate(video_samples)
    ]
    audio_table = [(AAC_FRAME, len(audio.packet), _KEY_FLAGS)] * len(frames)

    def build(video_offset: int, audio_offset: int) -> bytes:
        return box(
            b"moof",
            full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)),
            _traf(VIDEO_TRACK, video_decode, video_table, video_offset),
            _traf(AUDIO_TRACK, audio_decode, audio_table, audio_offset),
        )

    moof_size = len(build(0, 0))
    video_bytes = sum(len(sample) for sample in video_samples)
    moof = build(moof_size + 8, moof_size + 8 + video_bytes)
    styp = box(b"styp", b"msdh", struct.pack(">I", 0), b"msdhmsixcmfs")
    mdat = box(b"mdat", *video_samples, audio_data)
    return styp + moof + mdat
