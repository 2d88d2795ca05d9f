"""The synthetic picture and sound: a frame counter drawn into every picture, H.264 and AAC encoding.

Frame ``n`` carries ``n mod 2**20`` plus a 4-bit check as 24 black/white cells (2 rows x 12 columns)
across the top sixth of the picture; below it a gradient and a bar move every frame. The cells are
large and saturated so they survive H.264 at any quality this server produces, and
:func:`read_frame_number` reads them back from any decoded frame of any resolution.

Video segment ``k`` holds frames ``[k*F, (k+1)*F)`` and is encoded by its own libx264 instance, so
it starts with an IDR picture and can be encoded in any order, in any thread. The sound is a
750 Hz tone: 64 samples per period divide the 1024-sample AAC frame, so one steady-state AAC packet
repeated forever decodes to a seamless tone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

SAMPLE_RATE = 48_000
CHANNELS = 2
AAC_FRAME = 1024
TONE_HZ = 750
TICKS = 90_000  # the MPEG 90 kHz clock every container here is stamped with

COUNTER_BITS = 20
COUNTER_MODULO = 1 << COUNTER_BITS
_COLS = 12
_ROWS = 2
_HEIGHT_FRACTION = 12  # each counter row is 1/12 of the picture height
_CHECK_BITS = 4
_BLACK = 16
_WHITE = 235
_THRESHOLD = (_BLACK + _WHITE) // 2
_MARGIN = 50  # a cell's mean must be this far from the threshold to count as read


@dataclass(frozen=True, slots=True)
class Rendition:
    """What one encoded picture stream looks like; the key of every encode cache entry."""

    width: int
    height: int
    fps: int
    frames_per_segment: int

    def __post_init__(self) -> None:
        if self.width % 4 or self.height % 4 or self.width < 48 or self.height < 48:
            raise ValueError("width and height must be multiples of 4 and at least 48")
        if self.fps <= 0 or TICKS % self.fps:
            raise ValueError("fps must divide 90000 (e.g. 24, 25, 30, 50, 60)")
        if self.frames_per_segment <= 0:
            raise ValueError("frames_per_segment must be positive")

    @property
    def frame_ticks(self) -> int:
        return TICKS // self.fps

    @property
    def segment_ticks(self) -> int:
        return self.frame_ticks * self.frames_per_segment

    @property
    def segment_samples(self) -> int:
        return SAMPLE_RATE * self.frames_per_segment // self.fps

    @property
    def duration(self) -> Fraction:
        return Fraction(self.frames_per_segment, self.fps)


def frames_per_segment(segment_duration: float, fps: int) -> int:
    """F = fps * segment_duration, which must be a whole number of frames."""
    frames = round(segment_duration * fps)
    if frames <= 0 or abs(frames - segment_duration * fps) > 1e-6:
        raise ValueError(f"segment_duration {segment_duration} is not a whole number of frames at {fps} fps")
    if (SAMPLE_RATE * frames) % fps:
        raise ValueError(f"fps {fps} does not divide the {SAMPLE_RATE} Hz audio clock")
    return frames


# --- the frame counter -------------------------------------------------------------------------


def _check(value: int) -> int:
    check = 0
    for shift in range(0, COUNTER_BITS, _CHECK_BITS):
        check ^= (value >> shift) & 0xF
    return check ^ 0x5


def _cells(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(x0, x1, y0, y1) of each counter cell, most significant bit first."""
    cell_w = width / _COLS
    cell_h = height / _HEIGHT_FRACTION
    return [
        (round(col * cell_w), round((col + 1) * cell_w), round(row * cell_h), round((row + 1) * cell_h))
        for row in range(_ROWS)
        for col in range(_COLS)
    ]


def _code_bits(number: int) -> list[int]:
    value = number % COUNTER_MODULO
    word = (value << _CHECK_BITS) | _check(value)
    total = COUNTER_BITS + _CHECK_BITS
    return [(word >> (total - 1 - i)) & 1 for i in range(total)]


def draw_frame(number: int, width: int, height: int) -> NDArray[np.uint8]:
    """One I420 picture as the (height*3/2, width) array PyAV's ``yuv420p`` ndarray format uses."""
    luma = _background(width, height, number).copy()
    for bit, (x0, x1, y0, y1) in zip(_code_bits(number), _cells(width, height), strict=True):
        luma[y0:y1, x0:x1] = _WHITE if bit else _BLACK
    bar_x = (number * max(2, width // 50)) % width
    top = _cells(width, height)[-1][3] + 2
    luma[top:, bar_x : bar_x + max(2, width // 40)] = _WHITE
    chroma_u = np.full((height // 2, width // 2), 128, np.uint8)
    chroma_v = np.full((height // 2, width // 2), 128, np.uint8)
    phase = 2 * np.pi * (number % 250) / 250
    chroma_u[top // 2 :, :] = int(128 + 40 * np.sin(phase))
    chroma_v[top // 2 :, :] = int(128 + 40 * np.cos(phase))
    return np.concatenate([luma, chroma_u.reshape(-1, width), chroma_v.reshape(-1, width)])


@functools.lru_cache(maxsize=8)
def _gradient(width: int, height: int) -> NDArray[np.uint8]:
    ramp = (np.arange(2 * width) * 100 // (2 * width) + 60).astype(np.uint8)
    return np.broadcast_to(ramp, (height, 2 * width))


def _background(width: int, height: int, number: int) -> NDArray[np.uint8]:
    shift = (number * 3) % width
    return _gradient(width, height)[:, shift : shift + width]


def _luma(frame: av.VideoFrame) -> NDArray[np.uint8]:
    if frame.format.name not in {"yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12", "gray"}:
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return rows[: frame.height, : frame.width]


def read_frame_number(frame: av.VideoFrame) -> int | None:
    """The counter drawn into a decoded picture, or None if the picture carries no readable counter.

    Counts wrap at 2**20 (about 11.6 hours at 25 fps).
    """
    return read_counter(_luma(frame))


def read_counter(luma: NDArray[np.uint8]) -> int | None:
    """The counter in a luma plane (height, width), or None."""
    height, width = luma.shape
    bits = []
    for x0, x1, y0, y1 in _cells(width, height):
        dx, dy = max(1, (x1 - x0) // 4), max(1, (y1 - y0) // 4)
        cell = luma[y0 + dy : max(y0 + dy + 1, y1 - dy), x0 + dx : max(x0 + dx + 1, x1 - dx)]
        mean = float(cell.mean())
        if abs(mean - _THRESHOLD) < _MARGIN:
            return None
        bits.append(1 if mean > _THRESHOLD else 0)
    word = 0
    for bit in bits:
        word = (word << 1) | bit
    value, check = word >> _CHECK_BITS, word & 0xF
    return value if _check(value) == check else None


# --- encoding --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodedVideo:
    """One segment's H.264 access units (Annex B, IDR first, no B-frames: pts == dts == frame order)."""

    rendition: Rendition
    index: int
    access_units: tuple[bytes, ...]
    sps: bytes
    pps: bytes

    @property
    def first_frame(self) -> int:
        return self.index * self.rendition.frames_per_segment

    @property
    def nbytes(self) -> int:
        return sum(len(au) for au in self.access_units)


def encode_video(rendition: Rendition, index: int) -> EncodedVideo:
    """Encode segment ``index``: frames [index*F, (index+1)*F), one IDR-started GOP."""
    frames = rendition.frames_per_segment
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width = rendition.width
    ctx.height = rendition.height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, rendition.fps)
    ctx.framerate = Fraction(rendition.fps)
    ctx.gop_size = frames
    ctx.thread_count = 1
    ctx.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "crf": "24",
        "x264-params": f"keyint={frames}:min-keyint={frames}:scenecut=0:bframes=0",
    }
    first = index * frames
    units: list[bytes] = []
    for i in range(frames):
        picture = av.VideoFrame.from_ndarray(draw_frame(first + i, rendition.width, rendition.height), format="yuv420p")
        picture.pts = i
        units.extend(bytes(packet) for packet in ctx.encode(picture))
    units.extend(bytes(packet) for packet in ctx.encode(None))
    if len(units) != frames:
        raise RuntimeError(f"libx264 returned {len(units)} access units for {frames} frames")
    sps = pps = b""
    for nal in split_nals(units[0]):
        kind = nal[0] & 0x1F
        if kind == 7 and not sps:
            sps = nal
        elif kind == 8 and not pps:
            pps = nal
    if not sps or not pps:
        raise RuntimeError("the first access unit carries no SPS/PPS")
    return EncodedVideo(rendition, index, tuple(units), sps, pps)


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """The repeated AAC-LC frame and its AudioSpecificConfig."""

    packet: bytes
    config: bytes
    sample_rate: int = SAMPLE_RATE
    channels: int = CHANNELS


@functools.lru_cache(maxsize=1)
def audio_track() -> AudioTrack:
    ctx = av.CodecContext.create("aac", "w")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate = SAMPLE_RATE
    ctx.layout = "stereo"
    ctx.format = "fltp"
    ctx.bit_rate = 64_000
    ctx.time_base = Fraction(1, SAMPLE_RATE)
    t = np.arange(AAC_FRAME) / SAMPLE_RATE
    tone = (0.25 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    samples = np.stack([tone, tone])
    packets: list[bytes] = []
    for i in range(16):
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = i * AAC_FRAME
        packets.extend(bytes(packet) for packet in ctx.encode(frame))
    config = ctx.extradata
    if not config or len(packets) < 12:
        raise RuntimeError("the AAC encoder gave no AudioSpecificConfig")
    return AudioTrack(packet=packets[10], config=bytes(config))


def audio_frames(rendition: Rendition, relative_index: int) -> range:
    """AAC frame numbers (counted from the start of the epoch) whose start falls in the segment."""
    samples = rendition.segment_samples
    start = -(-relative_index * samples // AAC_FRAME)
    end = -(-(relative_index + 1) * samples // AAC_FRAME)
    return range(start, end)


# --- H.264 bitstream helpers ---------------------------------------------------------------------


def split_nals(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte string, without start codes."""
    starts: list[int] = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        starts.append(pos + 3)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    nals = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        nal = data[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def length_prefixed(access_unit: bytes) -> bytes:
    """An Annex B access unit as 4-byte length-prefixed NAL units, parameter sets and AUDs removed."""
    out = bytearray()
    for nal in split_nals(access_unit):
        if nal[0] & 0x1F in {7, 8, 9}:
            continue
        out += len(nal).to_bytes(4, "big") + nal
    return bytes(out)


def avc_config(sps: bytes, pps: bytes) -> bytes:
    """The AVCDecoderConfigurationRecord (``avcC``) for one SPS and one PPS."""
    return (
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1])
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )


def codecs_string(sps: bytes) -> str:
    """The RFC 6381 CODECS value of this H.264 + AAC-LC stream."""
    return f"avc1.{sps[1]:02x}{sps[2]:02x}{sps[3]:02x},mp4a.40.2"
