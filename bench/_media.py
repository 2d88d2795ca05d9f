"""Recorded parts for the finalize bench: 720p30 H.264 + AAC in MPEG-TS at about 2.5 Mbit/s, any length.

The picture is the test source's (``livevault.testsrc.media.draw_frame``: a frame counter, a gradient,
a moving bar) with a little per-frame noise, so that libx264 (ultrafast, 2.4 Mbit/s ABR, one IDR every
2 s, no B-frames) really spends ~2.4 Mbit/s on it; the sound is the test source's AAC tone (64 kbit/s).
``LOOP_SEGMENTS`` two-second GOPs are encoded once; longer media repeats them with rewritten timestamps
(the test source's own TS muxer, ``livevault.testsrc.tsmux.mux_segment``), so 60 minutes take seconds to
write, not an hour of encoding. A part is what the native HLS capture writes: the segments' bytes, back
to back, in one ``part-0001.ts``. Parts are cached under ``CACHE_DIR`` by length.
"""

from __future__ import annotations

import os
import pickle
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from livevault.testsrc.media import EncodedVideo, Rendition, audio_track, draw_frame, split_nals
from livevault.testsrc.tsmux import SegmentTiming, mux_segment

CACHE_DIR = Path(os.environ.get("LIVEVAULT_BENCH_MEDIA", "/tmp/livevault-bench-media"))
RENDITION = Rendition(1280, 720, 30, 60)  # 720p30, 2 s segments
LOOP_SEGMENTS = 5
VIDEO_KBITS = 2400
_BASE = 10 * 90_000  # the first frame's 90 kHz timestamp
_NOISE = 3


def _encode(index: int, rng: np.random.Generator) -> EncodedVideo:
    frames = RENDITION.frames_per_segment
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = RENDITION.width, RENDITION.height, "yuv420p"
    ctx.time_base, ctx.framerate = Fraction(1, RENDITION.fps), Fraction(RENDITION.fps)
    ctx.thread_count = 0
    ctx.options = {
        "preset": "ultrafast", "tune": "zerolatency",
        "x264-params": f"keyint={frames}:min-keyint={frames}:scenecut=0:bframes=0:bitrate={VIDEO_KBITS}:"
                       f"vbv-maxrate={VIDEO_KBITS}:vbv-bufsize={VIDEO_KBITS}",
    }
    units: list[bytes] = []
    first = index * frames
    for i in range(frames):
        img = draw_frame(first + i, RENDITION.width, RENDITION.height).astype(np.int16)
        img += rng.integers(-_NOISE, _NOISE + 1, img.shape, dtype=np.int16)
        picture = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="yuv420p")
        picture.pts = i
        units.extend(bytes(packet) for packet in ctx.encode(picture))
    units.extend(bytes(packet) for packet in ctx.encode(None))
    nals = split_nals(units[0])
    sps = next(n for n in nals if n[0] & 0x1F == 7)
    pps = next(n for n in nals if n[0] & 0x1F == 8)
    return EncodedVideo(RENDITION, index, tuple(units), sps, pps)


def _loop() -> list[EncodedVideo]:
    cached = CACHE_DIR / f"loop-{RENDITION.width}x{RENDITION.height}-{VIDEO_KBITS}k-{LOOP_SEGMENTS}.pickle"
    if cached.exists():
        loaded: list[EncodedVideo] = pickle.loads(cached.read_bytes())
        return loaded
    rng = np.random.default_rng(2026)
    videos = [_encode(i, rng) for i in range(LOOP_SEGMENTS)]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(videos))
    tmp.replace(cached)
    return videos


def part(minutes: float) -> Path:
    """A cached one-part recording of ``minutes`` of media (written the first time it is asked for)."""
    segments = round(minutes * 60 / float(RENDITION.duration))
    target = CACHE_DIR / f"part-{segments * 2}s" / "part-0001.ts"
    if target.exists():
        return target
    videos, audio = _loop(), audio_track()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        for index in range(segments):
            fh.write(mux_segment(videos[index % len(videos)], audio, SegmentTiming(index, index, _BASE)))
    tmp.replace(target)
    return target
