"""HTTP helpers (errors, URLs, headers, cookies) and AES-128 primitives."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from livevault.capture.crypto import KeyCache, decrypt_aes128, sequence_iv
from livevault.capture.http import (
    HttpClient,
    as_url,
    check_proxy,
    create_session,
    fetch_bytes,
    fetch_text,
    http_status,
    map_error,
    status_error,
)
from livevault.errors import (
    DecryptionFailed,
    InvalidInput,
    LoginRequired,
    NetworkTimeout,
    SourceBlocked,
    SourceUnreachable,
    StreamEnded,
)
from livevault.net.guard import UrlGuard
from tests.unit.capture.harness import FAST, part_bytes, record
from tests.unit.capture.origin import Origin, media, seg_bytes


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, LoginRequired), (403, SourceBlocked), (404, StreamEnded), (410, StreamEnded),
     (429, SourceUnreachable), (500, SourceUnreachable), (503, SourceUnreachable)],
)
def test_status_errors(status: int, kind: type) -> None:
    error = status_error(status, "https://h/p/x.ts?token=secret", "Nope")
    assert isinstance(error, kind)
    assert http_status(error) == status
    assert "secret" not in error.message
    assert error.details["url"] == "https://h/p/x.ts"


def test_transport_errors() -> None:
    assert isinstance(map_error(TimeoutError(), "http://h/x"), NetworkTimeout)
    assert isinstance(map_error(aiohttp.ServerTimeoutError("slow"), "http://h/x"), NetworkTimeout)
    assert isinstance(map_error(aiohttp.ClientPayloadError("cut"), "http://h/x"), SourceUnreachable)
    assert http_status(map_error(aiohttp.ClientPayloadError("cut"), "http://h/x")) is None
    assert http_status(ValueError("x")) is None


def test_urls_are_sent_as_written_and_proxies_checked() -> None:
    url = "http://h/a%2Fb/seg.ts?sig=a%2Bb%3D%3D&x=1+2"
    assert str(as_url(url)) == url
    assert str(as_url("http://h/ä b.ts")) == "http://h/%C3%A4%20b.ts"
    assert check_proxy("http://proxy:3128") == "http://proxy:3128"
    assert check_proxy(None) is None
    with pytest.raises(InvalidInput):
        check_proxy("socks5://proxy:1080")


async def test_headers_and_cookies_are_carried(origin: Origin, tmp_path: Path) -> None:
    data = [origin.add(f"s{n}.ts", seg_bytes(f"s{n}")) for n in range(2)]
    origin.script("live.m3u8", media(0, 2, endlist=True))
    origin.set_cookie = {"edge": "abc"}
    _, spool = await record(origin.url("live.m3u8"), tmp_path,
                            headers={"Referer": "https://site.example/", "Cookie": "user=1"})
    assert part_bytes(spool) == [b"".join(data)]
    seg_headers = origin.headers["s1.ts"]
    assert seg_headers["Referer"] == "https://site.example/"
    assert seg_headers["Cookie"] == "user=1; edge=abc"
    assert seg_headers["User-Agent"] == FAST.user_agent
    assert seg_headers["Accept-Encoding"] == "identity"


async def test_http_client_get_text_and_errors(origin: Origin) -> None:
    origin.script("p.m3u8", "#EXTM3U\n", 404)
    session = create_session(FAST, guard=UrlGuard(allow_private=True))
    try:
        client = HttpClient(session, timeout=1.0)
        text, url = await client.get_text(origin.url("p.m3u8?a=%2F"))
        assert text == "#EXTM3U\n"
        assert url == origin.url("p.m3u8?a=%2F")
        with pytest.raises(StreamEnded):
            await client.get_text(origin.url("p.m3u8"))
        origin.add("b.bin", bytes(range(100)), honor_range=False)
        assert await fetch_bytes(session, origin.url("b.bin"), byte_range=(10, 5)) == bytes(range(10, 15))
        origin.script("q.m3u8", "#EXTM3U\n#X\n")
        assert (await fetch_text(session, origin.url("q.m3u8")))[0] == "#EXTM3U\n#X\n"
    finally:
        await session.close()


def _encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


def test_decrypt_roundtrip_and_failures() -> None:
    key, iv = os.urandom(16), sequence_iv(7)
    assert iv == b"\x00" * 15 + b"\x07"
    for size in (0, 1, 15, 16, 17, 188 * 10):
        plain = os.urandom(size)
        assert decrypt_aes128(_encrypt(plain, key, iv), key, iv) == plain
    with pytest.raises(DecryptionFailed):
        decrypt_aes128(b"x" * 15, key, iv)
    with pytest.raises(DecryptionFailed):
        decrypt_aes128(_encrypt(b"hello", key, iv), b"k" * 8, iv)
    # A wrong key: fixed keys, because with a random one the padding comes out valid now and then (1 in ~256)
    with pytest.raises(DecryptionFailed):
        decrypt_aes128(_encrypt(b"hello" * 10, b"\x01" * 16, iv), b"\x02" * 16, iv)


async def test_key_cache_fetches_each_key_once() -> None:
    calls: list[str] = []

    async def fetch(uri: str) -> bytes:
        calls.append(uri)
        await asyncio.sleep(0.01)
        return b"k" * 16 if uri != "bad" else b"short"

    cache = KeyCache(fetch)
    keys = await asyncio.gather(*(cache.get("a") for _ in range(5)))
    assert keys == [b"k" * 16] * 5
    assert calls == ["a"]
    cache.forget("a")
    await cache.get("a")
    assert calls == ["a", "a"]
    with pytest.raises(DecryptionFailed):
        await cache.get("bad")


async def _raw_origin(behaviour: str) -> tuple[asyncio.Server, str]:
    """A socket server that promises 200000 bytes, sends 50000 in pieces, then closes or stalls."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\nContent-Type: video/mp2t\r\n\r\n")
        for _ in range(5):
            writer.write(b"\x47" * 10_000)
            await writer.drain()
            await asyncio.sleep(0.01)
        if behaviour == "stall":
            await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/seg.ts"


@pytest.mark.parametrize(("behaviour", "kind"), [("close", SourceUnreachable), ("stall", NetworkTimeout)])
def test_a_body_cut_short_or_stalled_mid_way_fails_without_hanging(behaviour: str, kind: type) -> None:
    async def scenario() -> None:
        server, url = await _raw_origin(behaviour)
        session = aiohttp.ClientSession(read_bufsize=256 * 1024)
        try:
            client = HttpClient(session, timeout=0.5)
            with pytest.raises(kind):
                await asyncio.wait_for(client.get_body(url), 10)
        finally:
            await session.close()
            server.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_large_bodies_on_a_kept_alive_connection_arrive_whole(loop: str) -> None:
    """Bodies above aiohttp's buffer limit, back to back on one connection, on both event loops."""
    body = b"\x47" * 700_000

    async def scenario() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 700000\r\n\r\n" + body)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/seg.ts"
        session = aiohttp.ClientSession(read_bufsize=256 * 1024)
        try:
            client = HttpClient(session, timeout=2.0)
            for _ in range(6):
                got = await asyncio.wait_for(client.get_body(url), 5)
                assert got.size == len(body)
                assert got.data == body
        finally:
            await session.close()
            server.close()

    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(scenario())
    else:
        asyncio.run(scenario())
