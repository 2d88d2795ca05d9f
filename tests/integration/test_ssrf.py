"""SSRF: every form of an internal address is refused with a clear code and no connection reaches it.

The guard is on (private sources not allowed). A loopback listener stands for the internal service and
counts connections; the origin (trusted by name) serves redirects and playlists that point at it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.capture.http import HttpClient, create_session
from livevault.domain.capture import EndReason
from livevault.errors import AddressNotAllowed, InvalidUrl, LivevaultError
from livevault.net.guard import UrlGuard, address_refusal, parse_host_address
from tests.conftest import HEADERS, make_settings
from tests.integration.netguard import PUBLIC, SECRET_ANSWER, Net, guarded_network
from tests.unit.capture.harness import FAST, record

REFUSED = "ADDRESS_NOT_ALLOWED"
INVALID = "INVALID_URL"

# {t} is the loopback listener's port: a request that got through would be counted.
DIRECT_FORMS: list[tuple[str, str]] = [
    # schemes
    ("file:///etc/passwd", INVALID),
    ("file://localhost/etc/passwd", INVALID),
    ("ftp://127.0.0.1:{t}/", INVALID),
    ("gopher://127.0.0.1:{t}/_INFO", INVALID),
    ("dict://127.0.0.1:{t}/info", INVALID),
    ("ldap://127.0.0.1:{t}/", INVALID),
    ("ws://127.0.0.1:{t}/", INVALID),
    ("javascript:alert(1)", INVALID),
    ("data:text/plain,hello", INVALID),
    ("jar:http://127.0.0.1:{t}/x!/", INVALID),
    ("//127.0.0.1:{t}/", INVALID),
    ("127.0.0.1:{t}/", INVALID),
    # loopback, every notation
    ("http://127.0.0.1:{t}/", REFUSED),
    ("HTTP://127.0.0.1:{t}/", REFUSED),
    ("https://127.0.0.1:{t}/", REFUSED),
    ("http://127.0.0.1.:{t}/", REFUSED),
    ("http://127.1:{t}/", REFUSED),
    ("http://127.0.1:{t}/", REFUSED),
    ("http://127.000.000.001:{t}/", REFUSED),
    ("http://2130706433:{t}/", REFUSED),
    ("http://0x7f000001:{t}/", REFUSED),
    ("http://0x7f.0x0.0x0.0x1:{t}/", REFUSED),
    ("http://0x7f.1:{t}/", REFUSED),
    ("http://0177.0.0.1:{t}/", REFUSED),
    ("http://017700000001:{t}/", REFUSED),
    ("http://0177.1:{t}/", REFUSED),
    ("http://127.255.255.254:{t}/", REFUSED),
    ("http://[::1]:{t}/", REFUSED),
    ("http://[0:0:0:0:0:0:0:1]:{t}/", REFUSED),
    ("http://[::ffff:127.0.0.1]:{t}/", REFUSED),
    ("http://[::ffff:7f00:1]:{t}/", REFUSED),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]:{t}/", REFUSED),
    ("http://[::127.0.0.1]:{t}/", REFUSED),
    ("http://[64:ff9b::127.0.0.1]:{t}/", REFUSED),
    ("http://[64:ff9b::7f00:1]:{t}/", REFUSED),
    ("http://[2002:7f00:1::]:{t}/", REFUSED),
    ("http://localhost:{t}/", REFUSED),
    ("http://LOCALHOST:{t}/", REFUSED),
    ("http://localhost.:{t}/", REFUSED),
    ("http://api.localhost:{t}/", REFUSED),
    ("http://user:pw@127.0.0.1:{t}/", REFUSED),
    ("http://public.test@127.0.0.1:{t}/", REFUSED),
    ("http://127.0.0.1:{t}#@public.test/", REFUSED),
    ("http://127.0.0.1:{t}?@public.test/", REFUSED),
    # unspecified
    ("http://0.0.0.0:{t}/", REFUSED),
    ("http://0:{t}/", REFUSED),
    ("http://[::]:{t}/", REFUSED),
    # private, CGNAT, link-local, multicast, reserved
    ("http://10.0.0.1/", REFUSED),
    ("http://10.255.255.255/", REFUSED),
    ("http://172.16.0.1/", REFUSED),
    ("http://172.31.255.254/", REFUSED),
    ("http://192.168.1.1/", REFUSED),
    ("http://0xc0a80101/", REFUSED),
    ("http://3232235777/", REFUSED),
    ("http://100.64.0.1/", REFUSED),
    ("http://100.127.255.254/", REFUSED),
    ("http://198.18.0.1/", REFUSED),
    ("http://192.0.2.1/", REFUSED),
    ("http://224.0.0.1/", REFUSED),
    ("http://239.255.255.250/", REFUSED),
    ("http://240.0.0.1/", REFUSED),
    ("http://255.255.255.255/", REFUSED),
    ("http://[fc00::1]/", REFUSED),
    ("http://[fd12:3456::1]/", REFUSED),
    ("http://[fe80::1]/", REFUSED),
    ("http://[ff02::1]/", REFUSED),
    ("http://[::ffff:10.0.0.1]/", REFUSED),
    ("http://[::ffff:192.168.0.1]/", REFUSED),
    # cloud metadata, every notation
    ("http://169.254.169.254/latest/meta-data/", REFUSED),
    ("http://169.254.170.2/v2/credentials", REFUSED),
    ("http://2852039166/latest/meta-data/", REFUSED),
    ("http://0xa9fea9fe/latest/meta-data/", REFUSED),
    ("http://0251.0376.0251.0376/latest/", REFUSED),
    ("http://169.254.43518/", REFUSED),
    ("http://[::ffff:169.254.169.254]/", REFUSED),
    ("http://[::ffff:a9fe:a9fe]/", REFUSED),
    ("http://[64:ff9b::a9fe:a9fe]/", REFUSED),
    ("http://[fd00:ec2::254]/latest/", REFUSED),
    ("http://100.100.100.200/latest/meta-data/", REFUSED),
    ("http://192.0.0.192/", REFUSED),
    ("http://metadata.google.internal/computeMetadata/v1/", REFUSED),
    ("http://metadata/computeMetadata/v1/", REFUSED),
    # names that resolve to refused addresses (the test's resolver)
    ("http://loop.test:{t}/", REFUSED),
    ("http://private.test/", REFUSED),
    ("http://meta.test/latest/", REFUSED),
    ("http://cgnat.test/", REFUSED),
    ("http://mixed.test:{t}/", REFUSED),
    ("http://v6loop.test:{t}/", REFUSED),
    ("http://mapped.test:{t}/", REFUSED),
    ("http://nat64.test:{t}/", REFUSED),
]


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    with guarded_network() as network:
        yield network


def _code(exc: BaseException) -> str:
    assert isinstance(exc, LivevaultError), repr(exc)
    return exc.code


@pytest.mark.parametrize(("form", "code"), DIRECT_FORMS)
async def test_a_direct_form_is_refused_before_any_connection(net: Net, form: str, code: str) -> None:
    url = form.format(t=net.target_port)
    before = net.connections
    guard = net.guard()
    with pytest.raises(InvalidUrl) as checked:
        guard.check_url(url)
    assert checked.value.code == code
    session = create_session(FAST, guard=guard)
    try:
        with pytest.raises(LivevaultError) as fetched:
            await HttpClient(session, timeout=2).get_text(url)
    finally:
        await session.close()
    assert _code(fetched.value) in {REFUSED, INVALID}
    assert SECRET_ANSWER.decode() not in str(fetched.value)
    assert net.connections == before, f"{url} reached the internal listener"


REDIRECT_TARGETS = [
    "http://127.0.0.1:{t}/live.m3u8",
    "http://127.1:{t}/live.m3u8",
    "http://2130706433:{t}/live.m3u8",
    "http://[::ffff:127.0.0.1]:{t}/live.m3u8",
    "http://localhost:{t}/live.m3u8",
    "http://loop.test:{t}/live.m3u8",
    "http://mixed.test:{t}/live.m3u8",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.0.0.1/",
]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", REDIRECT_TARGETS)
async def test_a_redirect_to_an_internal_address_is_refused(net: Net, target: str, status: int) -> None:
    before = net.connections
    session = create_session(FAST, guard=net.guard())
    try:
        with pytest.raises(LivevaultError) as refused:
            await HttpClient(session, timeout=2).get_text(net.redirect(target.format(t=net.target_port), status))
    finally:
        await session.close()
    assert _code(refused.value) == REFUSED
    assert net.connections == before


async def test_a_redirect_chain_is_checked_at_every_hop(net: Net) -> None:
    before = net.connections
    inner = net.redirect(f"http://127.0.0.1:{net.target_port}/x")
    session = create_session(FAST, guard=net.guard())
    try:
        with pytest.raises(AddressNotAllowed):
            await HttpClient(session, timeout=2).get_text(net.redirect(net.redirect(inner)))
    finally:
        await session.close()
    assert net.connections == before


async def test_a_name_whose_answer_changes_between_lookups_is_refused_at_connect(net: Net) -> None:
    """The check passes on the first (public) answer; the connection uses the second (loopback) one -> refused."""
    before = net.connections
    guard = net.guard()
    url = f"http://rebind.test:{net.target_port}/live.m3u8"
    assert guard.check_url(url) == url
    session = create_session(FAST, guard=guard)
    try:
        with pytest.raises(AddressNotAllowed):
            await HttpClient(session, timeout=2).get_text(url)
    finally:
        await session.close()
    assert net.lookups["rebind.test"] >= 2
    assert net.connections == before


def _playlists(t: int, origin: str) -> dict[str, str]:
    seg = "#EXTINF:1.000,\n"
    head = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
    end = "#EXT-X-ENDLIST\n"
    return {
        "segment-literal": f"{head}{seg}http://127.0.0.1:{t}/s0.ts\n{end}",
        "segment-decimal": f"{head}{seg}http://2130706433:{t}/s0.ts\n{end}",
        "segment-mapped": f"{head}{seg}http://[::ffff:127.0.0.1]:{t}/s0.ts\n{end}",
        "segment-name": f"{head}{seg}http://loop.test:{t}/s0.ts\n{end}",
        "segment-metadata": f"{head}{seg}http://169.254.169.254/latest/meta-data/\n{end}",
        "segment-redirect": f"{head}{seg}{origin}/redirect?to=http%3A%2F%2F127.0.0.1%3A{t}%2Fs0.ts\n{end}",
        "key-literal": f'{head}#EXT-X-KEY:METHOD=AES-128,URI="http://127.0.0.1:{t}/key"\n'
                       f"{seg}{origin}/seg/s0.ts\n{end}",
        "key-name": f'{head}#EXT-X-KEY:METHOD=AES-128,URI="http://loop.test:{t}/key"\n{seg}{origin}/seg/s0.ts\n{end}',
        "init-literal": f'{head}#EXT-X-MAP:URI="http://127.0.0.1:{t}/init.mp4"\n{seg}{origin}/seg/s0.m4s\n{end}',
        "init-localhost": f'{head}#EXT-X-MAP:URI="http://localhost:{t}/init.mp4"\n{seg}{origin}/seg/s0.m4s\n{end}',
        "variant-literal": f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\nhttp://127.0.0.1:{t}/media.m3u8\n",
        "variant-name": f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\nhttp://mixed.test:{t}/media.m3u8\n",
    }


@pytest.mark.parametrize("name", list(_playlists(0, "")))
async def test_playlist_uris_pointing_inside_are_refused(net: Net, tmp_path: Path, name: str) -> None:
    net.playlists.update(_playlists(net.target_port, net.origin("")))
    before = net.connections
    outcome, spool = await record(net.origin(f"/live/{name}.m3u8"), tmp_path / "spool", guard=net.guard())
    assert net.connections == before, f"{name}: the recorder reached the internal listener"
    captured = b"".join(path.read_bytes() for _, path in spool.part_paths())
    assert SECRET_ANSWER not in captured
    assert SECRET_ANSWER.decode() not in (outcome.error_message or "")
    if name.startswith("variant"):
        assert outcome.reason is EndReason.ERROR
        assert outcome.error_code == REFUSED


async def test_a_proxy_at_an_internal_address_is_refused(net: Net) -> None:
    before = net.connections
    session = create_session(FAST, guard=net.guard())
    try:
        for proxy in (f"http://127.0.0.1:{net.target_port}", f"http://loop.test:{net.target_port}",
                      f"http://user:pw@[::1]:{net.target_port}", "http://169.254.169.254:80"):
            with pytest.raises(LivevaultError) as refused:
                await HttpClient(session, proxy=proxy, timeout=2).get_text(net.origin("/live/x.m3u8"))
            assert _code(refused.value) in {"INVALID_PROXY", REFUSED}
            assert "pw" not in str(refused.value)
    finally:
        await session.close()
    assert net.connections == before


def test_a_public_playlist_may_not_lead_to_a_private_address_even_when_private_sources_are_allowed(net: Net) -> None:
    lenient = net.guard(allow_private=True)
    assert lenient.scope_for(f"http://loop.test:{net.target_port}/x.m3u8") is lenient
    strict = lenient.scope_for("http://public.test/live.m3u8")
    assert strict is not lenient
    assert not strict.allow_private
    with pytest.raises(AddressNotAllowed):
        strict.check_url(f"http://127.0.0.1:{net.target_port}/s0.ts")


@pytest.mark.parametrize("text", ["127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "::ffff:127.0.0.1",
                                  "64:ff9b::7f00:1", "::127.0.0.1", "169.254.169.254", "100.64.0.1"])
def test_every_notation_names_a_refused_address(text: str) -> None:
    address, _ = parse_host_address(text)
    assert address is not None
    assert address_refusal(address) is not None


def test_public_addresses_pass() -> None:
    guard = UrlGuard(lookup=lambda host, port: [PUBLIC])
    assert guard.check_url("https://example.test/live.m3u8") == "https://example.test/live.m3u8"
    assert guard.check_url(f"http://{PUBLIC}/x") == f"http://{PUBLIC}/x"
    assert guard.check_url("http://[2606:2800:220:1:248:1893:25c8:1946]/x")


# -- through the API: the job fails with the guard's code and says nothing of what the target answered --


@pytest.fixture
def strict_api(tmp_path: Path, net: Net) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", allow_private_sources=False, http_timeout=2.0)
    with TestClient(create_app(settings, guard=net.guard())) as client:
        client.headers.update(HEADERS)
        yield client


def _wait_done(api: TestClient, recording_id: str, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/recordings/{recording_id}").json()
        if body["status"] in {"failed", "completed", "cancelled"}:
            return dict(body)
        time.sleep(0.1)
    raise AssertionError("recording did not finish")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{t}/live.m3u8", "http://2130706433:{t}/live.m3u8", "http://[::1]:{t}/live.m3u8",
    "http://loop.test:{t}/live.m3u8", "http://169.254.169.254/latest/meta-data/", "http://localhost:{t}/x.flv",
])
def test_the_api_refuses_internal_sources_with_a_clear_code(strict_api: TestClient, net: Net, url: str) -> None:
    before = net.connections
    response = strict_api.post("/recordings", json={"url": url.format(t=net.target_port)})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == REFUSED
    assert net.connections == before


@pytest.mark.parametrize("proxy", ["http://127.0.0.1:6379", "http://169.254.169.254", "http://loop.test:1",
                                   "socks5://1.2.3.4:1080", "http://2130706433:8080"])
def test_the_api_refuses_internal_proxies(strict_api: TestClient, net: Net, proxy: str) -> None:
    response = strict_api.post("/recordings", json={"url": net.origin("/live/x.m3u8"), "options": {"proxy": proxy}})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PROXY"


def test_a_redirect_inside_fails_the_recording_without_revealing_the_answer(strict_api: TestClient, net: Net) -> None:
    before = net.connections
    url = net.redirect(f"http://127.0.0.1:{net.target_port}/live.m3u8", 307)
    response = strict_api.post("/recordings", json={"url": url, "duration": 5})
    assert response.status_code == 202, response.text
    body = _wait_done(strict_api, response.json()["recording_id"])
    assert body["status"] == "failed"
    assert body["error_code"] == REFUSED
    assert SECRET_ANSWER.decode() not in strict_api.get(f"/recordings/{response.json()['recording_id']}").text
    assert net.connections == before


def test_a_rebinding_name_passes_the_check_but_not_the_connection(strict_api: TestClient, net: Net) -> None:
    net.lookups.pop("rebind.test", None)
    before = net.connections
    response = strict_api.post("/recordings", json={"url": f"http://rebind.test:{net.target_port}/live.m3u8"})
    assert response.status_code == 202, response.text
    body = _wait_done(strict_api, response.json()["recording_id"])
    assert body["status"] == "failed"
    assert body["error_code"] == REFUSED
    assert net.connections == before


# -- what yt-dlp and streamlink fetch on their own goes through the guard too --


@pytest.mark.parametrize("form", ["http://127.0.0.1:{t}/", "http://2130706433:{t}/", "http://[::1]:{t}/",
                                  "http://localhost:{t}/", "http://169.254.169.254/latest/"])
def test_streamlink_requests_are_guarded(net: Net, form: str) -> None:
    from streamlink.exceptions import PluginError

    from livevault.sources.base import ResolveRequest
    from livevault.sources.streamlink import StreamlinkSource, map_streamlink_error

    before = net.connections
    session = StreamlinkSource(allow_private=False)._session(ResolveRequest(target="https://example.test/"))
    with pytest.raises(PluginError) as refused:
        session.http.get(form.format(t=net.target_port), timeout=2)
    assert map_streamlink_error(refused.value).code == REFUSED
    assert net.connections == before


@pytest.mark.parametrize("form", ["http://127.0.0.1:{t}/", "http://0x7f.1:{t}/", "http://[::ffff:127.0.0.1]:{t}/",
                                  "http://localhost:{t}/", "http://169.254.169.254/latest/"])
def test_ytdlp_requests_are_guarded(net: Net, form: str) -> None:
    from yt_dlp import YoutubeDL  # type: ignore[import-untyped]

    from livevault.sources.ytdlp import guard_urlopen

    before = net.connections
    with YoutubeDL({"quiet": True, "socket_timeout": 2}) as ydl:
        guard_urlopen(ydl)
        with pytest.raises(AddressNotAllowed):
            ydl.urlopen(form.format(t=net.target_port))
    assert net.connections == before


@pytest.mark.parametrize("form", ["http://127.0.0.1:{t}/live.m3u8", "rtmp://127.0.0.1:{t}/app/key",
                                  "rtsp://localhost:{t}/cam", "srt://[::1]:{t}", "http://loop.test:{t}/x.ts",
                                  "rtmp://2130706433:{t}/app/key"])
async def test_the_ffmpeg_engine_refuses_an_internal_input(net: Net, tmp_path: Path, form: str) -> None:
    from livevault.capture.base import CaptureControl
    from livevault.capture.ffmpeg import FfmpegCapture
    from livevault.capture.spool import Spool
    from livevault.domain.stream import StreamFormat, StreamInfo

    before = net.connections
    engine = FfmpegCapture(FAST, binary="/bin/true", check_target=net.guard().check_target)
    stream = StreamInfo(url=form.format(t=net.target_port), format=StreamFormat.HLS)
    outcome = await engine.run(stream, Spool(tmp_path / "spool"), CaptureControl())
    assert outcome.reason is EndReason.ERROR
    assert outcome.error_code == REFUSED
    assert net.connections == before


async def test_a_failed_fetch_never_repeats_what_the_peer_answered() -> None:
    """Even with private sources allowed, a non-HTTP service's answer (a Redis error line) stays out of errors."""
    import asyncio

    leak = b"-ERR unknown command 'GET', with args beginning with: REDIS-INTERNAL-DATA\r\n"

    async def redis_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(leak)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(redis_like, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    session = create_session(FAST, guard=UrlGuard(allow_private=True))
    try:
        for path in ("/live.m3u8", "/seg.ts"):
            with pytest.raises(LivevaultError) as failed:
                await HttpClient(session, timeout=2).get_text(f"http://127.0.0.1:{port}{path}")
            assert "REDIS-INTERNAL-DATA" not in str(failed.value)
            assert "REDIS-INTERNAL-DATA" not in str(failed.value.details)
    finally:
        await session.close()
        server.close()


@pytest.mark.usefixtures("ffmpeg_binary")  # tests/toolfixtures.py: fails in CI when missing
@pytest.mark.parametrize("name", [n for n in _playlists(0, "") if not n.startswith("variant")])
async def test_what_ffmpeg_follows_goes_through_the_guard(net: Net, tmp_path: Path, name: str) -> None:
    """The ffmpeg engine reads through livevault's relay: playlist, segment, key and init URIs that point inside
    are refused there, and the real ffmpeg never reaches the internal listener."""
    from livevault.capture.base import CaptureControl
    from livevault.capture.ffmpeg import FfmpegCapture
    from livevault.capture.spool import Spool
    from livevault.domain.stream import StreamFormat, StreamInfo

    net.playlists.update(_playlists(net.target_port, net.origin("")))
    before = net.connections
    guard = net.guard()
    session = create_session(FAST, guard=guard)
    try:
        engine = FfmpegCapture(FAST, check_target=guard.check_target, session=session, stop_timeout=2)
        spool = Spool(tmp_path / "spool")
        outcome = await engine.run(StreamInfo(url=net.origin(f"/live/{name}.m3u8"), format=StreamFormat.HLS),
                                   spool, CaptureControl(max_duration=8))
    finally:
        await session.close()
    assert net.connections == before, f"{name}: ffmpeg reached the internal listener"
    captured = b"".join(path.read_bytes() for _, path in spool.part_paths())
    assert SECRET_ANSWER not in captured
    assert SECRET_ANSWER.decode() not in (outcome.error_message or "")
