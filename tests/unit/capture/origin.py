"""A scripted HTTP origin on 127.0.0.1 for capture tests: playlists, segments, keys and endless bodies.

Playlists are scripts: the n-th request of a path gets the n-th entry (the last one repeats), so a test
steps a live window deterministically without sleeping. An entry is playlist text or an HTTP status.
Resources are bytes with an optional list of statuses to answer first (or forever), a delay, and
Range support. Progressive streams get one behaviour per connection.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

TD = 0.2


def seg_bytes(name: str, size: int = 188 * 4) -> bytes:
    """Identifiable fake TS: 0x47-led packets carrying the segment name."""
    packet = (b"\x47" + name.encode() + b"|" * 187)[:188]
    return (packet * (size // 188 + 1))[:size]


def fmp4_bytes(name: str, size: int = 400) -> bytes:
    body = (b"\x00\x00\x01\x90moof" + name.encode() * 100)
    return body[:size]


def media(first: int, count: int, *, td: float = TD, prefix: str = "s", ext: str = "ts", endlist: bool = False,
          head: str = "", disc_seq: int | None = None, before: dict[int, str] | None = None,
          query: str = "") -> str:
    """A media playlist with segments `{prefix}{seq}.{ext}` for seq first..first+count-1."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{td}", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    if disc_seq is not None:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}")
    if head:
        lines.append(head)
    for seq in range(first, first + count):
        if before and seq in before:
            lines.append(before[seq])
        lines += [f"#EXTINF:{td:.3f},", f"{prefix}{seq}.{ext}{query}"]
    if endlist:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


@dataclass
class Resource:
    data: bytes
    fail: list[int] = field(default_factory=list)
    always: int | None = None
    delay: float = 0.0
    honor_range: bool = True


@dataclass
class Connection:
    """One progressive connection: send `chunks` every `every` seconds, then end as `end` says."""

    chunks: list[bytes] = field(default_factory=list)
    every: float = 0.02
    end: str = "close"  # close | abort | stall | forever
    status: int = 200


class Origin:
    def __init__(self) -> None:
        self.scripts: dict[str, list[str | int]] = {}
        self.resources: dict[str, Resource] = {}
        self.streams: dict[str, list[Connection]] = {}
        self.hits: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}  # event-loop time of each request
        self.queries: dict[str, list[str]] = {}
        self.ranges: list[tuple[str, str]] = []
        self.headers: dict[str, dict[str, str]] = {}
        self.set_cookie: dict[str, str] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def script(self, path: str, *entries: str | int) -> None:
        self.scripts[path.lstrip("/")] = list(entries)

    def add(self, path: str, data: bytes, **kw: object) -> bytes:
        self.resources[path.lstrip("/")] = Resource(data, **kw)  # type: ignore[arg-type]
        return data

    def stream(self, path: str, *connections: Connection) -> None:
        self.streams[path.lstrip("/")] = list(connections)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["tail"]
        self.times.setdefault(path, []).append(asyncio.get_running_loop().time())
        self.queries.setdefault(path, []).append(request.rel_url.raw_query_string)
        self.headers[path] = dict(request.headers)
        count = self.hits[path]
        self.hits[path] += 1
        if path in self.scripts:
            entries = self.scripts[path]
            entry = entries[min(count, len(entries) - 1)]
            if isinstance(entry, int):
                return web.Response(status=entry)
            resp = web.Response(text=entry, content_type="application/vnd.apple.mpegurl")
            for name, value in self.set_cookie.items():
                resp.set_cookie(name, value)
            return resp
        if path in self.resources:
            return await self._resource(request, path, self.resources[path])
        if path in self.streams:
            conns = self.streams[path]
            return await self._progressive(request, conns[min(count, len(conns) - 1)])
        return web.Response(status=404)

    async def _resource(self, request: web.Request, path: str, res: Resource) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if res.delay:
                await asyncio.sleep(res.delay)
            if res.fail:
                return web.Response(status=res.fail.pop(0))
            if res.always is not None:
                return web.Response(status=res.always)
            spec = request.headers.get("Range")
            if spec and res.honor_range:
                self.ranges.append((path, spec))
                start, _, end = spec.removeprefix("bytes=").partition("-")
                body = res.data[int(start):int(end) + 1]
                return web.Response(body=body, status=206, headers={
                    "Content-Range": f"bytes {start}-{end}/{len(res.data)}"})
            return web.Response(body=res.data)
        finally:
            self.in_flight -= 1

    async def _progressive(self, request: web.Request, conn: Connection) -> web.StreamResponse:
        if conn.status != 200:
            return web.Response(status=conn.status)
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunks = list(conn.chunks)
        while chunks or conn.end == "forever":
            await resp.write(chunks.pop(0) if chunks else b"\x47" * 188)
            await asyncio.sleep(conn.every)
        if conn.end == "abort":
            assert request.transport is not None
            request.transport.close()
        elif conn.end == "stall":
            await self.closing.wait()
        else:
            await resp.write_eof()
        return resp
