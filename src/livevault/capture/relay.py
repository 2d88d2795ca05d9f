"""The loopback relay between ffmpeg and an HTTP(S) source: ffmpeg never opens a connection of its own.

For an http(s) input the `ffmpeg` engine starts one relay, an HTTP server on 127.0.0.1 at a random port, and
makes it ffmpeg's HTTP proxy (`http_proxy` in ffmpeg's environment, with a random password). Every request
ffmpeg makes - the input, and every playlist, segment, key and init section it follows - arrives here and is
fetched by livevault's own HTTP client, so:

* the URL guard checks every request and redirect hop, with connections pinned to the checked address, and
  a playlist from a public address may not lead to a private one (as for the native engines);
* the stream's headers, cookies and proxy stay in livevault's memory: ffmpeg's command line holds only a
  relay address (no query, no cookie, no header, no user agent), so `ps` shows none of them;
* ffmpeg's protocol whitelist is `http,tcp`: it cannot open TLS, files or any other protocol itself.

Addresses: ffmpeg sees `http://livevault-relay.invalid/o<N>/<path>?<query>`, where `o<N>` stands for one
origin (scheme and authority) of the source. HLS playlists are rewritten on the way through: every URI line
and `URI="..."` attribute becomes its relay address, so ffmpeg resolves nothing against the real origin. A
plain `http://` URL that ffmpeg builds itself (a format whose documents are not rewritten) reaches the relay
as a proxy request and is fetched, guarded, as it is. The first failure the relay meets (a refused address,
an HTTP error, a timeout) is kept, so the capture ends with livevault's own code, not ffmpeg's paraphrase.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import logging
import re
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp import web

from livevault.capture.http import HttpClient
from livevault.errors import InvalidUrl, LivevaultError, NetworkTimeout, SourceUnreachable

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

RELAY_HOST = "livevault-relay.invalid"
PROTOCOL_WHITELIST = "http,tcp"
_USER = "livevault"
_MAX_PLAYLIST = 8 * 1024 * 1024
_MAX_ORIGINS = 64
_PASSED_HEADERS = ("Content-Type", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag")
_URI_ATTRIBUTE = re.compile(r'(URI=")([^"]*)(")')
_PLAYLIST_TYPES = ("mpegurl",)


class FfmpegRelay:
    """One relay for one ffmpeg run: `start()`, give ffmpeg `input_url` and `environment()`, then `close()`."""

    def __init__(self, client: HttpClient, url: str) -> None:
        self._client = client
        self._password = secrets.token_urlsafe(24)
        self._origins: dict[str, tuple[str, str]] = {}
        self._keys: dict[tuple[str, str], str] = {}
        parts = urlsplit(url)
        self._input_path = self._path_of(parts.scheme, parts.netloc, parts.path or "/")
        self._input_query = parts.query
        self._server: asyncio.AbstractServer | None = None
        self._handler: web.Server | None = None
        self.port = 0
        self.error: LivevaultError | None = None
        self.requests = 0

    @classmethod
    def for_stream(cls, session: aiohttp.ClientSession, url: str, *, headers: Mapping[str, str], proxy: str | None,
                   timeout: float) -> FfmpegRelay:
        client = HttpClient(session, headers=headers, proxy=proxy, timeout=timeout, origin=url)
        return cls(client, url)

    @property
    def input_url(self) -> str:
        """What goes on ffmpeg's command line: the relay address of the input, without its query."""
        return f"http://{RELAY_HOST}{self._input_path}"

    def environment(self) -> dict[str, str]:
        """ffmpeg's proxy settings: every http request it makes goes to the relay (the password stays here)."""
        proxy = f"http://{_USER}:{self._password}@127.0.0.1:{self.port}"
        return {"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}

    async def start(self) -> None:
        self._handler = web.Server(self._handle, access_log=None)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._handler, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        if self._handler is not None:
            with contextlib.suppress(Exception):
                await self._handler.shutdown(1.0)
            self._handler = None

    # -- addresses ----------------------------------------------------------------------------------------

    def _path_of(self, scheme: str, netloc: str, path: str) -> str:
        origin = (scheme.lower(), netloc)
        key = self._keys.get(origin)
        if key is None:
            if len(self._keys) >= _MAX_ORIGINS:
                raise InvalidUrl("the stream's documents name too many hosts", details={"limit": _MAX_ORIGINS})
            key = f"o{len(self._keys) + 1}"
            self._keys[origin] = key
            self._origins[key] = origin
        return f"/{key}{path if path.startswith('/') else '/' + path}"

    def relay_url(self, upstream: str) -> str:
        """The relay address ffmpeg is given for an absolute upstream http(s) URL."""
        parts = urlsplit(upstream)
        path = self._path_of(parts.scheme, parts.netloc, parts.path or "/")
        return f"http://{RELAY_HOST}{path}" + (f"?{parts.query}" if parts.query else "")

    def upstream_of(self, target: str, host: str) -> str:
        """The upstream URL for a request target (origin-form, or absolute-form as ffmpeg sends to a proxy)."""
        if target.lower().startswith("http://"):
            parts = urlsplit(target)
            if parts.hostname != RELAY_HOST:
                return target  # a URL ffmpeg built itself: fetched as it is, guarded like any other
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        elif host.split(":")[0].lower() != RELAY_HOST:
            raise InvalidUrl("the relay serves its own addresses only")
        path, _, query = target.partition("?")
        if path == self._input_path and not query:
            query = self._input_query
        key, _, rest = path.lstrip("/").partition("/")
        origin = self._origins.get(key)
        if origin is None:
            raise InvalidUrl("not an address this relay gave out", details={"path": path[:100]})
        scheme, netloc = origin
        return f"{scheme}://{netloc}/{rest}" + (f"?{query}" if query else "")

    def rewrite_playlist(self, text: str, base: str) -> str:
        """Every URI of an HLS playlist as its relay address (resolved against `base`, where it came from)."""
        out: list[str] = []
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped:
                out.append(line)
            elif stripped.startswith("#"):
                out.append(_URI_ATTRIBUTE.sub(lambda m: m.group(1) + self._mapped(m.group(2), base) + m.group(3),
                                              line) if 'URI="' in line else line)
            else:
                out.append(self._mapped(stripped, base))
        return "\n".join(out) + "\n"

    def _mapped(self, uri: str, base: str) -> str:
        absolute = urljoin(base, uri)
        if urlsplit(absolute).scheme.lower() not in {"http", "https"}:
            return uri  # data:, skd:, ... : ffmpeg's whitelist refuses what it cannot open through the relay
        return self.relay_url(absolute)

    # -- serving --------------------------------------------------------------------------------------------

    def _authorized(self, request: web.BaseRequest) -> bool:
        header = request.headers.get("Proxy-Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == _USER and hmac.compare_digest(password, self._password)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if not self._authorized(request):
            return web.Response(status=407, headers={"Proxy-Authenticate": 'Basic realm="livevault"'})
        if request.method not in {"GET", "HEAD"}:
            return web.Response(status=405)
        self.requests += 1
        try:
            upstream = self.upstream_of(request.raw_path, request.headers.get("Host", ""))
            return await self._relay(request, upstream)
        except LivevaultError as exc:
            return self._failed(exc)
        except TimeoutError as exc:
            return self._failed(NetworkTimeout(f"no answer in time: {type(exc).__name__}"))

    def _failed(self, exc: LivevaultError) -> web.Response:
        if self.error is None:
            self.error = exc
        status = exc.details.get("status") if isinstance(exc.details.get("status"), int) else None
        if status is None:
            status = {"ADDRESS_NOT_ALLOWED": 403, "INVALID_URL": 400, "NETWORK_TIMEOUT": 504}.get(exc.code, 502)
        log.info("ffmpeg relay: %s (%s)", exc.code, exc.message)
        return web.Response(status=status)

    async def _relay(self, request: web.BaseRequest, upstream: str) -> web.StreamResponse:
        headers = {"Accept-Encoding": "identity"}
        if "Range" in request.headers:
            headers["Range"] = request.headers["Range"]
        async with self._client.open(upstream, headers=headers) as resp:
            first = await resp.content.readany()
            while len(first) < 7 and b"#EXTM3U".startswith(first) and first and not resp.content.at_eof():
                first += await resp.content.readany()
            content_type = resp.headers.get("Content-Type", "").lower()
            if first.startswith(b"#EXTM3U") or any(t in content_type for t in _PLAYLIST_TYPES):
                body = first + await resp.content.read(_MAX_PLAYLIST)
                if not resp.content.at_eof():
                    raise SourceUnreachable("a playlist larger than 8 MiB", details={"limit": _MAX_PLAYLIST})
                text = self.rewrite_playlist(body.decode("utf-8", errors="replace"), str(resp.url))
                return web.Response(body=text.encode(), content_type="application/vnd.apple.mpegurl")
            response = web.StreamResponse(status=resp.status)
            for name in _PASSED_HEADERS:
                if name in resp.headers:
                    response.headers[name] = resp.headers[name]
            if resp.content_length is not None and "Content-Encoding" not in resp.headers:
                response.content_length = resp.content_length
            await response.prepare(request)
            if request.method == "HEAD":
                return response
            try:
                if first:
                    await response.write(first)
                while chunk := await resp.content.readany():
                    await response.write(chunk)
            except (LivevaultError, aiohttp.ClientError, TimeoutError) as exc:
                # The source broke off mid-body (a live stream that ended, a dropped connection): ffmpeg sees
                # the connection close and decides, as it would without the relay.
                log.debug("ffmpeg relay: the body broke off: %s", exc)
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
            return response
