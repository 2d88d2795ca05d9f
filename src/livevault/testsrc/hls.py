"""HLS endpoints: master and media playlists, TS / fMP4 / AES-128 segments, keys, init segments, byte ranges."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from livevault.testsrc.config import VARIANTS
from livevault.testsrc.media import codecs_string
from livevault.testsrc.playlists import (
    CONTENT_TYPE,
    Entry,
    VariantEntry,
    key_line,
    master_playlist,
    media_playlist,
)
from livevault.testsrc.records import ServedSegment
from livevault.testsrc.responses import (
    KEY_TYPE,
    M4S_TYPE,
    MP4_TYPE,
    NO_CACHE,
    TS_TYPE,
    deliver,
    plan_bytes,
    send_bytes,
)

if TYPE_CHECKING:
    from livevault.testsrc.cache import Job
    from livevault.testsrc.config import SegmentInfo, Window
    from livevault.testsrc.hub import Hub
    from livevault.testsrc.stream import LiveStream

_VERSIONS = {"hi": 3, "lo": 3, "aes": 3, "byterange": 4, "fmp4": 7}
_NOMINAL_SAFETY = 1.5


async def wait_first_segment(stream: LiveStream) -> None:
    """Hold a request made before the first segment exists until it does (playlists are never empty)."""
    while stream.count() == 0 and not stream.ended():
        await stream.changed(stream.available_at(0) - time.monotonic() + 0.002)


class HlsRoutes:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def add_to(self, app: web.Application) -> None:
        s = "/live/{stream:[A-Za-z0-9_.~-]+}"
        app.router.add_get(f"{s}/master.m3u8", self.master)
        app.router.add_get(f"{s}/{{variant:hi|lo|aes|fmp4|byterange}}/index.m3u8", self.media)
        app.router.add_get(f"{s}/{{variant:hi|lo|aes}}/seg-{{sequence:[0-9]+}}.ts", self.ts_segment)
        app.router.add_get(f"{s}/fmp4/seg-{{sequence:[0-9]+}}.m4s", self.fmp4_segment)
        app.router.add_get(f"{s}/fmp4/init-{{init:[0-9]+}}.mp4", self.init_segment)
        app.router.add_get(f"{s}/aes/key.bin", self.key)
        app.router.add_get(f"{s}/aes/key-{{period:[0-9]+}}.bin", self.key)
        app.router.add_get(f"{s}/byterange/chunk-{{chunk:[0-9]+}}.ts", self.chunk)

    # --- playlists ----------------------------------------------------------------------------

    async def master(self, request: web.Request) -> web.Response:
        stream = self.hub.existing(request.match_info["stream"])
        if stream.is_offline():
            raise web.HTTPNotFound(text="stream is offline")
        await wait_first_segment(stream)
        info = stream.info(max(0, stream.count() - 1))  # the newest segment: cached, current resolution
        entries = []
        for variant in VARIANTS:
            rendition = stream.rendition(variant, info.epoch)
            video = await self.hub.cache.aget(self.hub.packager.video(rendition, 0))
            sample = await self.hub.cache.aget(self.hub.packager.ts(rendition, info.timing))
            measured = int(len(sample) * 8 / stream.segment_duration * _NOMINAL_SAFETY)
            pad_rate = stream.config.pad_bytes(variant) * 8 / stream.segment_duration
            bandwidth = max(measured, int(pad_rate * 1.02) + 1504 * 8) // 1000 * 1000 + 1000
            entries.append(
                VariantEntry(
                    f"{variant}/index.m3u8{stream.query}",
                    bandwidth,
                    rendition.width,
                    rendition.height,
                    codecs_string(video.sps),
                    rendition.fps,
                    variant,
                )
            )
        return web.Response(text=master_playlist(entries), content_type=CONTENT_TYPE, headers=NO_CACHE)

    async def media(self, request: web.Request) -> web.Response:
        stream = self.hub.existing(request.match_info["stream"])
        flavour = request.match_info["variant"]
        if stream.is_offline():
            raise web.HTTPNotFound(text="stream is offline")
        await wait_first_segment(stream)
        window = stream.window()
        q = stream.query
        entries: list[Entry]
        if flavour == "aes":
            entries = self._aes_entries(stream, window)
        elif flavour == "fmp4":
            entries = []
            init_id = -1
            for info in window.segments:
                map_uri = None
                if info.epoch.init_id != init_id:
                    init_id = info.epoch.init_id
                    map_uri = f"init-{init_id}.mp4{q}"
                entries.append(Entry(info, f"seg-{info.sequence}.m4s{q}", map_uri=map_uri))
        elif flavour == "byterange":
            entries = await self._byterange_entries(stream, window)
        else:
            entries = [Entry(info, f"seg-{info.sequence}.ts{q}") for info in window.segments]
        text = media_playlist(window, entries, version=_VERSIONS[flavour])
        return web.Response(text=text, content_type=CONTENT_TYPE, headers=NO_CACHE)

    def _aes_entries(self, stream: LiveStream, window: Window) -> list[Entry]:
        entries = []
        previous: tuple[int, bool] | None = None
        for info in window.segments:
            period = stream.key_period(info.sequence)
            iv, explicit = stream.iv(info)
            line = None
            if explicit or previous != (period, explicit) or info.discontinuity:
                line = key_line(f"{stream.key_uri(period)}{stream.query}", iv if explicit else None)
            previous = (period, explicit)
            entries.append(Entry(info, f"seg-{info.sequence}.ts{stream.query}", key=line))
        return entries

    async def _byterange_entries(self, stream: LiveStream, window: Window) -> list[Entry]:
        group = stream.config.byterange_group
        entries = []
        for info in window.segments:
            chunk = info.sequence // group
            offset = 0
            for index in range(info.index - info.sequence % group, info.index):
                offset += len(await self._plain_ts(stream, stream.info(index), "hi"))
            size = len(await self._plain_ts(stream, info, "hi"))
            entries.append(Entry(info, f"chunk-{chunk}.ts{stream.query}", byterange=(size, offset)))
        return entries

    # --- segments -----------------------------------------------------------------------------

    async def _plain_ts(self, stream: LiveStream, info: SegmentInfo, variant: str) -> bytes:
        rendition = stream.rendition(variant, info.epoch)
        job = self.hub.packager.ts(rendition, info.timing, stream.config.pad_bytes(variant))
        return await self.hub.cache.aget(job)

    async def _serve(
        self,
        request: web.Request,
        stream: LiveStream,
        variant: str,
        job: Job[bytes],
        content_type: str,
        info: SegmentInfo,
    ) -> web.Response:
        if stream.should_fail():
            self._record(request, stream, variant, info, 0, 503, completed=False)
            raise web.HTTPServiceUnavailable(text="injected error")
        reply = plan_bytes(request, await self.hub.cache.aget(job), content_type)
        # recorded before the body goes out, so a client that has the bytes also finds the record
        record = self._record(request, stream, variant, info, reply.size, reply.response.status, completed=True)
        if not await deliver(request, reply.response):
            stream.mark_incomplete(record)
        return reply.response

    def _record(
        self,
        request: web.Request,
        stream: LiveStream,
        variant: str,
        info: SegmentInfo,
        size: int,
        status: int,
        completed: bool,
    ) -> ServedSegment:
        return stream.record_served(
            ServedSegment(
                variant,
                info.sequence,
                info.index,
                info.epoch.number,
                info.first_frame,
                info.frame_count,
                info.duration,
                size,
                status,
                completed,
                time.time(),
                request.path,
            )
        )

    def _resolve(self, request: web.Request, stream: LiveStream, variant: str) -> SegmentInfo:
        info, servable = stream.resolve(int(request.match_info["sequence"]))
        if info is None:
            raise web.HTTPNotFound(text="no such segment")
        if not servable:
            self._record(request, stream, variant, info, 0, 404, completed=False)
            raise web.HTTPNotFound(text="segment expired")
        return info

    async def ts_segment(self, request: web.Request) -> web.Response:
        stream = self.hub.existing(request.match_info["stream"])
        variant = request.match_info["variant"]
        info = self._resolve(request, stream, variant)
        if variant == "aes":
            rendition = stream.rendition("hi", info.epoch)
            iv, _ = stream.iv(info)
            key = stream.key(stream.key_period(info.sequence))
            job = self.hub.packager.encrypted_ts(rendition, info.timing, stream.config.pad_bytes("hi"), key, iv)
        else:
            rendition = stream.rendition(variant, info.epoch)
            job = self.hub.packager.ts(rendition, info.timing, stream.config.pad_bytes(variant))
        return await self._serve(request, stream, variant, job, TS_TYPE, info)

    async def fmp4_segment(self, request: web.Request) -> web.Response:
        stream = self.hub.existing(request.match_info["stream"])
        info = self._resolve(request, stream, "fmp4")
        job = self.hub.packager.fragment(stream.rendition("hi", info.epoch), info.timing)
        return await self._serve(request, stream, "fmp4", job, M4S_TYPE, info)

    async def init_segment(self, request: web.Request) -> web.Response:
        stream = self.hub.existing(request.match_info["stream"])
        wanted = int(request.match_info["init"])
        for epoch in stream.epochs():
            if epoch.init_id == wanted:
                body = await self.hub.cache.aget(self.hub.packager.init(stream.rendition("hi", epoch)))
                return await send_bytes(request, body, MP4_TYPE, cache_seconds=3600)
        raise web.HTTPNotFound(text="no such init segment")

    async def key(self, request: web.Request) -> web.Response:
        stream = self.hub.existing(request.match_info["stream"])
        period = int(request.match_info.get("period", "0"))
        return await send_bytes(request, stream.key(period), KEY_TYPE, cache_seconds=3600)

    async def chunk(self, request: web.Request) -> web.Response:
        """A growing file of ``byterange_group`` consecutive TS segments; byte ranges pick segments out."""
        stream = self.hub.existing(request.match_info["stream"])
        group = stream.config.byterange_group
        first_sequence = int(request.match_info["chunk"]) * group
        infos: list[SegmentInfo] = []
        any_servable = False
        for sequence in range(first_sequence, first_sequence + group):
            info, servable = stream.resolve(sequence)
            if info is None:
                break
            infos.append(info)
            any_servable |= servable
        if not any_servable:
            raise web.HTTPNotFound(text="no such chunk")
        if stream.should_fail():
            for info in infos:
                self._record(request, stream, "byterange", info, 0, 503, completed=False)
            raise web.HTTPServiceUnavailable(text="injected error")
        parts = [await self._plain_ts(stream, info, "hi") for info in infos]
        reply = plan_bytes(request, b"".join(parts), TS_TYPE)
        records = []
        offset = 0
        for info, part in zip(infos, parts, strict=True):
            if reply.start <= offset and offset + len(part) <= reply.end:
                records.append(
                    self._record(request, stream, "byterange", info, len(part), reply.response.status, completed=True)
                )
            offset += len(part)
        if not await deliver(request, reply.response):
            for record in records:
                stream.mark_incomplete(record)
        return reply.response
