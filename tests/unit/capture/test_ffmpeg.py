"""The ffmpeg engine: a missing binary is a clear FFMPEG_MISSING, the command is a safe argument list, and
ffmpeg's MPEG-TS on stdout becomes an indexed spool part (with a stand-in program here, and with the real
ffmpeg wherever one is installed)."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from livevault.capture.base import CaptureControl, CaptureOptions
from livevault.capture.ffmpeg import PROTOCOL_WHITELIST, FfmpegCapture
from livevault.capture.spool import Spool
from livevault.domain.capture import EndReason, PartContainer, PartReason
from livevault.domain.stream import StreamFormat, StreamInfo
from livevault.errors import InvalidInput
from livevault.testsrc import LiveStream, StreamServer
from tests.unit.capture.test_command import assert_gone, remux_and_count

OPTIONS = CaptureOptions(user_agent="livevault-test/1", stall_timeout=4.0, progressive_index_interval=0.25)

STAND_IN = """\
    #!{python}
    # Behaves like `ffmpeg ... -i URL -c copy -f mpegts pipe:1` for an MPEG-TS URL: copies it to stdout,
    # stops cleanly on "q" from stdin, and says "Server returned 404 Not Found" like ffmpeg does.
    import json, os, sys, threading, urllib.error, urllib.request
    from pathlib import Path

    here = Path(__file__).resolve().parent
    argv = sys.argv[1:]
    (here / "argv.json").write_text(json.dumps({{"argv": argv, "pid": os.getpid()}}))
    quit = threading.Event()

    def watch_stdin():
        if sys.stdin.buffer.read(1) == b"q":
            (here / "quit").write_text("q")
            quit.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        body = urllib.request.urlopen(argv[argv.index("-i") + 1])
    except urllib.error.HTTPError as exc:
        print(f"[http @ 0x55d1] HTTP error {{exc.code}} {{exc.reason}}", file=sys.stderr)
        print(f"{{argv[argv.index('-i') + 1]}}: Server returned {{exc.code}} {{exc.reason}}", file=sys.stderr)
        sys.exit(1)
    while not quit.is_set() and (chunk := body.read(188 * 20)):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
"""


def stand_in(tmp_path: Path) -> str:
    path = tmp_path / "ffmpeg"
    path.write_text(textwrap.dedent(STAND_IN.format(python=sys.executable)))
    path.chmod(0o755)
    return str(path)


def new_stream(server: StreamServer) -> LiveStream:
    return server.stream(f"ff-{uuid.uuid4().hex[:8]}", segment_duration=1.0)


async def test_without_the_binary_the_capture_ends_with_ffmpeg_missing(tmp_path: Path) -> None:
    engine = FfmpegCapture(OPTIONS, binary="no-such-ffmpeg-for-livevault")
    spool = Spool(tmp_path / "spool")
    outcome = await engine.run(StreamInfo(url="https://example.com/live.m3u8", format=StreamFormat.HLS), spool,
                               CaptureControl())
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "FFMPEG_MISSING")
    assert "LIVEVAULT_FFMPEG" in (outcome.error_message or "")
    assert spool.parts() == []


def test_the_command_is_an_argument_list_with_headers_proxy_and_a_protocol_whitelist() -> None:
    stream = StreamInfo(url="https://cdn.example.com/live.m3u8?sign=abc", format=StreamFormat.HLS,
                        headers={"User-Agent": "UA/2", "Referer": "https://example.com/", "Cookie": "a=b"},
                        proxy="http://proxy:3128")
    argv = FfmpegCapture(OPTIONS).command("/usr/bin/ffmpeg", stream)
    assert argv[0] == "/usr/bin/ffmpeg"
    assert argv[argv.index("-protocol_whitelist") + 1] == PROTOCOL_WHITELIST
    assert "file" not in PROTOCOL_WHITELIST.split(",")
    assert argv[argv.index("-user_agent") + 1] == "UA/2"
    assert argv[argv.index("-headers") + 1] == "Referer: https://example.com/\r\nCookie: a=b\r\n"
    assert "-http_proxy" not in argv
    assert not any("proxy:3128" in arg for arg in argv), "the proxy never goes on the command line"
    assert FfmpegCapture.environment(stream)["http_proxy"] == "http://proxy:3128"
    assert argv[argv.index("-rw_timeout") + 1] == "4000000"
    assert argv[-7:] == ["-i", stream.url, "-c", "copy", "-f", "mpegts", "pipe:1"]
    rtmp = FfmpegCapture(OPTIONS).command("ffmpeg", StreamInfo(url="rtmp://live.example.com/app/key",
                                                               format=StreamFormat.FLV))
    assert "-headers" not in rtmp
    assert "-user_agent" not in rtmp


@pytest.mark.parametrize(("url", "headers"), [
    ("file:///etc/passwd", {}),
    ("-i /etc/passwd", {}),
    ("concat:https://a|https://b", {}),
    ("https://cdn.example.com/x.m3u8", {"X-Evil": "1\r\nHost: other"}),
    ("https://cdn.example.com/x.m3u8", {"Bad Name": "1"}),
])
def test_urls_and_headers_that_could_inject_are_refused(url: str, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        FfmpegCapture(OPTIONS).command("ffmpeg", StreamInfo(url=url, format=StreamFormat.HLS, headers=headers))


async def test_a_refused_url_ends_the_capture_without_running_anything(tmp_path: Path) -> None:
    binary = stand_in(tmp_path)
    outcome = await FfmpegCapture(OPTIONS, binary=binary).run(
        StreamInfo(url="file:///etc/passwd", format=StreamFormat.TS), Spool(tmp_path / "spool"), CaptureControl())
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "VALIDATION_ERROR")
    assert not (tmp_path / "argv.json").exists()


@pytest.mark.live
async def test_ffmpegs_stdout_becomes_an_indexed_ts_part_and_q_stops_it(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server)
    binary = stand_in(tmp_path)
    spool = Spool(tmp_path / "spool")

    outcome = await FfmpegCapture(OPTIONS, binary=binary, stop_timeout=2).run(
        StreamInfo(url=stream.ts_url, format=StreamFormat.TS), spool, CaptureControl(max_duration=3.0))

    assert outcome.reason is EndReason.DURATION
    assert (tmp_path / "quit").read_text() == "q", "the graceful stop is q on stdin"
    received = json.loads((tmp_path / "argv.json").read_text())
    assert received["argv"][-7:] == ["-i", stream.ts_url, "-c", "copy", "-f", "mpegts", "pipe:1"]
    assert_gone(received["pid"])
    again = Spool(spool.directory)
    assert [(p.path, p.container, p.reason) for p in again.parts()] == [
        ("part-0001.ts", PartContainer.TS, PartReason.START)]
    segments = again.segments()
    assert len(segments) >= 2
    assert sum(s.bytes for s in segments) == (spool.directory / "part-0001.ts").stat().st_size
    frames = remux_and_count(spool.directory, tmp_path / "out.mp4")
    assert len(frames) >= 24
    assert frames == list(range(frames[0], frames[0] + len(frames)))


async def test_ffmpegs_error_message_names_the_failure(tmp_path: Path, stream_server: StreamServer) -> None:
    binary = stand_in(tmp_path)
    spool = Spool(tmp_path / "spool")
    outcome = await FfmpegCapture(OPTIONS, binary=binary).run(
        StreamInfo(url=f"{stream_server.base_url}/nothing/here.ts", format=StreamFormat.TS), spool, CaptureControl())
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "LIVE_OFFLINE")
    assert "404" in (outcome.error_message or "")
    assert spool.parts() == []


# --- the real ffmpeg ---------------------------------------------------------------------------

needs_ffmpeg = pytest.mark.usefixtures("ffmpeg_binary")  # tests/toolfixtures.py: fails in CI when missing


@needs_ffmpeg
@pytest.mark.live
async def test_the_real_ffmpeg_records_live_hls_into_a_part_that_remuxes(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server)
    spool = Spool(tmp_path / "spool")
    outcome = await FfmpegCapture(OPTIONS, stop_timeout=3).run(
        StreamInfo(url=stream.master_url, format=StreamFormat.HLS), spool, CaptureControl(max_duration=4.0))
    assert outcome.reason is EndReason.DURATION, outcome
    assert [p.container for p in Spool(spool.directory).parts()] == [PartContainer.TS]
    frames = remux_and_count(spool.directory, tmp_path / "out.mp4")
    assert len(frames) >= 2 * 24
    assert frames == list(range(frames[0], frames[0] + len(frames)))


@needs_ffmpeg
async def test_the_real_ffmpeg_reports_an_offline_stream(tmp_path: Path, stream_server: StreamServer) -> None:
    outcome = await FfmpegCapture(OPTIONS).run(
        StreamInfo(url=f"{stream_server.base_url}/nothing/here.m3u8", format=StreamFormat.HLS),
        Spool(tmp_path / "spool"), CaptureControl(max_duration=20))
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "LIVE_OFFLINE")


@needs_ffmpeg
@pytest.mark.live
async def test_through_the_relay_ffmpeg_gets_no_url_query_header_or_cookie_and_opens_nothing_itself(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    """The relay fetches every playlist and segment for ffmpeg, with the stream's headers; ffmpeg's command
    line names only the relay, and its whitelist leaves it plain http (to the relay) and tcp."""
    import asyncio

    from livevault.capture.http import create_session
    from livevault.net.guard import UrlGuard
    from tests.integration.test_secrets import _child_command_lines

    stream = new_stream(stream_server)
    spool = Spool(tmp_path / "spool")
    session = create_session(OPTIONS, guard=UrlGuard(allow_private=True))
    secret_headers = {"Cookie": "sessionid=COOKIE-RELAY-1", "Authorization": "Bearer TOKEN-RELAY-2"}
    commands: list[str] = []
    try:
        run = asyncio.create_task(FfmpegCapture(OPTIONS, stop_timeout=3, session=session).run(
            StreamInfo(url=f"{stream.master_url}?sig=SIGNED-RELAY-3", format=StreamFormat.HLS,
                       headers=secret_headers), spool, CaptureControl(max_duration=4.0)))
        while not run.done():  # the command line as `ps` shows it, read while ffmpeg runs
            commands += [c for c in await asyncio.to_thread(_child_command_lines) if "ffmpeg" in c]
            await asyncio.sleep(0.1)
        outcome = run.result()
    finally:
        await session.close()
    assert outcome.reason is EndReason.DURATION, outcome
    frames = remux_and_count(spool.directory, tmp_path / "out.mp4")
    assert len(frames) >= 2 * 24
    assert commands, "ffmpeg never ran"
    for argv in commands:
        for secret in ("COOKIE-RELAY-1", "TOKEN-RELAY-2", "SIGNED-RELAY-3", stream_server.base_url.split("//")[1]):
            assert secret not in argv, argv
        assert " -protocol_whitelist http,tcp " in argv
        assert " -i http://livevault-relay.invalid/o1/" in argv


@needs_ffmpeg
async def test_through_the_relay_an_offline_stream_keeps_its_code(tmp_path: Path, stream_server: StreamServer) -> None:
    from livevault.capture.http import create_session
    from livevault.net.guard import UrlGuard

    session = create_session(OPTIONS, guard=UrlGuard(allow_private=True))
    try:
        outcome = await FfmpegCapture(OPTIONS, session=session).run(
            StreamInfo(url=f"{stream_server.base_url}/nothing/here.m3u8", format=StreamFormat.HLS),
            Spool(tmp_path / "spool"), CaptureControl(max_duration=20))
    finally:
        await session.close()
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, "STREAM_ENDED")
