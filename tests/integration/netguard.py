"""Test network for the URL guard: a loopback *target* that counts every connection, an *origin* that the
guard trusts by name (`origin.test`), and a name lookup the test controls (no DNS, no hosts file).

The target answers `INTERNAL-SECRET` to anything, so a test can also check that no error message repeats
what an internal address answered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web

from livevault.net.guard import UrlGuard

SECRET_ANSWER = b"INTERNAL-SECRET"
PUBLIC = "93.184.216.34"


@dataclass
class Net:
    target_port: int = 0
    origin_port: int = 0
    connections: int = 0
    playlists: dict[str, str] = field(default_factory=dict)
    lookups: dict[str, int] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None

    # -- names ------------------------------------------------------------------------------------

    def lookup(self, host: str, port: int) -> list[str]:
        """The test's resolver: fixed answers, and `rebind.test` that is public once, then loopback."""
        host = host.lower().rstrip(".")
        self.lookups[host] = self.lookups.get(host, 0) + 1
        table = {
            "origin.test": ["127.0.0.1"],
            "loop.test": ["127.0.0.1"],
            "private.test": ["10.1.2.3"],
            "meta.test": ["169.254.169.254"],
            "cgnat.test": ["100.64.1.1"],
            "mixed.test": [PUBLIC, "127.0.0.1"],
            "v6loop.test": ["::1"],
            "mapped.test": ["::ffff:127.0.0.1"],
            "nat64.test": ["64:ff9b::7f00:1"],
            "public.test": [PUBLIC],
        }
        if host == "rebind.test":
            return [PUBLIC] if self.lookups[host] == 1 else ["127.0.0.1"]
        if host in table:
            return table[host]
        raise OSError(f"{host} does not resolve")

    def guard(self, *, allow_private: bool = False) -> UrlGuard:
        return UrlGuard(allow_private=allow_private, lookup=self.lookup, trusted_hosts={"origin.test"})

    # -- URLs -------------------------------------------------------------------------------------

    def origin(self, path: str) -> str:
        return f"http://origin.test:{self.origin_port}{path}"

    def redirect(self, to: str, status: int = 302) -> str:
        return self.origin(f"/redirect?status={status}&to={quote(to, safe='')}")

    # -- servers ----------------------------------------------------------------------------------

    async def _target(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await asyncio.wait_for(reader.read(4096), 2)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/vnd.apple.mpegurl\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(SECRET_ANSWER), SECRET_ANSWER))
            await writer.drain()
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()

    async def _redirect(self, request: web.Request) -> web.Response:
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def _playlist(self, request: web.Request) -> web.Response:
        text = self.playlists.get(request.match_info["name"])
        if text is None:
            return web.Response(status=404)
        return web.Response(text=text, content_type="application/vnd.apple.mpegurl")

    async def _segment(self, request: web.Request) -> web.Response:
        return web.Response(body=(b"\x47" + b"\x00" * 187) * 8, content_type="video/mp2t")


@contextmanager
def guarded_network() -> Iterator[Net]:
    """Start the target and the origin in a thread of their own (usable from sync and async tests)."""
    net = Net()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        server = await asyncio.start_server(net._target, "127.0.0.1", 0)
        net.target_port = server.sockets[0].getsockname()[1]
        app = web.Application()
        app.router.add_get("/redirect", net._redirect)
        app.router.add_get("/live/{name}.m3u8", net._playlist)
        app.router.add_get("/seg/{name}", net._segment)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        net.origin_port = runner.addresses[0][1]
        net.loop = asyncio.get_running_loop()
        ready.set()
        await stop.wait()
        await runner.cleanup()
        server.close()
        await server.wait_closed()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "test network did not start"
    try:
        yield net
    finally:
        assert net.loop is not None
        assert stop is not None
        net.loop.call_soon_threadsafe(stop.set)
        thread.join(10)
