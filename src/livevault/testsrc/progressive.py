"""Endless progressive bodies: ``stream.flv`` and ``stream.ts``, paced by the live clock.

A connection starts at the live edge (the newest complete segment, so it opens on a keyframe) and
then sends each segment as it becomes available. A stall pauses it and it resumes at the live edge;
``end()`` and ``max_segments`` finish the body cleanly; ``offline()`` finishes it too;
``drop_connections()`` aborts the TCP connection mid-body.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from aiohttp import web

from livevault.testsrc.responses import FLV_TYPE, TS_TYPE

if TYPE_CHECKING:
    from livevault.testsrc.hub import Hub
    from livevault.testsrc.media import Rendition
    from livevault.testsrc.records import ProgressiveConnection
    from livevault.testsrc.stream import LiveStream


class ProgressiveRoutes:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def add_to(self, app: web.Application) -> None:
        s = "/live/{stream:[A-Za-z0-9_.~-]+}"
        app.router.add_get(f"{s}/stream.flv", self.flv)
        app.router.add_get(f"{s}/stream.ts", self.ts)

    async def flv(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "flv")

    async def ts(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "ts")

    async def _serve(self, request: web.Request, kind: str) -> web.StreamResponse:
        stream = self.hub.existing(request.match_info["stream"])
        while True:
            if stream.is_offline() or stream.ended() or self.hub.closing:
                raise web.HTTPNotFound(text="stream is not live")
            if stream.count():
                break
            await stream.changed(stream.available_at(0) - time.monotonic() + 0.002)
        headers = {"Content-Type": FLV_TYPE if kind == "flv" else TS_TYPE, "Cache-Control": "no-cache, no-store"}
        if request.method == "HEAD":
            return web.Response(headers=headers)
        response = web.StreamResponse(headers=headers)
        if request.version >= (1, 1):
            response.enable_chunked_encoding()
        transport = request.transport

        def abort() -> None:
            if transport is not None:
                transport.abort()

        conn = stream.open_connection(kind, abort)
        reason = "client_gone"
        try:
            await response.prepare(request)
            reason = await self._pump(response, stream, conn, kind)
        except ConnectionError:
            reason = "client_gone"
        except asyncio.CancelledError:
            reason = "server_stop"
            raise
        finally:
            # closed before the body ends, so a client that saw the end also finds the record closed
            stream.close_connection(conn, reason)
        if reason not in {"dropped", "client_gone"}:
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
        return response

    async def _pump(
        self, response: web.StreamResponse, stream: LiveStream, conn: ProgressiveConnection, kind: str
    ) -> str:
        """Write segments until the stream ends, goes offline, is dropped or the server stops."""
        cache, packager = self.hub.cache, self.hub.packager
        index = stream.count() - 1
        configured: Rendition | None = None
        resume_at_edge = False
        while True:
            if conn.reason == "dropped":
                return "dropped"
            if self.hub.closing:
                return "server_stop"
            if stream.is_offline():
                return "offline"
            stall = stream.stall_remaining()
            if stall > 0:
                await stream.changed(stall)
                resume_at_edge = True
                continue
            if resume_at_edge:
                index = max(index, stream.count() - 1)
                resume_at_edge = False
            final = stream.final_count()
            if final is not None and index >= final:
                return "end"
            now = time.monotonic()
            if index >= stream.count(now):
                await stream.changed(stream.available_at(index) - now + 0.002)
                continue
            info = stream.info(index)
            rendition = stream.rendition("hi", info.epoch)
            parts: list[bytes] = []
            if kind == "flv":
                if rendition != configured:
                    job = packager.flv_config(rendition, info.timing, with_header=configured is None)
                    parts.append(await cache.aget(job))
                    configured = rendition
                parts.append(await cache.aget(packager.flv_tags(rendition, info.timing)))
            else:
                parts.append(await cache.aget(packager.ts(rendition, info.timing, stream.config.pad_bytes("hi"))))
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            if conn.reason == "dropped":
                return "dropped"
            stream.sent(conn, info, len(data))  # recorded first: the client may read it before we return
            try:
                await response.write(data)
            except ConnectionError:
                stream.interrupted(conn, info.index)
                raise
            index += 1
