"""A real HTTP live-stream server with a frame counter in every picture, for tests, benchmarks and demos.

``StreamServer`` serves named live streams (created on first request or with ``server.stream()``):

    /live/{s}/master.m3u8              master playlist: hi (320x240) and lo (160x120), H.264 + AAC
    /live/{s}/{hi|lo}/index.m3u8       MPEG-TS media playlist, segments seg-{n}.ts
    /live/{s}/fmp4/index.m3u8          fMP4/CMAF: EXT-X-MAP init-{i}.mp4, segments seg-{n}.m4s
    /live/{s}/aes/index.m3u8           AES-128 TS: key.bin (or key-{p}.bin when keys rotate)
    /live/{s}/byterange/index.m3u8     EXT-X-BYTERANGE slices of growing chunk-{c}.ts files
    /live/{s}/stream.flv               endless progressive FLV from the live edge
    /live/{s}/stream.ts                endless progressive MPEG-TS from the live edge

Stream settings (``StreamConfig``): segment_duration (1.0 s), window (6), fps (24), token, pad_bitrate
(bit/s of null-packet padding for TS; lo gets a quarter), max_segments, key_period (0: one key),
aes_iv ("explicit" | "implicit" | "alternate" per key period), preroll (segments already available at
creation), byterange_group (segments per chunk file, 4).

Fault switches on ``LiveStream``: error_rate (503 on .ts/.m4s/chunk requests), stall, sequence_reset,
discontinuity, init_change, drop_connections, offline (playlists and progressive 404, published segments
stay fetchable; `reset=True` comes back with the media sequence reset), end. Epoch changes apply to the
segment being recorded when the switch is flipped. forbidden(seconds) answers 403, login_wall(seconds)
redirects to /login; stall(seconds) holds every request unanswered (a timeout); freeze(seconds) keeps
playlists answering without new segments.
Records: served(), produced(), connections(), request_log, faults.
Decode any picture and call ``read_frame_number(frame)`` to learn which frame it is.
"""

from livevault.testsrc.cache import MediaCache, shared_cache
from livevault.testsrc.config import StreamConfig
from livevault.testsrc.media import COUNTER_MODULO, read_frame_number
from livevault.testsrc.records import (
    FaultRecord,
    ProducedSegment,
    ProgressiveConnection,
    RequestRecord,
    ServedSegment,
)
from livevault.testsrc.server import StreamServer, create_app, describe_urls, run_testsrc
from livevault.testsrc.stream import LiveStream

__all__ = [
    "COUNTER_MODULO",
    "FaultRecord",
    "LiveStream",
    "MediaCache",
    "ProducedSegment",
    "ProgressiveConnection",
    "RequestRecord",
    "ServedSegment",
    "StreamConfig",
    "StreamServer",
    "create_app",
    "describe_urls",
    "read_frame_number",
    "run_testsrc",
    "shared_cache",
]
