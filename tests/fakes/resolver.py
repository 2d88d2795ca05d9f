"""A fake download resolver (seed 003's `POST /tiktok/download`) and the media it points at: a real HTTP server.

The server runs aiohttp in a thread of its own (`with FakeResolver() as fake: fake.base_url`). What it answers
depends on the video URL it is asked about: its `scenario` query parameter (see `SCENARIOS`) and `delay`
(seconds to think before answering). `video_url()` builds such URLs. The server keeps its own record, safe to
read from the test thread: every request body, how many calls were in flight at once (the resolver alone, and
resolver plus media together), and every media path served.

Answers follow seed 003: success is 200 `{success, download_url, video_info, file_size, execution_time}`; a
failure is a 4xx/5xx `{success: false, error_code, message, execution_time}` (a bare 500 for `server_error`).
"""

from __future__ import annotations

import asyncio
import functools
import io
import socket
import threading
import time
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import av
from aiohttp import web

from livevault.testsrc.media import draw_frame

# scenario -> what happens. "_always" variants also fail the headful retry.
SCENARIOS = {
    "ok": "success",
    "navigation_failed": "502 NAVIGATION_FAILED headless, success headful",
    "navigation_failed_always": "502 NAVIGATION_FAILED on every call",
    "no_download_link": "404 NO_DOWNLOAD_LINK on every call",
    "invalid_url": "400 INVALID_URL",
    "server_error": "bare 500 headless, success headful",
    "server_error_always": "bare 500 on every call",
    "timeout": "headless call hangs (longer than any test timeout), success headful",
    "too_big": "success announcing a 10 GiB file",
    "unsized": "success without file_size (the media still has a Content-Length)",
    "chunked": "success without file_size; media sent chunked, no Content-Length",
    "bare": "success without video_info",
    "not_media": "download_url serves an HTML page",
    "redirect": "download_url redirects to the media",
    "missing_media": "download_url answers 404",
}
CLIP_SECONDS = 2
CLIP_FPS = 25
CLIP_SIZE = (160, 120)
HANG_SECONDS = 3.0


@functools.lru_cache(maxsize=1)
def sample_mp4() -> bytes:
    """A real MP4: 2 s of H.264 at 25 fps, 160x120, a keyframe every second (frame counter drawn in)."""
    width, height = CLIP_SIZE
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, CLIP_FPS)
        stream.codec_context.options = {
            "preset": "ultrafast", "x264-params": f"keyint={CLIP_FPS}:min-keyint={CLIP_FPS}:scenecut=0:bframes=0",
        }
        for number in range(CLIP_SECONDS * CLIP_FPS):
            frame = av.VideoFrame.from_ndarray(draw_frame(number, width, height), format="yuv420p")
            frame.pts = number
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def video_url(video_id: str, scenario: str = "ok", *, delay: float | None = None) -> str:
    """A TikTok-looking video URL that tells the fake what to do."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    query: dict[str, str] = {"scenario": scenario}
    if delay is not None:
        query["delay"] = str(delay)
    return f"https://www.tiktok.com/@fakeuser/video/{video_id}?{urlencode(query)}"


def _video_id(url: str) -> str:
    parts = [p for p in urlsplit(url).path.split("/") if p]
    return parts[-1] if parts else "unknown"


class FakeResolver:
    def __init__(self, *, media: bytes | None = None) -> None:
        self.media = media if media is not None else sample_mp4()
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._media_paths: list[str] = []
        self._resolver_in_flight = 0
        self._in_flight = 0
        self.max_resolver_in_flight = 0
        self.max_in_flight = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    # -- the record ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every `/tiktok/download` body received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def media_paths(self) -> list[str]:
        with self._lock:
            return list(self._media_paths)

    def requests_for(self, video_id: str) -> list[dict[str, Any]]:
        return [body for body in self.requests if _video_id(str(body.get("url", ""))) == video_id]

    def _enter(self, resolver: bool) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if resolver:
                self._resolver_in_flight += 1
                self.max_resolver_in_flight = max(self.max_resolver_in_flight, self._resolver_in_flight)

    def _leave(self, resolver: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if resolver:
                self._resolver_in_flight -= 1

    # -- handlers -----------------------------------------------------------------------------

    async def _download(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            return web.json_response({"success": False, "error_code": "INVALID_REQUEST", "message": "bad body"},
                                     status=422)
        with self._lock:
            self._requests.append(dict(body))
        self._enter(resolver=True)
        try:
            query = parse_qs(urlsplit(body["url"]).query)
            scenario = query.get("scenario", ["ok"])[0]
            headful = body.get("force_headful") is True
            await asyncio.sleep(float(query.get("delay", ["0"])[0]))
            if scenario == "timeout" and not headful:
                await asyncio.sleep(HANG_SECONDS)
            return self._answer(scenario, headful, _video_id(body["url"]), time.monotonic() - started)
        finally:
            self._leave(resolver=True)

    def _answer(self, scenario: str, headful: bool, video_id: str, elapsed: float) -> web.Response:
        execution_time = round(elapsed + 1.5, 3)  # what a browser-driving resolver would report

        def failure(status: int, code: str) -> web.Response:
            return web.json_response({"success": False, "error_code": code, "message": f"fake {code.lower()}",
                                      "execution_time": execution_time}, status=status)

        if scenario == "invalid_url":
            return failure(400, "INVALID_URL")
        if scenario == "no_download_link":
            return failure(404, "NO_DOWNLOAD_LINK")
        if scenario == "navigation_failed_always" or (scenario == "navigation_failed" and not headful):
            return failure(502, "NAVIGATION_FAILED")
        if scenario == "server_error_always" or (scenario == "server_error" and not headful):
            return web.Response(status=500, text="Internal Server Error")
        return web.json_response(self._success(scenario, video_id, execution_time))

    def _success(self, scenario: str, video_id: str, execution_time: float) -> dict[str, Any]:
        paths = {"not_media": f"/media/{video_id}.html", "redirect": f"/redirect/{video_id}.mp4",
                 "missing_media": f"/missing/{video_id}.mp4", "chunked": f"/media/{video_id}.mp4?chunked=1"}
        answer: dict[str, Any] = {
            "success": True,
            "download_url": self.base_url + paths.get(scenario, f"/media/{video_id}.mp4"),
            "video_info": {"id": video_id, "title": f"Fake video {video_id}", "duration": CLIP_SECONDS,
                           "author": {"unique_id": "fakeuser", "nickname": "Fake User"}},
            "file_size": 10 * 1024**3 if scenario == "too_big" else len(self.media),
            "execution_time": execution_time,
        }
        if scenario in {"unsized", "chunked"}:
            del answer["file_size"]
        if scenario == "bare":
            del answer["video_info"]
        return answer

    async def _media(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self._media_paths.append(request.path_qs)
        self._enter(resolver=False)
        try:
            name = request.match_info["name"]
            if name.endswith(".html"):
                return web.Response(text="<html><body>not a video</body></html>", content_type="text/html")
            if request.query.get("chunked") != "1":
                return web.Response(body=self.media, content_type="video/mp4")
            response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for offset in range(0, len(self.media), 4096):
                await response.write(self.media[offset:offset + 4096])
            await response.write_eof()
            return response
        finally:
            self._leave(resolver=False)

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/media/{request.match_info['name']}")

    async def _missing(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="gone")

    # -- lifecycle ----------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/tiktok/download", self._download)
        app.router.add_get("/media/{name}", self._media)
        app.router.add_get("/redirect/{name}", self._redirect)
        app.router.add_get("/missing/{name}", self._missing)
        return app

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=0.5)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, self._sock).start())
        self._ready.set()
        try:
            loop.run_until_complete(self._stop.wait())
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def __enter__(self) -> FakeResolver:
        self._thread = threading.Thread(target=self._serve, name="fake-resolver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake resolver did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()
