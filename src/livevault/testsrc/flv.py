"""FLV (Adobe FLV 10.1): the file header, onMetaData, sequence headers and per-segment media tags.

Tag timestamps are the segment's epoch timestamps in milliseconds, so a connection that joins late
starts at a non-zero time (as relays do) and a timestamp jump marks a discontinuity.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from livevault.testsrc.media import SAMPLE_RATE, TICKS, avc_config, length_prefixed
from livevault.testsrc.tsmux import segment_pes

if TYPE_CHECKING:
    from livevault.testsrc.media import AudioTrack, EncodedVideo
    from livevault.testsrc.tsmux import SegmentTiming

AUDIO_TAG = 8
VIDEO_TAG = 9
SCRIPT_TAG = 18
_AAC_HEADER = 0xAF  # AAC, 44 kHz flag (always for AAC), 16-bit, stereo


def file_header() -> bytes:
    """``FLV`` v1 with audio and video, followed by PreviousTagSize0."""
    return b"FLV\x01\x05" + struct.pack(">I", 9) + struct.pack(">I", 0)


def tag(kind: int, millis: int, data: bytes) -> bytes:
    millis &= 0xFFFFFFFF
    head = struct.pack(">B", kind) + len(data).to_bytes(3, "big") + (millis & 0xFFFFFF).to_bytes(3, "big")
    head += bytes([millis >> 24]) + b"\x00\x00\x00"
    return head + data + struct.pack(">I", 11 + len(data))


def _amf_string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">H", len(raw)) + raw


def metadata(video: EncodedVideo) -> bytes:
    """The onMetaData script tag: an AMF0 ECMA array describing the streams."""
    rendition = video.rendition
    fields: list[tuple[str, float | bool]] = [
        ("width", float(rendition.width)),
        ("height", float(rendition.height)),
        ("framerate", float(rendition.fps)),
        ("videocodecid", 7.0),
        ("audiocodecid", 10.0),
        ("audiosamplerate", float(SAMPLE_RATE)),
        ("audiosamplesize", 16.0),
        ("stereo", True),
    ]
    body = b"\x02" + _amf_string("onMetaData") + b"\x08" + struct.pack(">I", len(fields))
    for name, value in fields:
        body += _amf_string(name)
        body += (b"\x01" + bytes([value])) if isinstance(value, bool) else (b"\x00" + struct.pack(">d", value))
    body += b"\x00\x00\x09"
    return tag(SCRIPT_TAG, 0, body)


def sequence_headers(video: EncodedVideo, audio: AudioTrack, millis: int) -> bytes:
    """The AVC decoder configuration and the AAC AudioSpecificConfig tags."""
    avc = bytes([0x17, 0, 0, 0, 0]) + avc_config(video.sps, video.pps)
    aac = bytes([_AAC_HEADER, 0]) + audio.config
    return tag(VIDEO_TAG, millis, avc) + tag(AUDIO_TAG, millis, aac)


def segment_tags(video: EncodedVideo, audio: AudioTrack, timing: SegmentTiming) -> bytes:
    """The segment's audio and video tags, interleaved in timestamp order."""
    out = bytearray()
    first = timing.video_pts(video)
    raw_audio = bytes([_AAC_HEADER, 1]) + audio.packet
    for kind, pts, payload in segment_pes(video, audio, timing):
        millis = pts * 1000 // TICKS
        if kind == "video":
            frame_type = 0x10 if pts == first else 0x20
            out += tag(VIDEO_TAG, millis, bytes([frame_type | 7, 1, 0, 0, 0]) + length_prefixed(payload))
        else:
            out += tag(AUDIO_TAG, millis, raw_audio)
    return bytes(out)


def header_millis(timing: SegmentTiming, video: EncodedVideo) -> int:
    return timing.video_pts(video) * 1000 // TICKS
