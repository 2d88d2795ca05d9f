"""Media for the postprocess tests, encoded with PyAV: tiny pictures, two-second clips.

Every picture carries its frame number as a row of black/white blocks, and the audio beeps on every
frame whose number is a multiple of ``FPS``: so a test can tell which frames survived, in what order,
and whether sound and picture still line up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livevault.domain.capture import PartContainer, PartInfo, PartReason
from livevault.postprocess import remux_parts

FPS = 25
RATE = 44100
SIZE = (160, 96)
BITS = 12
FMP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
_CONTAINERS = {"ts": PartContainer.TS, "flv": PartContainer.FLV, "mp4": PartContainer.FMP4,
               "aac": PartContainer.AAC}


@dataclass(frozen=True)
class Clip:
    first: int
    count: int = 2 * FPS
    t0: float = 0.0
    size: tuple[int, int] = SIZE
    video: str | None = "libx264"
    audio: str | None = "aac"
    gop: int = FPS


def draw(number: int, width: int, height: int) -> np.ndarray:
    img = np.full((height, width, 3), 96, np.uint8)
    block = width // BITS
    for bit in range(BITS):
        img[height // 4: 3 * height // 4, bit * block:(bit + 1) * block] = 255 if number >> bit & 1 else 0
    return img


def read_number(frame: av.VideoFrame) -> int:
    gray = frame.to_ndarray(format="gray")
    height, width = gray.shape
    block = width // BITS
    return sum(1 << bit for bit in range(BITS) if gray[height // 2, bit * block + block // 2] > 128)


def _audio_frame(number: int, local: int, t0: float) -> av.AudioFrame:
    start = round(t0 * RATE) + local * RATE // FPS
    count = (local + 1) * RATE // FPS - local * RATE // FPS
    t = np.arange(count) / RATE
    beep = number % FPS == 0
    samples = (0.5 * np.sin(2 * np.pi * 1000 * t) if beep else np.zeros(count)).astype(np.float32)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
    return frame


def _video_frame(number: int, local: int, clip: Clip) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(draw(number, *clip.size), format="rgb24")
    frame.pts, frame.time_base = round(clip.t0 * FPS) + local, Fraction(1, FPS)
    return frame


def encode(target: Path | str, fmt: str, clip: Clip, options: dict[str, str] | None = None) -> None:
    out = av.open(str(target), "w", format=fmt, options=options or {})
    video = audio = None
    if clip.video:
        video = out.add_stream(clip.video, rate=FPS)
        video.width, video.height = clip.size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "g": str(clip.gop), "bf": "2", "x265-params": "log-level=error"}
    if clip.audio:
        audio = out.add_stream(clip.audio, rate=RATE)
        audio.layout = "mono"
    for local in range(clip.count):
        number = clip.first + local
        if video is not None:
            out.mux(video.encode(_video_frame(number, local, clip)))
        if audio is not None:
            out.mux(audio.encode(_audio_frame(number, local, clip.t0)))
    for stream in (video, audio):
        if stream is not None:
            out.mux(stream.encode(None))
    out.close()


def _ts_bytes(directory: Path, clip: Clip) -> bytes:
    tmp = directory / f"tmp-{clip.first}.ts"
    encode(tmp, "mpegts", clip)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def _adts_header(length: int) -> bytes:
    """An ADTS header for AAC-LC, 44.1 kHz, mono, framing ``length`` bytes in all."""
    return bytes([0xFF, 0xF1, 0x50, 0x40 | length >> 11, (length >> 3) & 0xFF, (length & 7) << 5 | 0x1F, 0xFC])


def _noise(target: Path, source: Path, rng: random.Random) -> None:
    """A well-formed TS (tables, PES headers, timestamps, start codes, ADTS headers) carrying noise."""
    with av.open(str(source)) as src, av.open(str(target), "w", format="mpegts") as out:
        video = out.add_stream_from_template(src.streams.video[0], opaque=True)
        audio = out.add_stream_from_template(src.streams.audio[0], opaque=True)
        for i in range(50):
            payloads = ((video, b"\x00\x00\x00\x01\x65" + rng.randbytes(600), 3600),
                        (audio, _adts_header(207) + rng.randbytes(200), 2090))
            for stream, data, step in payloads:
                packet = av.Packet(data)
                packet.pts = packet.dts = i * step
                packet.time_base, packet.stream = Fraction(1, 90000), stream
                out.mux(packet)


def _alaw_flv(target: Path, clip: Clip) -> None:
    """H.264 with G.711 A-law audio: an FLV the MP4 container cannot take the audio of."""
    with av.open(str(target), "w", format="flv") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height = clip.size
        video.pix_fmt, video.options = "yuv420p", {"preset": "ultrafast", "g": str(FPS)}
        audio = out.add_stream("pcm_alaw", rate=8000)
        audio.layout = "mono"
        for local in range(clip.count):
            out.mux(video.encode(_video_frame(clip.first + local, local, clip)))
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 320), np.int16), format="s16", layout="mono")
            sound.sample_rate, sound.pts, sound.time_base = 8000, local * 320, Fraction(1, 8000)
            out.mux(audio.encode(sound))
        out.mux(video.encode(None))


def _build(d: Path) -> None:
    encode(d / "cont_%d.ts", "segment", Clip(0, 150),
           {"segment_time": "2", "segment_format": "mpegts", "segment_start_number": "1"})
    (d / "reset.ts").write_bytes(_ts_bytes(d, Clip(150, t0=50.0)) + _ts_bytes(d, Clip(200, t0=0.0)))
    (d / "jump.ts").write_bytes(_ts_bytes(d, Clip(250, t0=10.0)) + _ts_bytes(d, Clip(300, t0=100.0)))
    encode(d / "part.flv", "flv", Clip(350))
    encode(d / "part.mp4", "mp4", Clip(400), FMP4)
    whole = _ts_bytes(d, Clip(450))
    (d / "trunc.ts").write_bytes(whole[: int(len(whole) * 0.7) + 77])
    rng = random.Random(7)
    (d / "garbage.ts").write_bytes(rng.randbytes(20_000))
    (d / "empty.ts").write_bytes(b"")
    encode(d / "big.ts", "mpegts", Clip(500, size=(320, 192)))
    encode(d / "vonly_1.ts", "mpegts", Clip(550, audio=None))
    encode(d / "vonly_2.ts", "mpegts", Clip(600, audio=None))
    whole = _ts_bytes(d, Clip(650))
    (d / "midgarbage.ts").write_bytes(whole[: len(whole) // 2] + rng.randbytes(3000) + whole[len(whole) // 2:])
    encode(d / "audio.aac", "adts", Clip(0, video=None))
    encode(d / "hevc.ts", "mpegts", Clip(700, video="libx265"))
    encode(d / "hevc.mp4", "mp4", Clip(750, video="libx265"), FMP4)
    encode(d / "mp3.ts", "mpegts", Clip(800, audio="libmp3lame"))
    encode(d / "whole.flv", "flv", Clip(850))
    flv = (d / "whole.flv").read_bytes()
    (d / "trunc.flv").write_bytes(flv[: int(len(flv) * 0.7) + 5])
    _noise(d / "noise.ts", d / "cont_1.ts", rng)
    frag = (d / "part.mp4").read_bytes()
    (d / "trunc_frag.mp4").write_bytes(frag[: int(len(frag) * 0.6) + 3])
    _alaw_flv(d / "alaw.flv", Clip(900))


@dataclass(frozen=True)
class _Copy:
    video: bool
    data: bytes
    pts: int
    dts: int
    duration: int
    time_base: Fraction
    keyframe: bool


def _write(target: Path, fmt: str, templates: list[av.stream.Stream], packets: list[_Copy],
           rebase: Fraction = Fraction(0)) -> None:
    with av.open(str(target), "w", format=fmt) as out:
        video, audio = (out.add_stream_from_template(t, opaque=True) for t in templates)
        for p in packets:
            packet = av.Packet(p.data)
            shift = round(rebase / p.time_base)
            packet.pts, packet.dts, packet.duration = p.pts - shift, p.dts - shift, p.duration
            packet.time_base, packet.is_keyframe = p.time_base, p.keyframe
            packet.stream = video if p.video else audio
            out.mux(packet)


def _resent_parts(d: Path, ext: str, fmt: str) -> dict[str, int]:
    """One encoding of frames 0..200 (a keyframe every 24 frames) cut like a connection that dropped and
    whose server resent its latest GOP: ``a_end`` stops right before keyframe 120, ``a_mid`` in the middle
    of the GOP 96..119; ``b`` starts at keyframe 96 with the same timestamps and bytes, ``b_zero`` is ``b``
    rebased to 0, ``b_fresh`` frames 96..200 encoded anew on the same clock, ``c`` what follows ``a_end``.
    Returns how many packets of each ``a`` ``b`` repeats."""
    source = d / f"src.{ext}"
    encode(source, fmt, Clip(0, 201, gop=24))
    with av.open(str(source)) as container:
        templates = [container.streams.video[0], container.streams.audio[0]]
        packets = [_Copy(p.stream.type == "video", bytes(p), p.pts or 0, p.dts or 0, p.duration or 0,
                         Fraction(p.time_base or 1), p.is_keyframe) for p in container.demux() if p.size]
        first = min(p.pts for p in packets if p.video)
        keys = {round((p.pts - first) * p.time_base * FPS): i for i, p in enumerate(packets) if p.video and p.keyframe}
        start, end = keys[96], keys[120]
        mid = [i for i, p in enumerate(packets) if p.video and i > start][12]
        _write(d / f"a_end.{ext}", fmt, templates, packets[:end])
        _write(d / f"a_mid.{ext}", fmt, templates, packets[:mid])
        _write(d / f"b.{ext}", fmt, templates, packets[start:])
        _write(d / f"c.{ext}", fmt, templates, packets[end:])
        _write(d / f"b_zero.{ext}", fmt, templates, packets[start:],
               min(p.dts * p.time_base for p in packets[start:]))
    encode(d / f"b_fresh.{ext}", fmt, Clip(96, 105, t0=96 / FPS, gop=24))
    return {"a_end": end - start, "a_mid": mid - start}


class Kit:
    """The generated files plus the helpers tests use to judge a remux."""

    def __init__(self, media: Path, work: Path) -> None:
        self.media = media
        self.work = work

    def parts(self, *names: str) -> list[tuple[PartInfo, Path]]:
        return [
            (PartInfo(i, name, _CONTAINERS[name.rsplit(".", 1)[1]], PartReason.START, 0.0), self.media / name)
            for i, name in enumerate(names, start=1)
        ]

    @staticmethod
    def numbers(path: Path) -> list[int]:
        """The frame numbers a decoder gets out of a file, skipping what does not decode."""
        found: list[int] = []
        try:
            with av.open(str(path)) as container:
                for packet in container.demux(video=0) if container.streams.video else []:
                    try:
                        found.extend(read_number(f) for f in packet.decode())
                    except av.error.FFmpegError:
                        continue
        except av.error.FFmpegError:
            pass
        return found

    def expected(self, *names: str) -> list[int]:
        return [n for name in names for n in self.numbers(self.media / name)]

    @staticmethod
    def frame_sizes(path: Path) -> list[tuple[int, int]]:
        with av.open(str(path)) as container:
            return [(f.width, f.height) for f in container.decode(video=0)]

    @staticmethod
    def check_timestamps(path: Path) -> None:
        """Per stream: DTS strictly increasing, PTS >= DTS; presentation order is frame-number order."""
        last: dict[int, int] = {}
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.size == 0:
                    continue
                assert packet.dts is not None
                assert packet.pts is not None
                assert packet.pts >= packet.dts
                assert packet.dts > last.get(packet.stream_index, -(2**62))
                last[packet.stream_index] = packet.dts

    @staticmethod
    def top_level_boxes(path: Path) -> list[str]:
        data, pos, boxes = path.read_bytes(), 0, []
        while pos + 8 <= len(data):
            size = int.from_bytes(data[pos:pos + 4], "big")
            boxes.append(data[pos + 4:pos + 8].decode("latin-1"))
            if size == 1:
                size = int.from_bytes(data[pos + 8:pos + 16], "big")
            if size < 8:
                break
            pos += size
        return boxes

    @staticmethod
    def sync_offsets(path: Path) -> list[float]:
        """For each beep heard: seconds between its onset and the picture it belongs to."""
        with av.open(str(path)) as container:
            shown = {read_number(f): float(f.time or 0) for f in container.decode(video=0)}
        times, levels = [], []
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                samples = frame.to_ndarray()[0]
                times.append(float(frame.time or 0) + np.arange(len(samples)) / frame.sample_rate)
                levels.append(np.abs(samples))
        loud = np.flatnonzero(np.concatenate(levels) > 0.1)
        onsets = np.concatenate(times)[loud[np.diff(loud, prepend=-(10**9)) > RATE // 100]]
        marks = np.array(sorted(t for n, t in shown.items() if n % FPS == 0))
        return [float(np.min(np.abs(marks - t))) for t in onsets]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("media")
    _build(directory)
    return directory


@pytest.fixture(scope="session")
def resent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, int]]]:
    """The parts of ``_resent_parts`` for FLV and MPEG-TS, and how many packets each ``b`` repeats."""
    directory = tmp_path_factory.mktemp("resent")
    repeats = {ext: _resent_parts(directory, ext, fmt) for ext, fmt in (("flv", "flv"), ("ts", "mpegts"))}
    return directory, repeats


@pytest.fixture
def kit(media_dir: Path, tmp_path: Path) -> Kit:
    return Kit(media_dir, tmp_path)


@pytest.fixture(scope="session")
def recording(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cont_1..3 remuxed: frames 0..149, six seconds."""
    output = tmp_path_factory.mktemp("rec") / "rec.mp4"
    remux_parts(Kit(media_dir, output.parent).parts("cont_1.ts", "cont_2.ts", "cont_3.ts"), output)
    return output
