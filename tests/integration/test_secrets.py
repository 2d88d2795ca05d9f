"""Secrets stay secret: an API key, a proxy password, a cookie value, the webhook and S3 secrets planted in
requests and configuration appear in no log line, API response (options included), error body, metric or
child-process command line, through a recording that records via a proxy and one that fails."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.observability import JsonFormatter, RedactingFormatter
from livevault.testsrc import StreamServer
from tests.conftest import make_settings
from tests.integration.helpers import wait_finished

pytestmark = pytest.mark.live

API_KEY = "sekrit-api-key-0451"
PROXY_USER = "proxyuser"
PROXY_PASSWORD = "PROXYPASS-7777"
COOKIE_VALUE = "COOKIEVALUE-4242"
WEBHOOK_SECRET = "webhook-SECRET-1234"
S3_SECRET = "AWSSECRET-98765"
SIGNED_QUERY = "sig=SIGNATURE-5555"
SECRETS = [API_KEY, PROXY_PASSWORD, COOKIE_VALUE, WEBHOOK_SECRET, S3_SECRET]
LOG_SECRETS = [*SECRETS, "SIGNATURE-5555"]  # a source's signed query: masked in logs, returned to its owner


class ForwardProxy:
    """A tiny HTTP forward proxy on loopback that asks for Basic credentials (for plain http:// targets)."""

    def __init__(self) -> None:
        self.port = 0
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            wanted = "Basic " + base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
            self.requests += 1
            if fields.get("proxy-authorization") != wanted or not target.startswith("http://"):
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                await writer.drain()
                return
            hostport, _, path = target[len("http://"):].partition("/")
            host, _, port = hostport.partition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port or 80))
            kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith(("proxy-", "connection:"))]
            up_writer.write(("\r\n".join([f"{method} /{path} {version}", *kept, "Connection: close"]) + "\r\n\r\n")
                            .encode("latin-1"))
            await up_writer.drain()
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            up_writer.close()
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class Captured(logging.Handler):
    """Every log record, formatted the two ways livevault writes logs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._json = JsonFormatter()
        self._plain = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self._json.format(record))
        self.lines.append(self._plain.format(record))


def _child_command_lines() -> list[str]:
    """Command lines of every process whose parent is this one (ffmpeg, recorders)."""
    found = []
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = stat.rsplit(")", 1)[1].split()[1]
            if ppid == me:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
        except OSError:
            continue
    return found


@pytest.fixture
def logs() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def _assert_clean(where: str, text: str, secrets: list[str] = SECRETS) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked into {where}: ...{text[max(0, text.find(secret) - 80):][:200]}"


def test_secrets_appear_nowhere(tmp_path: Path, stream_server: StreamServer, logs: Captured) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "cookies.txt").write_text(
        f"# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tTRUE\t0\tsessionid\t{COOKIE_VALUE}\n")
    settings = make_settings(tmp_path / "data", api_keys=API_KEY, webhook_secret=WEBHOOK_SECRET,
                             aws_secret_access_key=S3_SECRET, secrets_dir=secrets_dir, reconnect_window=2.0,
                             push_hls_url_template=f"{stream_server.base_url}/live/{{stream_key}}/hi/index.m3u8")
    stream = stream_server.stream(f"sec-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    texts: list[tuple[str, str]] = []
    commands: list[str] = []
    with ForwardProxy() as proxy, TestClient(create_app(settings)) as api:
        api.headers.update({"X-API-Key": API_KEY})
        good_proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"
        bad_proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}-wrong@127.0.0.1:{proxy.port}"
        url = f"{stream.playlist_url('hi')}?{SIGNED_QUERY}"

        def call(method: str, path: str, **kw: Any) -> None:
            response = api.request(method, path, **kw)
            texts.append((f"{method} {path} -> {response.status_code}", response.text + str(response.headers)))

        # 1. a recording through the proxy with the ffmpeg engine (its command line is read while it runs)
        ffmpeg_id = None
        if not shutil.which("ffmpeg") and os.environ.get("LIVEVAULT_REQUIRE_FFMPEG") == "1":
            pytest.fail("ffmpeg is missing; LIVEVAULT_REQUIRE_FFMPEG=1 requires it", pytrace=False)
        if shutil.which("ffmpeg"):
            started = api.post("/recordings", json={"url": url + "&copy=1", "duration": 4, "options": {
                "proxy": good_proxy, "cookies": "cookies.txt", "engine": "ffmpeg"}})
            assert started.status_code == 202, started.text
            ffmpeg_id = started.json()["recording_id"]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any("ffmpeg" in c for c in commands):
                commands += _child_command_lines()
                time.sleep(0.05)
            assert any("ffmpeg" in c for c in commands), "ffmpeg never ran"
        # 2. the native engine through the proxy, and 3. a recording that fails (the proxy refuses it)
        native = api.post("/recordings", json={"url": url + "&copy=2", "duration": 3, "options": {"proxy": good_proxy}})
        failing = api.post("/recordings", json={"url": url + "&copy=3", "duration": 3, "options": {"proxy": bad_proxy,
                                                                                        "cookies": "cookies.txt"}})
        assert native.status_code == failing.status_code == 202, (native.text, failing.text)
        ids = [r.json()["recording_id"] for r in (native, failing)] + ([ffmpeg_id] if ffmpeg_id else [])
        for rid in ids:
            wait_finished(api, rid, timeout=60)
            commands += _child_command_lines()
        assert api.get(f"/recordings/{failing.json()['recording_id']}").json()["status"] == "failed"
        assert proxy.requests > 0, "nothing went through the proxy"
        # a watcher with the same secrets, a signed webhook, and error bodies
        call("POST", "/watchers", json={"url": url + "&copy=4",
                                        "options": {"proxy": good_proxy, "cookies": "cookies.txt"}})
        call("POST", "/recordings", json={"url": url, "options": {"proxy": good_proxy + "/path?x=1"}})
        call("POST", "/recordings", json={"url": url, "options": {"cookies": "../" + COOKIE_VALUE}})
        call("POST", "/recordings", json={"url": "ftp://u:" + PROXY_PASSWORD + "@x/" + "?" + SIGNED_QUERY})
        call("GET", "/recordings", headers={"X-API-Key": API_KEY + "-wrong"})
        call("POST", "/webhooks/stream", content=b'{"event": "stream.started", "stream_key": "k"}',
             headers={"X-Livevault-Signature": "sha256=00", "Content-Type": "application/json"})
        for rid in ids:
            call("GET", f"/recordings/{rid}")
            call("GET", f"/recording/{rid}")
            call("GET", f"/recordings/{rid}/ledger")
            call("GET", f"/jobs/{api.get(f'/recordings/{rid}').json()['task_id']}")
        call("GET", "/recordings")
        call("GET", "/watchers")
        for item in api.get("/watchers").json()["items"]:
            call("GET", f"/watchers/{item['key']}")
        call("GET", "/metrics")
        call("GET", "/ready")
        call("GET", "/openapi.json")
        options = [r["options"] for r in api.get("/recordings").json()["recordings"]]
    for where, text in texts:
        _assert_clean(where, text)
    for line in logs.lines:
        _assert_clean("the logs", line, LOG_SECRETS)
    for command in commands:
        _assert_clean("a child's command line", command)
    assert any(o.get("proxy") == f"http://{PROXY_USER}:***@127.0.0.1:{proxy.port}" for o in options), options
    assert all(o.get("cookies") in (None, "***") for o in options)
    assert logs.lines, "nothing was logged: the test would prove nothing"


def test_uploads_links_and_notifications_keep_secrets(
    tmp_path: Path, stream_server: StreamServer, logs: Captured, moto_server: Any, s3_bucket: str
) -> None:
    """A recording through a proxy, uploaded to S3, announced to a receiver, with a presigned link asked for:
    the S3 secret, the link's signature, the API key and the proxy password reach no log line, no other API
    response, no metric and no notification."""
    from urllib.parse import parse_qs, urlsplit

    from tests.fakes.receiver import Receiver
    from tests.s3fixtures import s3_overrides

    stream = stream_server.stream(f"sec-up-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    overrides = s3_overrides(moto_server, s3_bucket)
    s3_secret = overrides["aws_secret_access_key"]
    with Receiver() as receiver, ForwardProxy() as proxy:
        settings = make_settings(tmp_path / "data", api_keys=API_KEY, webhook_secret=WEBHOOK_SECRET,
                                 webhook_urls=receiver.url, **overrides)
        good_proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"
        with TestClient(create_app(settings)) as api:
            api.headers.update({"X-API-Key": API_KEY})
            started = api.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 3,
                                                    "options": {"proxy": good_proxy, "upload_s3": True}})
            assert started.status_code == 202, started.text
            rid = started.json()["recording_id"]
            wait_finished(api, rid, timeout=60)
            deadline = time.monotonic() + 60
            while "recording.completed" not in [r.event["type"] for r in receiver.accepted()]:
                assert time.monotonic() < deadline, "recording.completed never arrived"
                time.sleep(0.2)
            link = api.get(f"/recordings/{rid}/url", params={"expires": 600}).json()["url"]
            signature = parse_qs(urlsplit(link).query)["X-Amz-Signature"][0]
            assert len(signature) >= 32
            secrets = [API_KEY, PROXY_PASSWORD, WEBHOOK_SECRET, s3_secret, signature]
            texts = [(f"GET {path}", api.get(path).text) for path in (
                f"/recordings/{rid}", f"/recording/{rid}", "/recordings", "/files", "/metrics", "/notifications",
                f"/jobs/{started.json()['task_id']}",
            )]
    for where, text in texts:
        _assert_clean(where, text, secrets)
    for request in receiver.requests:
        _assert_clean("a notification", request.body.decode() + str(request.headers), secrets)
    for line in logs.lines:
        _assert_clean("the logs", line, secrets)
    assert logs.lines, "nothing was logged: the test would prove nothing"
