"""A strict API on the real server (uvicorn on a port): body and header limits, slow bodies, bad numbers,
unknown fields."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from livevault.api.app import create_app
from livevault.api.server import server_limits
from tests.conftest import API_KEY, HEADERS, make_settings

BODY_TIMEOUT = 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = Path(tmp_path_factory.mktemp("limits")) / "data"
    settings = make_settings(data, request_body_timeout=BODY_TIMEOUT, webhook_secret="s3cret",
                             push_hls_url_template="http://127.0.0.1:9/{stream_key}.m3u8")
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None,
                            lifespan="on", **server_limits(settings))
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(30)


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _raw(base: str, head: str, *, body: bytes = b"", wait: float = 10.0) -> tuple[int, bytes, float]:
    """Send `head` (and `body`), then read until the server answers and closes; (status, response, seconds)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", _port(base)), timeout=wait) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data, time.monotonic() - started


def _post_head(path: str, length: int | None, extra: str = "") -> str:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {API_KEY}\r\nContent-Type: application/json\r\n"
            f"{size}{extra}\r\n")


@pytest.mark.parametrize("path", ["/recordings", "/watchers", "/downloads", "/webhooks/stream"])
def test_a_100_mib_body_is_refused_before_it_is_sent(server: str, path: str) -> None:
    status, data, seconds = _raw(server, _post_head(path, 100 * 1024 * 1024))
    assert status == 413, data[:300]
    assert b"PAYLOAD_TOO_LARGE" in data
    assert seconds < 5


def test_a_10_gib_announcement_is_refused_at_once(server: str) -> None:
    status, _data, seconds = _raw(server, _post_head("/recordings", 10 * 1024**3))
    assert status == 413
    assert seconds < 5


def test_a_chunked_body_is_cut_off_at_the_limit(server: str) -> None:
    """Chunked: the server answers 413 once 64 KiB have arrived and closes; it does not take the other 100 MiB."""
    sent = 0
    answer = b""
    reset = False
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=10) as sock:
        sock.sendall(_post_head("/recordings", None).encode())
        chunk = b"x" * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        try:
            while sent < 100 * 1024 * 1024 and not answer:
                sock.sendall(frame)
                sent += len(chunk)
                sock.settimeout(0.01)
                try:
                    answer += sock.recv(65536)
                except TimeoutError:
                    pass
                sock.settimeout(10)
            sock.settimeout(5)
            while more := sock.recv(65536):
                answer += more
        except (BrokenPipeError, ConnectionResetError):
            reset = True  # the server closed on us while we were still sending: refused too
        except TimeoutError:
            pass
    assert answer.startswith(b"HTTP/1.1 413") or (reset and not answer), answer[:200]
    assert sent < 16 * 1024 * 1024, f"{sent} bytes went in before the refusal"


def test_a_stalled_body_is_cut_off_within_the_timeout(server: str) -> None:
    status, data, seconds = _raw(server, _post_head("/recordings", 100))
    assert status == 408, data[:300]
    assert b"REQUEST_TIMEOUT" in data
    assert BODY_TIMEOUT - 0.5 <= seconds < BODY_TIMEOUT + 3


def test_a_body_trickling_a_byte_at_a_time_is_cut_off(server: str) -> None:
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=10) as sock:
        sock.sendall(_post_head("/recordings", 1000).encode())
        try:
            for _ in range(100):
                sock.sendall(b" ")
                sock.settimeout(0.5)
                try:
                    answer += sock.recv(65536)
                except TimeoutError:
                    continue
                if answer:
                    break
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < BODY_TIMEOUT + 3


def test_oversized_headers_are_refused(server: str) -> None:
    head = f"GET /recordings HTTP/1.1\r\nHost: x\r\nX-API-Key: {API_KEY}\r\nX-Big: {'a' * 40000}\r\n\r\n"
    status, _data, _ = _raw(server, head)
    assert status in {400, 413, 431}


def _post(server: str, path: str, body: str | dict[str, Any]) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {**HEADERS, "Content-Type": "application/json"}
    return httpx.post(server + path, content=content, headers=headers, timeout=10)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "0", "-5",
                                   "1e400", "9223372036854775808", "\"abc\"", "86401"])
def test_bad_poll_intervals_are_422(server: str, value: str) -> None:
    response = _post(server, "/watchers", f'{{"room_id": "123", "poll_interval": {value}}}')
    assert response.status_code == 422, (value, response.text)
    assert response.json()["error_code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e309", "9223372036854775808", "18446744073709551616",
                                   "-1", "0", "1.5", "86401"])
def test_bad_durations_are_422(server: str, value: str) -> None:
    response = _post(server, "/recordings", f'{{"room_id": "123", "duration": {value}}}')
    assert response.status_code == 422, (value, response.text)


@pytest.mark.parametrize("route", ["/recordings", "/watchers", "/downloads", "/files"])
@pytest.mark.parametrize("page", ["0", "-1", str(2**63), str(2**64), "1e3", "NaN", "1000001", "abc"])
def test_out_of_range_pages_are_422(server: str, route: str, page: str) -> None:
    response = httpx.get(server + route, params={"page": page}, headers=HEADERS, timeout=10)
    assert response.status_code == 422, (route, page, response.text)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/recordings", {"room_id": "123", "durration": 20}, "durration"),
    ("/recordings", {"room_id": "123", "options": {"proxi": "http://p:1"}}, "proxi"),
    ("/watchers", {"room_id": "123", "poll_intervall": 60}, "poll_intervall"),
    ("/watchers", {"room_id": "123", "options": {"max_durration": 5}}, "max_durration"),
    ("/downloads", {"urls": ["https://www.tiktok.com/@a/video/1"], "strategyy": "yt-dlp"}, "strategyy"),
])
def test_a_misspelled_field_is_a_422_naming_it(server: str, path: str, body: dict[str, Any], field: str) -> None:
    response = _post(server, path, body)
    assert response.status_code == 422, response.text
    assert field in response.text


def test_patching_a_watcher_with_nan_is_422(server: str) -> None:
    created = _post(server, "/watchers", {"room_id": "424242", "poll_interval": 60})
    assert created.status_code in {200, 201, 202}, created.text
    response = httpx.patch(server + "/watchers/424242", content='{"poll_interval": NaN}',
                           headers={**HEADERS, "Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 422, response.text


def test_headers_trickling_a_byte_at_a_time_are_cut_off(server: str) -> None:
    started = time.monotonic()
    closed = False
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(100):
                sock.sendall(b"X")
                sock.settimeout(0.5)
                try:
                    if sock.recv(65536) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
        except OSError:
            closed = True
    assert closed, "the connection was held open"
    assert time.monotonic() - started < BODY_TIMEOUT + 3
