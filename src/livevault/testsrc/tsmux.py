"""A small MPEG-TS muxer (ISO/IEC 13818-1) for H.264 + AAC segments.

Every segment carries exactly 16k packets on each PID (PAT and PMT are repeated 16 times, spread
evenly, and the last payload of each elementary stream is spread over extra stuffed packets), so
every segment starts with continuity counter 0 and ends where the next one begins: any run of
consecutive segments concatenates into a stream without continuity errors, and a segment is a pure
function of its content and timestamps, shared by every stream that serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from livevault.testsrc.media import AAC_FRAME, SAMPLE_RATE, TICKS, audio_frames

if TYPE_CHECKING:
    from collections.abc import Iterable

    from livevault.testsrc.media import AudioTrack, EncodedVideo

PACKET = 188
PAT_PID = 0x0000
PMT_PID = 0x1000
VIDEO_PID = 0x0100
AUDIO_PID = 0x0101
NULL_PID = 0x1FFF
_PCR_DELAY = TICKS // 10
_PSI_REPEATS = 16
_AUD = b"\x00\x00\x00\x01\x09\xf0"

NULL_PACKET = bytes([0x47, NULL_PID >> 8, NULL_PID & 0xFF, 0x10]) + b"\xff" * 184


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _section(table_id: int, extension: int, body: bytes) -> bytes:
    length = 5 + len(body) + 4
    head = bytes([table_id, 0xB0 | (length >> 8), length & 0xFF, extension >> 8, extension & 0xFF, 0xC1, 0, 0])
    section = head + body
    return section + crc32_mpeg(section).to_bytes(4, "big")


def _pat() -> bytes:
    return _section(0x00, 1, bytes([0, 1, 0xE0 | (PMT_PID >> 8), PMT_PID & 0xFF]))


def _pmt() -> bytes:
    body = bytes([0xE0 | (VIDEO_PID >> 8), VIDEO_PID & 0xFF, 0xF0, 0])
    for stream_type, pid in ((0x1B, VIDEO_PID), (0x0F, AUDIO_PID)):
        body += bytes([stream_type, 0xE0 | (pid >> 8), pid & 0xFF, 0xF0, 0])
    return _section(0x02, 1, body)


def _psi_packet(pid: int, section: bytes, cc: int) -> bytes:
    payload = b"\x00" + section
    return bytes([0x47, 0x40 | (pid >> 8), pid & 0xFF, 0x10 | cc]) + payload + b"\xff" * (184 - len(payload))


_PAT = _pat()
_PMT = _pmt()
_PSI = [_psi_packet(PAT_PID, _PAT, cc) + _psi_packet(PMT_PID, _PMT, cc) for cc in range(16)]


def _timestamp(marker: int, value: int) -> bytes:
    value &= (1 << 33) - 1
    return bytes(
        [
            (marker << 4) | ((value >> 29) & 0x0E) | 1,
            (value >> 22) & 0xFF,
            ((value >> 14) & 0xFE) | 1,
            (value >> 7) & 0xFF,
            ((value << 1) & 0xFE) | 1,
        ]
    )


def _pes(stream_id: int, pts: int, payload: bytes) -> bytes:
    header = bytes([0x84, 0x80, 5]) + _timestamp(0x2, pts)
    length = len(header) + len(payload)
    size = length if stream_id != 0xE0 and length <= 0xFFFF else 0
    return b"\x00\x00\x01" + bytes([stream_id]) + size.to_bytes(2, "big") + header + payload


def _pcr(value: int) -> bytes:
    base = value & ((1 << 33) - 1)
    return bytes(
        [(base >> 25) & 0xFF, (base >> 17) & 0xFF, (base >> 9) & 0xFF, (base >> 1) & 0xFF, ((base & 1) << 7) | 0x7E, 0]
    )


def adts_header(config: bytes, payload_size: int) -> bytes:
    """The 7-byte ADTS header of one raw AAC frame, from its AudioSpecificConfig."""
    object_type = config[0] >> 3
    rate_index = ((config[0] & 0x07) << 1) | (config[1] >> 7)
    channels = (config[1] >> 3) & 0x0F
    size = payload_size + 7
    return bytes(
        [
            0xFF,
            0xF1,
            ((object_type - 1) << 6) | (rate_index << 2) | (channels >> 2),
            ((channels & 3) << 6) | (size >> 11),
            (size >> 3) & 0xFF,
            ((size & 7) << 5) | 0x1F,
            0xFC,
        ]
    )


@dataclass(slots=True)
class _Pes:
    pid: int
    dts: int
    data: bytes
    pcr: int | None = None
    random_access: bool = False
    extra_packets: int = 0


def _packetize(pes: _Pes, cc: int) -> tuple[list[bytes], int]:
    """Split one PES into TS packets; ``extra_packets`` more than needed, padded with stuffing."""
    fields = b""
    if pes.pcr is not None or pes.random_access:
        flags = (0x40 if pes.random_access else 0) | (0x10 if pes.pcr is not None else 0)
        fields = bytes([flags]) + (_pcr(pes.pcr) if pes.pcr is not None else b"")
    data = pes.data
    count = _min_packets(len(data), len(fields)) + pes.extra_packets
    if count > len(data):
        raise ValueError("cannot spread a PES over more packets than it has bytes")
    packets = []
    pos = 0
    for i in range(count):
        first = i == 0
        own = fields if first else b""
        room = 184 - (1 + len(own) if own else 0)
        take = min(room, len(data) - pos - (count - i - 1))
        chunk = data[pos : pos + take]
        pos += take
        header = bytes([0x47, (0x40 if first else 0) | (pes.pid >> 8), pes.pid & 0xFF])
        gap = 184 - len(chunk)
        if gap == 0:
            packets.append(header + bytes([0x10 | cc]) + chunk)
        else:
            if gap == 1 and not own:
                adaptation = b"\x00"
            else:
                body = own or b"\x00"
                adaptation = bytes([gap - 1]) + body + b"\xff" * (gap - 1 - len(body))
            packets.append(header + bytes([0x30 | cc]) + adaptation + chunk)
        cc = (cc + 1) & 0xF
    return packets, cc


def _min_packets(size: int, fields: int) -> int:
    first = 184 - (1 + fields if fields else 0)
    if size <= first:
        return 1
    return 1 + -(-(size - first) // 184)


@dataclass(frozen=True, slots=True)
class SegmentTiming:
    """Where a segment sits in its stream: global index, index within its epoch, epoch timestamp base."""

    index: int
    relative: int
    base: int  # 90 kHz timestamp of the epoch's first frame

    def video_pts(self, video: EncodedVideo) -> int:
        return self.base + self.relative * video.rendition.segment_ticks


def segment_pes(video: EncodedVideo, audio: AudioTrack, timing: SegmentTiming) -> list[tuple[str, int, bytes]]:
    """The segment's access units in decode order: (kind, 90 kHz pts, payload)."""
    rendition = video.rendition
    first = timing.video_pts(video)
    units: list[tuple[str, int, bytes]] = [
        ("video", first + i * rendition.frame_ticks, au) for i, au in enumerate(video.access_units)
    ]
    for frame in audio_frames(rendition, timing.relative):
        pts = timing.base + frame * AAC_FRAME * TICKS // SAMPLE_RATE
        units.append(("audio", pts, audio.packet))
    units.sort(key=lambda unit: (unit[1], unit[0] != "video"))
    return units


def mux_segment(video: EncodedVideo, audio: AudioTrack, timing: SegmentTiming) -> bytes:
    """One self-contained TS segment: PAT/PMT first, IDR first, 16k packets per PID."""
    pes_list: list[_Pes] = []
    adts = adts_header(audio.config, len(audio.packet)) + audio.packet
    start = timing.video_pts(video)
    for kind, pts, payload in segment_pes(video, audio, timing):
        if kind == "video":
            pes_list.append(
                _Pes(VIDEO_PID, pts, _pes(0xE0, pts, _AUD + payload), pcr=pts - _PCR_DELAY, random_access=pts == start)
            )
        else:
            pes_list.append(_Pes(AUDIO_PID, pts, _pes(0xC0, pts, adts)))
    _balance(pes_list)
    step = video.rendition.segment_ticks / _PSI_REPEATS
    out = bytearray()
    psi_sent = 0
    counters = {VIDEO_PID: 0, AUDIO_PID: 0}
    for pes in pes_list:
        while psi_sent < _PSI_REPEATS and pes.dts >= start + psi_sent * step:
            out += _PSI[psi_sent]
            psi_sent += 1
        packets, counters[pes.pid] = _packetize(pes, counters[pes.pid])
        out += b"".join(packets)
    while psi_sent < _PSI_REPEATS:
        out += _PSI[psi_sent]
        psi_sent += 1
    return bytes(out)


def _balance(pes_list: list[_Pes]) -> None:
    """Add stuffed packets to the last PES of each PID until its packet count is a multiple of 16."""
    for pid in (VIDEO_PID, AUDIO_PID):
        mine = [pes for pes in pes_list if pes.pid == pid]
        total = sum(_min_packets(len(p.data), 7 if p.pcr is not None else (1 if p.random_access else 0)) for p in mine)
        missing = -total % 16
        for pes in reversed(mine):
            if not missing:
                break
            fields = 7 if pes.pcr is not None else (1 if pes.random_access else 0)
            spare = len(pes.data) - _min_packets(len(pes.data), fields)
            add = min(spare, missing)
            pes.extra_packets += add
            missing -= add


def pad(segment: bytes, target_bytes: int) -> bytes:
    """Append null packets (PID 0x1FFF) until the segment is at least ``target_bytes`` long."""
    missing = target_bytes - len(segment)
    if missing <= 0:
        return segment
    return segment + NULL_PACKET * -(-missing // PACKET)


def iter_packets(data: bytes) -> Iterable[bytes]:
    for pos in range(0, len(data) - PACKET + 1, PACKET):
        yield data[pos : pos + PACKET]
