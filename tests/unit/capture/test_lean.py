"""The lean GET against a real HTTP server (aiohttp's), over plain TCP and TLS: kept-alive connections are
reused, chunked and until-close bodies arrive whole, and what it does not handle (redirects, large bodies) is
handed back to aiohttp's path; through `HttpClient` both paths give the same answers and errors."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import trustme
import yarl
from aiohttp import web

from livevault.capture.base import CaptureOptions
from livevault.capture.http import SPILL_BYTES, HttpClient, create_session
from livevault.capture.lean import LeanClient, NotHandled
from livevault.errors import AddressNotAllowed, NetworkTimeout, StreamEnded
from livevault.net.guard import UrlGuard

BODY = bytes(range(256)) * 1000


@dataclass
class Site:
    url: str
    connections: set[int] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)


async def _serve(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


def _app(site: Site) -> web.Application:
    async def seen(request: web.Request) -> None:
        transport = request.transport
        assert transport is not None
        site.connections.add(id(transport))
        site.requests.append(request.path_qs)

    async def body(request: web.Request) -> web.Response:
        await seen(request)
        return web.Response(body=BODY, headers={"Set-Cookie": "edge=abc; Path=/"})

    async def chunked(request: web.Request) -> web.StreamResponse:
        await seen(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(BODY), 7000):
            await response.write(BODY[i:i + 7000])
        await response.write_eof()
        return response

    async def until_close(request: web.Request) -> web.StreamResponse:
        await seen(request)
        response = web.StreamResponse(headers={"Connection": "close"})
        response.force_close()
        await response.prepare(request)
        await response.write(BODY)
        await response.write_eof()
        return response

    async def redirect(request: web.Request) -> web.Response:
        await seen(request)
        raise web.HTTPFound("/body")

    async def big(request: web.Request) -> web.Response:
        await seen(request)
        return web.Response(body=b"x" * (SPILL_BYTES + 1))

    async def slow(request: web.Request) -> web.Response:
        await seen(request)
        await asyncio.sleep(3)
        return web.Response(body=b"late")

    async def gone(request: web.Request) -> web.Response:
        await seen(request)
        return web.Response(status=404)

    async def echo(request: web.Request) -> web.Response:
        await seen(request)
        return web.Response(text=f"{request.headers.get('Cookie')}|{request.headers.get('User-Agent')}")

    app = web.Application()
    for path, handler in (("/body", body), ("/chunked", chunked), ("/close", until_close), ("/redirect", redirect),
                          ("/big", big), ("/slow", slow), ("/gone", gone), ("/echo", echo)):
        app.router.add_get(path, handler)
    return app


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    found = Site("")
    runner, port = await _serve(_app(found))
    found.url = f"http://127.0.0.1:{port}"
    try:
        yield found
    finally:
        await runner.cleanup()


def lenient() -> UrlGuard:
    return UrlGuard(allow_private=True)


async def test_a_kept_alive_connection_carries_many_requests(site: Site) -> None:
    client = LeanClient(lenient(), connect_timeout=5)
    try:
        for _ in range(5):
            response = await client.get(yarl.URL(f"{site.url}/body?x=1"), {}, limit=SPILL_BYTES, read_timeout=5)
            assert response.status == 200
            assert b"".join(response.parts) == BODY
            assert response.cookies == ["edge=abc; Path=/"]
    finally:
        client.close()
    assert len(site.connections) == 1
    assert site.requests == ["/body?x=1"] * 5


@pytest.mark.parametrize("path", ["/chunked", "/close"])
async def test_chunked_and_until_close_bodies_arrive_whole(site: Site, path: str) -> None:
    client = LeanClient(lenient(), connect_timeout=5)
    try:
        for _ in range(2):
            response = await client.get(yarl.URL(site.url + path), {}, limit=SPILL_BYTES, read_timeout=5)
            assert b"".join(response.parts) == BODY
    finally:
        client.close()


@pytest.mark.parametrize("path", ["/redirect", "/big"])
async def test_redirects_and_large_bodies_are_left_to_aiohttp(site: Site, path: str) -> None:
    client = LeanClient(lenient(), connect_timeout=5)
    try:
        with pytest.raises(NotHandled):
            await client.get(yarl.URL(site.url + path), {}, limit=SPILL_BYTES, read_timeout=5)
    finally:
        client.close()


async def test_a_header_that_could_split_the_request_is_left_to_aiohttp(site: Site) -> None:
    client = LeanClient(lenient(), connect_timeout=5)
    try:
        with pytest.raises(NotHandled):
            await client.get(yarl.URL(f"{site.url}/echo"), {"Cookie": "a=1\r\nX-Injected: 1"}, limit=10,
                             read_timeout=5)
    finally:
        client.close()
    assert site.requests == []


async def test_a_server_that_closed_an_idle_connection_costs_one_retry(site: Site) -> None:
    client = LeanClient(lenient(), connect_timeout=5)
    try:
        await client.get(yarl.URL(f"{site.url}/body"), {}, limit=SPILL_BYTES, read_timeout=5)
        for idle in client._idle.values():  # the server's keep-alive timeout, as seen from here
            for conn in idle:
                assert conn.transport is not None
                conn.transport.get_extra_info("socket").shutdown(2)
        await asyncio.sleep(0.1)
        response = await client.get(yarl.URL(f"{site.url}/body"), {}, limit=SPILL_BYTES, read_timeout=5)
        assert b"".join(response.parts) == BODY
    finally:
        client.close()


async def test_through_the_client_both_paths_answer_alike(site: Site) -> None:
    options = CaptureOptions(user_agent="lean-test/1", http_timeout=1.0)
    session = create_session(options, guard=lenient())
    try:
        for lean in (True, False):
            client = HttpClient(session, headers={"Cookie": "own=1"}, timeout=1.0, lean=lean)
            body = await client.get_body(f"{site.url}/body")
            assert body.data == BODY
            ranged = await client.get_body(f"{site.url}/body", byte_range=(10, 20))
            assert ranged.data == BODY[10:30]
            text, final = await client.get_text(f"{site.url}/redirect")  # the lean path hands it to aiohttp
            assert len(text) == len(BODY)
            assert final == f"{site.url}/body"
            echoed, _ = await client.get_text(f"{site.url}/echo")
            assert echoed == "own=1; edge=abc|lean-test/1"  # the cookie the server set is carried, like aiohttp
            with pytest.raises(StreamEnded):
                await client.get_body(f"{site.url}/gone")
            with pytest.raises(NetworkTimeout):
                await client.get_body(f"{site.url}/slow")
    finally:
        await session.close()


async def test_the_guard_applies_to_the_lean_path() -> None:
    client = LeanClient(UrlGuard(allow_private=False), connect_timeout=5)
    try:
        for url in ("http://127.0.0.1:9/x.ts", "http://localhost:9/x.ts", "http://[::1]:9/x.ts",
                    "http://169.254.169.254/latest/"):
            with pytest.raises(AddressNotAllowed):
                await client.get(yarl.URL(url), {}, limit=10, read_timeout=1)
    finally:
        client.close()


async def test_https_with_the_servers_certificate_checked(tmp_path: object) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    found = Site("")
    runner, port = await _serve(_app(found), server_context)
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    try:
        client = LeanClient(lenient(), connect_timeout=5, ssl_context=trusted)
        try:
            for _ in range(2):
                response = await client.get(yarl.URL(f"https://127.0.0.1:{port}/chunked"), {}, limit=SPILL_BYTES,
                                            read_timeout=5)
                assert b"".join(response.parts) == BODY
        finally:
            client.close()
        assert len(found.connections) == 1
        untrusted = LeanClient(lenient(), connect_timeout=5)  # the system's CAs do not know this one
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await untrusted.get(yarl.URL(f"https://127.0.0.1:{port}/body"), {}, limit=10, read_timeout=5)
        finally:
            untrusted.close()
    finally:
        await runner.cleanup()

