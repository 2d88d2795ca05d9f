"""The live test stream server: an aiohttp app on its own event loop in a daemon thread.

with StreamServer(segment_duration=0.5) as server:
    stream = server.stream("cam1", window=4, token="s3cret")
    stream.wait_for_segments(2)
    requests.get(stream.master_url)
    stream.discontinuity()
    ...
    assert [s.global_index for s in stream.served("hi")] == [...]
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from livevault.testsrc.cache import MediaCache, shared_cache
from livevault.testsrc.config import StreamConfig
from livevault.testsrc.hls import HlsRoutes
from livevault.testsrc.hub import Hub
from livevault.testsrc.progressive import ProgressiveRoutes

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livevault.testsrc.stream import LiveStream

log = logging.getLogger(__name__)

HUB_KEY = web.AppKey("livevault_testsrc_hub", Hub)


def describe_urls(base_url: str, name: str, token: str | None = None) -> dict[str, str]:
    """The main URLs of stream ``name`` on a server at ``base_url``."""
    query = f"?token={token}" if token else ""
    root = f"{base_url.rstrip('/')}/live/{name}"
    return {
        "master": f"{root}/master.m3u8{query}",
        "hi": f"{root}/hi/index.m3u8{query}",
        "lo": f"{root}/lo/index.m3u8{query}",
        "fmp4": f"{root}/fmp4/index.m3u8{query}",
        "aes": f"{root}/aes/index.m3u8{query}",
        "byterange": f"{root}/byterange/index.m3u8{query}",
        "flv": f"{root}/stream.flv{query}",
        "ts": f"{root}/stream.ts{query}",
    }


@web.middleware
async def _stream_gate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Per-stream request handling: create on first use, stall, token check, request log."""
    name = request.match_info.get("stream")
    if name is None:
        return await handler(request)
    stream = request.app[HUB_KEY].stream(name)
    status = 500
    try:
        remaining = stream.stall_remaining()
        while remaining > 0:
            await stream.changed(remaining)
            remaining = stream.stall_remaining()
        if not stream.token_ok(request.query.get("token")):
            raise web.HTTPForbidden(text="missing or wrong token")
        gate = stream.gate()
        if gate == "forbidden":
            raise web.HTTPForbidden(text="blocked")
        if gate == "login":
            raise web.HTTPFound(location=f"/login?next={name}")
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        stream.record_request(request.path, status, request.method)


async def _index(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    lines = ["livevault test stream server", ""]
    for name in sorted(hub.streams):
        lines += [f"{label:>10}  {url}" for label, url in describe_urls(hub.base_url, name).items()]
    return web.Response(text="\n".join(lines) + "\n")


async def _login(request: web.Request) -> web.Response:
    return web.Response(text="<html><body><form>Log in to watch</form></body></html>", content_type="text/html")


def create_app(hub: Hub) -> web.Application:
    app = web.Application(middlewares=[_stream_gate])
    app[HUB_KEY] = hub
    app.router.add_get("/", _index)
    app.router.add_get("/login", _login)
    HlsRoutes(hub).add_to(app)
    ProgressiveRoutes(hub).add_to(app)
    return app


class StreamServer:
    """A real HTTP live-stream server for tests, benchmarks and ``livevault testsrc``.

    Keyword settings become the defaults of streams created on first request; ``stream(name, **config)``
    creates one with its own settings.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, cache: MediaCache | None = None, **defaults: Any
    ) -> None:
        self.host = host
        self.port = port
        self.hub = Hub(cache or shared_cache(), StreamConfig(**defaults))
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        if self._thread is None:
            raise RuntimeError("the server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def cache(self) -> MediaCache:
        return self.hub.cache

    def start(self) -> StreamServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="testsrc-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread = None
            raise RuntimeError(f"the test stream server could not start: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        except Exception:  # stopping must not fail a test teardown
            log.exception("test stream server did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> StreamServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stream(self, name: str | None = None, **config: Any) -> LiveStream:
        """The stream ``name`` (created now, with ``config`` over the server defaults, if new)."""
        settings = None
        if config:
            base = {field: getattr(self.hub.defaults, field) for field in StreamConfig.__dataclass_fields__}
            settings = StreamConfig(**{**base, **config})
        return self.hub.stream(name, settings)

    @property
    def streams(self) -> dict[str, LiveStream]:
        return dict(self.hub.streams)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        self.hub.closing = False
        runner = web.AppRunner(create_app(self.hub), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.hub.bind(asyncio.get_running_loop(), f"http://{host}:{self.port}")

    async def _shutdown(self) -> None:
        await self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def run_testsrc(
    host: str = "127.0.0.1",
    port: int = 8080,
    streams: list[str] | None = None,
    *,
    stop: threading.Event | None = None,
    **config: Any,
) -> None:
    """Serve until interrupted (Ctrl-C) or until ``stop`` is set; ``streams`` are created up front."""
    server = StreamServer(host, port, **config)
    server.start()
    try:
        for name in streams or []:
            server.stream(name)
        for name in streams or []:
            log.info("testsrc stream %s at %s", name, describe_urls(server.base_url, name)["master"])
        while stop is None or not stop.is_set():
            if stop is None:
                time.sleep(0.5)
            else:
                stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
