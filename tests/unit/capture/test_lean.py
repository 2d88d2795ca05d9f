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


async def test_many_streams_from_one_host_keep_their_connections_between_bursts(site: Site) -> None:
    # Recordings started together reload in step: a burst of requests to one CDN host, then quiet. Every
    # connection of a burst is kept for the next one (ids of transports can repeat only for live objects).
    client = LeanClient(lenient(), connect_timeout=5)
    try:
        for _ in range(3):
            responses = await asyncio.gather(*(
                client.get(yarl.URL(f"{site.url}/body"), {}, limit=SPILL_BYTES, read_timeout=5) for _ in range(60)))
            assert all(r.size == len(BODY) for r in responses)
        assert len(site.requests) == 180
        assert len(site.connections) == 60
    finally:
        client.close()


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



@dataclass
class RawServer:
    """A TCP server that answers each request with exactly the bytes a test script gives, in the pieces and at
    the pace it gives: what a slow, dropping or sloppy CDN sends."""

    script: list[list[bytes | float | None]]  # per request: byte pieces, pauses (seconds), None = close now
    port: int = 0
    connections: int = 0


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer([])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        try:
            while server.script:
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"GET ")
                for step in server.script.pop(0):
                    if step is None:
                        writer.transport.abort()
                        return
                    if isinstance(step, float):
                        await asyncio.sleep(step)
                    else:
                        writer.write(step)
                        await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()


def _head(length: int, *extra: str) -> bytes:
    return "\r\n".join(["HTTP/1.1 200 OK", f"Content-Length: {length}", *extra, "", ""]).encode()


async def test_a_body_in_many_small_pieces_arrives_whole_and_the_connection_is_kept(raw: RawServer) -> None:
    # The headers come with the first bytes of the body, the rest in pieces of every size, some after a pause
    pieces: list[bytes | float | None] = [_head(len(BODY)) + BODY[:10]]
    at = 10
    for size in (1, 2, 4095, 4096, 4097, 65536, 100_000):
        pieces += [BODY[at:at + size], 0.01]
        at += size
    pieces.append(BODY[at:])
    raw.script = [pieces, [_head(5) + b"hello"], [_head(0)], [_head(len(BODY)), BODY]]
    client = LeanClient(lenient(), connect_timeout=5)
    url = yarl.URL(f"http://127.0.0.1:{raw.port}/seg.ts")
    try:
        first = await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5)
        assert first.size == len(BODY)
        assert b"".join(first.parts) == BODY
        assert b"".join((await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5)).parts) == b"hello"
        empty = await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5)
        assert (empty.status, empty.size, b"".join(empty.parts)) == (200, 0, b"")
        last = await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5)
        assert b"".join(last.parts) == BODY
    finally:
        client.close()
    assert raw.connections == 1


async def test_a_body_cut_short_is_an_error_and_its_connection_is_not_reused(raw: RawServer) -> None:
    raw.script = [[_head(len(BODY)) + BODY[:1000], BODY[1000:50_000], None], [_head(2) + b"ok"]]
    client = LeanClient(lenient(), connect_timeout=5)
    url = yarl.URL(f"http://127.0.0.1:{raw.port}/seg.ts")
    try:
        with pytest.raises(ConnectionError):
            await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5)
        assert b"".join((await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5)).parts) == b"ok"
    finally:
        client.close()
    assert raw.connections == 2


async def test_a_body_that_stalls_halfway_times_out(raw: RawServer) -> None:
    raw.script = [[_head(len(BODY)) + BODY[:1000], BODY[1000:50_000], 3.0, BODY[50_000:]]]
    client = LeanClient(lenient(), connect_timeout=5)
    try:
        with pytest.raises(TimeoutError):
            await client.get(yarl.URL(f"http://127.0.0.1:{raw.port}/seg.ts"), {}, limit=SPILL_BYTES,
                             read_timeout=0.5)
    finally:
        client.close()


async def test_a_body_that_trickles_past_the_total_time_times_out_and_its_connection_is_dropped(
    raw: RawServer,
) -> None:
    # Never quiet for the read timeout, but not whole within `total` either: one timer watches both
    trickle: list[bytes | float | None] = [_head(len(BODY)) + BODY[:100]]
    for at in range(100, 2100, 100):
        trickle += [0.1, BODY[at:at + 100]]
    raw.script = [trickle, [_head(2) + b"ok"]]
    client = LeanClient(lenient(), connect_timeout=5)
    url = yarl.URL(f"http://127.0.0.1:{raw.port}/seg.ts")
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with pytest.raises(TimeoutError):
            await client.get(url, {}, limit=SPILL_BYTES, read_timeout=0.5, total=0.6)
        assert 0.55 <= loop.time() - started < 1.5
        assert b"".join((await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5, total=5)).parts) == b"ok"
    finally:
        client.close()
    assert raw.connections == 2  # the timed-out connection was not reused


async def test_bytes_after_the_announced_length_never_reach_the_next_response(raw: RawServer) -> None:
    # A sloppy server sends more than its Content-Length: the extra bytes are not a response to anything
    raw.script = [[_head(5) + b"hello" + b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"], [_head(2) + b"ok"]]
    client = LeanClient(lenient(), connect_timeout=5)
    url = yarl.URL(f"http://127.0.0.1:{raw.port}/seg.ts")
    try:
        first = await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5)
        assert (b"".join(first.parts), first.headers["content-length"]) == (b"hello", "5")
        assert b"".join((await client.get(url, {}, limit=SPILL_BYTES, read_timeout=5)).parts) == b"ok"
    finally:
        client.close()
    assert raw.connections == 2  # the connection that carried them was dropped
