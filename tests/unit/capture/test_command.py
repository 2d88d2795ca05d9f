"""The command engine with real programs: the streamlink CLI as a template, a fake tiktok-live-recorder that
parses TLR's flags and prints TLR's lines, and scripts that refuse to stop or leave children behind."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import textwrap
import time
import uuid
from functools import partial
from pathlib import Path

import av
import pytest

from livevault.capture._process import ManagedProcess, ProcessResult, ProcessSpec, child_environment, redact_text
from livevault.capture.base import CaptureControl
from livevault.capture.command import (
    CommandCapture,
    RecorderConfig,
    RecorderUnavailable,
    fill_template,
    parse_template,
    plan_for,
    sniff_container,
)
from livevault.capture.spool import Spool
from livevault.domain.capture import EndReason, PartContainer, PartReason
from livevault.domain.stream import StreamFormat, StreamInfo
from livevault.errors import InvalidInput
from livevault.postprocess.remux import remux_parts
from livevault.sources.urls import InvalidProxy, check_proxy_url, validate_source_url
from livevault.testsrc import LiveStream, StreamServer, read_frame_number

STREAMLINK = str(Path(sys.executable).with_name("streamlink"))
ALLOW = partial(validate_source_url, allow_private=True)
FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"

FAKE_TLR = """\
    import argparse, json, os, sys, time, urllib.request
    from pathlib import Path

    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser()
    for flag in ("-url", "-user", "-room_id", "-mode", "-output", "-proxy"):
        parser.add_argument(flag)
    parser.add_argument("-duration", type=int)
    parser.add_argument("-no-update-check", dest="update_check", action="store_false")
    args = parser.parse_args()
    (here / "argv.json").write_text(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
                                                "pythonpath": os.environ.get("PYTHONPATH"), "pid": os.getpid()}))

    def log(mark, msg):
        print(f"[{mark}] {time.strftime('%Y-%m-%d %H:%M:%S')} - {msg}", file=sys.stderr, flush=True)

    scenario = (here / "scenario.txt").read_text().strip()
    if scenario == "offline":
        log("*", "USERNAME: fakeuser")
        log("!", "@fakeuser: The user is not hosting a live stream at the moment.")
        sys.exit(0)
    if scenario == "no-ffmpeg":
        log("!", "FFmpeg binary is not installed")
        sys.exit(1)
    if scenario == "crash":
        print("Traceback (most recent call last):\\n  boom\\nValueError: bad room", file=sys.stderr)
        sys.exit(3)
    if scenario == "silent":
        sys.exit(0)
    log("*", "USERNAME: fakeuser")
    log("*", f"ROOM_ID:  {args.room_id}")
    out = Path(args.output) / f"TK_fakeuser_{time.strftime('%Y.%m.%d_%H-%M-%S')}_flv.mp4"
    log("*", f"Started recording for {args.duration} seconds " if args.duration else "Started recording...")
    log("*", "[PRESS CTRL + C ONCE TO STOP]")
    started = time.time()
    with urllib.request.urlopen(scenario) as resp, open(out, "wb") as fh:
        try:
            while chunk := resp.read(4096):
                fh.write(chunk)
                if args.duration and time.time() - started >= args.duration:
                    break
        except KeyboardInterrupt:
            log("*", "Recording stopped by user.")
    log("*", f"Recording finished: {out}")
"""


def script(directory: Path, name: str, body: str) -> list[str]:
    """A Python program in `directory`; returns the argument list that runs it."""
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def group_members(pgid: int) -> list[tuple[int, str, int]]:
    """(pid, state, parent pid) of every process whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            members.append((int(entry.name), fields[0], int(fields[1])))
    return members


def assert_gone(pid: int) -> None:
    """The program was reaped by us and nothing of its process group still runs."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    deadline = time.monotonic() + 2.0  # a SIGKILLed process needs a moment to die (seen under parallel load)
    while (alive := [(p, state) for p, state, _ in group_members(pid) if state != "Z"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive, f"processes of group {pid} still running: {alive}"
    ours = [p for p, state, parent in group_members(pid) if state == "Z" and parent == os.getpid()]
    assert not ours, f"zombies of ours: {ours}"


def remux_and_count(spool_dir: Path, output: Path) -> list[int]:
    """Finalize the spool's parts into an MP4 and return the frame numbers decoded from it."""
    remux_parts(Spool(spool_dir).part_paths(), output)
    with av.open(str(output)) as container:
        read = [read_frame_number(frame) for frame in container.decode(video=0)]
    # An external program that joined the live edge mid-GOP may leave incomplete first pictures, and one
    # stopped at an arbitrary moment an incomplete last one: the remux keeps what the program wrote (a known
    # weakness). Every picture between them must read.
    while read and read[0] is None:
        read.pop(0)
    while read and read[-1] is None:
        read.pop()
    unreadable = [i for i, number in enumerate(read) if number is None]
    assert not unreadable, f"unreadable frames in the middle of the recording at positions {unreadable}"
    return [number for number in read if number is not None]


def new_stream(server: StreamServer) -> LiveStream:
    return server.stream(f"cmd-{uuid.uuid4().hex[:8]}", segment_duration=1.0)


def tlr_root(tmp_path: Path, scenario: str) -> Path:
    root = tmp_path / "tlr" / "src"
    root.mkdir(parents=True)
    (root / "main.py").write_text(textwrap.dedent(FAKE_TLR))
    (root / "scenario.txt").write_text(scenario)
    return root


def engine(template: list[str] | str = "", *, root: Path | None = None, stop_timeout: float = 2.0) -> CommandCapture:
    text = template if isinstance(template, str) else json.dumps(template)
    return CommandCapture(RecorderConfig(template=text, tlr_root=root, stop_timeout=stop_timeout,
                                         check_url=ALLOW, check_proxy=check_proxy_url))


def tiktok_stream(url: str = "https://pull-flv.example.com/stage/stream-1.flv", **extra: str) -> StreamInfo:
    return StreamInfo(url=url, format=StreamFormat.FLV, extra={"room_id": "7503448765740976902", "user": "fakeuser",
                                                               **extra})


# --- the argument list --------------------------------------------------------------------------


def test_a_template_is_a_json_list_or_a_shell_like_string_never_a_shell() -> None:
    assert parse_template('["rec", "--out", "{output}"]') == ["rec", "--out", "{output}"]
    assert parse_template("rec --name 'a b' {url}") == ["rec", "--name", "a b", "{url}"]
    with pytest.raises(RecorderUnavailable):
        parse_template("  ")
    with pytest.raises(InvalidInput):
        parse_template('["rec", 3]')


def test_placeholders_are_filled_inside_each_argument_and_stay_one_argument() -> None:
    values: dict[str, str | None] = {"url": "https://h/x.m3u8?a=1&b=$(id);rm", "output_dir": "/d/my dir",
                                     "output": "/d/my dir/recording.ts", "duration": "30", "proxy": None}
    argv = fill_template(["rec", "hls://{url}", "-o", "{output}", "--time={duration}", "{title}", "x{output_dir}"],
                         values)
    assert argv == ["rec", "hls://https://h/x.m3u8?a=1&b=$(id);rm", "-o", "/d/my dir/recording.ts", "--time=30",
                    "{title}", "x/d/my dir"]


def test_an_unset_value_drops_its_argument_and_the_flag_before_it() -> None:
    values: dict[str, str | None] = {"url": "https://h/x", "duration": None, "proxy": None, "output": "/o"}
    argv = fill_template(["rec", "--proxy", "{proxy}", "--limit={duration}", "-o", "{output}", "{url}"], values)
    assert argv == ["rec", "-o", "/o", "https://h/x"]


def test_values_cannot_smuggle_flags_and_the_program_takes_no_placeholder() -> None:
    with pytest.raises(InvalidInput):
        fill_template(["rec", "{url}"], {"url": "--exec=evil"})
    with pytest.raises(InvalidInput):
        fill_template(["{url}", "x"], {"url": "https://h/x"})


def test_a_tiktok_stream_runs_tlr_with_its_flags_when_tlr_root_has_main_py(tmp_path: Path) -> None:
    root = tlr_root(tmp_path, "silent")
    config = RecorderConfig(template='["/bin/true"]', tlr_root=root, check_url=ALLOW, check_proxy=check_proxy_url)
    stream = StreamInfo(url="https://cdn/x.flv", format=StreamFormat.FLV, proxy="http://user:pw@proxy:3128",
                        extra={"room_id": "7503448765740976902", "user": "fakeuser"})
    plan = plan_for(config, stream, tmp_path / "out", 60)
    assert plan.mode == "tlr"
    assert plan.argv == (sys.executable, str(root / "main.py"), "-no-update-check", "-room_id", "7503448765740976902",
                         "-output", str(tmp_path / "out"), "-duration", "60", "-proxy", "http://user:pw@proxy:3128")
    assert plan.cwd == root
    assert plan.env_extra == {"PYTHONPATH": str(root)}
    assert "http://user:pw@proxy:3128" in plan.secrets

    by_user = plan_for(config, StreamInfo(url="https://cdn/x.flv", format=StreamFormat.FLV,
                                          extra={"user": "@fake.user_1"}), tmp_path, None)
    assert by_user.argv[3:5] == ("-user", "fake.user_1")
    assert "-duration" not in by_user.argv


def test_without_tlr_a_tiktok_stream_uses_the_template_and_without_both_nothing_runs(tmp_path: Path) -> None:
    config = RecorderConfig(template='["true", "{url}"]', tlr_root=tmp_path / "missing", check_url=ALLOW,
                            check_proxy=check_proxy_url)
    plan = plan_for(config, tiktok_stream(), tmp_path, None)
    assert plan.mode == "template"
    assert plan.argv[1:] == ("https://pull-flv.example.com/stage/stream-1.flv",)
    with pytest.raises(RecorderUnavailable):
        plan_for(RecorderConfig(check_url=ALLOW, check_proxy=check_proxy_url), tiktok_stream(), tmp_path, None)
    with pytest.raises(RecorderUnavailable):
        plan_for(RecorderConfig(template="no-such-recorder-xyz {url}", check_url=ALLOW, check_proxy=check_proxy_url),
                 tiktok_stream(), tmp_path, None)


def test_template_values_pass_the_url_and_proxy_checks(tmp_path: Path) -> None:
    strict = RecorderConfig(template='["true", "{url}", "{proxy}"]',
                            check_url=partial(validate_source_url, allow_private=False), check_proxy=check_proxy_url)
    local = StreamInfo(url="http://127.0.0.1:8080/live.m3u8", format=StreamFormat.HLS)
    with pytest.raises(InvalidInput, match="private"):
        plan_for(strict, local, tmp_path, None)
    relaxed = RecorderConfig(template=strict.template, check_url=ALLOW, check_proxy=check_proxy_url)
    with pytest.raises(InvalidProxy):
        plan_for(relaxed, StreamInfo(url=local.url, format=StreamFormat.HLS, proxy="file:///etc/passwd"), tmp_path,
                 None)


def test_output_lines_are_redacted() -> None:
    line = "GET http://user:hunter22@proxy:3128/x?sign=abcdef&expire=1&token=zzz cookie sessionid_ss=s3cr3t"
    redacted = redact_text(line, ["s3cr3t"])
    assert "hunter22" not in redacted
    assert "abcdef" not in redacted
    assert "zzz" not in redacted
    assert "s3cr3t" not in redacted
    assert "expire=1" in redacted


# --- the spool --------------------------------------------------------------------------------


def test_adopting_a_file_moves_it_into_the_spool_as_an_indexed_part(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.open_part(PartContainer.TS, PartReason.START).append_segment(b"\x47" * 188, sequence=0, duration=1.0)
    produced = tmp_path / "TK_user_flv.mp4"
    produced.write_bytes(FLV_HEADER + b"x" * 1000)

    info = spool.adopt_part(produced, PartContainer.FLV, PartReason.RECONNECT, sequence=1, duration=5.0,
                            started_at=123.0)

    assert not produced.exists()
    assert (info.index, info.path, info.started_at) == (2, "part-0002.flv", 123.0)
    assert (spool.directory / "part-0002.flv").read_bytes() == FLV_HEADER + b"x" * 1000
    again = Spool(tmp_path / "spool")
    assert [p.path for p in again.parts()] == ["part-0001.ts", "part-0002.flv"]
    last = again.segments()[-1]
    assert (last.part, last.sequence, last.bytes, last.offset, last.duration) == (2, 1, 1013, 0, 5.0)
    assert again.bytes_total == 188 + 1013
    assert again.segment_count == 2


def test_adopting_never_overwrites_a_part(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    (spool.directory / "part-0001.mkv").write_bytes(b"keep")
    produced = tmp_path / "out.mkv"
    produced.write_bytes(b"\x1a\x45\xdf\xa3new")
    with pytest.raises(FileExistsError):
        spool.adopt_part(produced, PartContainer.TS, PartReason.START, sequence=0, extension="mkv")
    assert produced.exists()
    assert (spool.directory / "part-0001.mkv").read_bytes() == b"keep"
    assert spool.parts() == []


def test_output_files_are_told_apart_by_their_first_bytes(tmp_path: Path) -> None:
    samples = {"a_flv.mp4": FLV_HEADER, "b.ts": b"\x47" + b"\x00" * 187 + b"\x47",
               "c.mp4": b"\x00\x00\x00\x18ftypisom", "d.mkv": b"\x1a\x45\xdf\xa3\x01", "e.flv": b"??"}
    found = {}
    for name, head in samples.items():
        (tmp_path / name).write_bytes(head + b"\x00" * 300)
        found[name] = sniff_container(tmp_path / name)
    assert found == {"a_flv.mp4": (PartContainer.FLV, "flv"), "b.ts": (PartContainer.TS, "ts"),
                     "c.mp4": (PartContainer.FMP4, "mp4"), "d.mkv": (PartContainer.TS, "mkv"),
                     "e.flv": (PartContainer.FLV, "flv")}


# --- real recorders ---------------------------------------------------------------------------


@pytest.mark.live
async def test_the_streamlink_cli_records_the_test_stream_into_parts_that_remux(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    # Given the streamlink CLI as the configured recorder
    stream = new_stream(stream_server)
    stream.wait_for_segments(2)
    template = [STREAMLINK, "--no-config", "--loglevel", "info", "hls://{url}", "best", "-o", "{output}"]
    spool = Spool(tmp_path / "spool")
    # When it records for five seconds
    outcome = await engine(template).run(StreamInfo(url=stream.playlist_url("hi"), format=StreamFormat.HLS), spool,
                                         CaptureControl(max_duration=5.0))
    # Then its TS file is the recording's part and finalizes into an MP4 that plays without a gap
    assert outcome.reason is EndReason.DURATION, outcome
    parts = Spool(spool.directory).parts()
    assert [(p.path, p.container, p.reason) for p in parts] == [("part-0001.ts", PartContainer.TS, PartReason.START)]
    assert not list((spool.directory / "recorder-output").iterdir())
    frames = remux_and_count(spool.directory, tmp_path / "out.mp4")
    assert len(frames) >= 2 * 24
    assert frames == list(range(frames[0], frames[0] + len(frames)))


@pytest.mark.live
async def test_a_fake_tlr_gets_tlrs_flags_and_its_flv_becomes_a_part(
    tmp_path: Path, stream_server: StreamServer
) -> None:
    stream = new_stream(stream_server)
    root = tlr_root(tmp_path, stream.flv_url)
    spool = Spool(tmp_path / "spool")
    started = time.monotonic()

    outcome = await engine("", root=root).run(tiktok_stream(), spool, CaptureControl(max_duration=3.0))

    assert outcome.reason is EndReason.DURATION, outcome
    assert time.monotonic() - started < 3.0 + 2.0 + 2.0
    received = json.loads((root / "argv.json").read_text())
    output_dir = str(spool.directory / "recorder-output")
    assert received["argv"] == ["-no-update-check", "-room_id", "7503448765740976902", "-output", output_dir,
                                "-duration", "3"]
    assert received["cwd"] == str(root)
    assert received["pythonpath"] == str(root)
    assert_gone(received["pid"])
    (part,) = Spool(spool.directory).parts()
    assert (part.path, part.container) == ("part-0001.flv", PartContainer.FLV)
    frames = remux_and_count(spool.directory, tmp_path / "out.mp4")
    assert len(frames) >= 24
    assert frames == list(range(frames[0], frames[0] + len(frames)))


@pytest.mark.parametrize(("scenario", "code"), [
    ("offline", "LIVE_OFFLINE"),
    ("no-ffmpeg", "FFMPEG_MISSING"),
    ("crash", "RECORDER_EXIT_NONZERO"),
    ("silent", "NOTHING_RECORDED"),
])
async def test_tlrs_messages_and_exit_code_name_the_failure(tmp_path: Path, scenario: str, code: str) -> None:
    root = tlr_root(tmp_path, scenario)
    spool = Spool(tmp_path / "spool")
    outcome = await engine("", root=root).run(tiktok_stream(), spool, CaptureControl(max_duration=30))
    assert (outcome.reason, outcome.error_code) == (EndReason.ERROR, code)
    assert outcome.error_message
    if scenario == "crash":
        assert "code 3" in outcome.error_message
        assert "bad room" in outcome.error_message
    assert spool.parts() == []


async def test_a_recorder_that_cannot_start_or_is_not_configured_is_reported(tmp_path: Path) -> None:
    stream = StreamInfo(url="https://example.com/live.m3u8", format=StreamFormat.HLS)
    missing = await engine("").run(stream, Spool(tmp_path / "a"), CaptureControl())
    assert (missing.reason, missing.error_code) == (EndReason.ERROR, "RECORDER_UNAVAILABLE")
    assert "LIVEVAULT_RECORDER_COMMAND" in (missing.error_message or "")
    bad = await engine(["/bin/sh", "-o", "{output}", "{proxy}"]).run(
        StreamInfo(url=stream.url, format=StreamFormat.HLS, proxy="socks4://x:1"), Spool(tmp_path / "b"),
        CaptureControl())
    assert (bad.reason, bad.error_code) == (EndReason.ERROR, "INVALID_PROXY")


async def test_files_left_by_an_interrupted_run_are_kept_before_the_next_run(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    leftover = spool.directory / "recorder-output" / "recording.ts"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"\x47" + b"\x11" * 187)
    program = script(tmp_path, "rec.py", """\
        import sys
        from pathlib import Path
        Path(sys.argv[1]).write_bytes(b"\\x47" + b"\\x22" * 187)
    """)
    outcome = await engine([*program, "{output}"]).run(
        StreamInfo(url="https://example.com/x.m3u8", format=StreamFormat.HLS), spool, CaptureControl())
    assert outcome.reason is EndReason.END_OF_STREAM
    parts = Spool(spool.directory).parts()
    assert [(p.path, p.reason) for p in parts] == [("part-0001.ts", PartReason.RESUME),
                                                   ("part-0002.ts", PartReason.RESUME)]
    assert (spool.directory / "part-0001.ts").read_bytes()[1:2] == b"\x11"
    assert (spool.directory / "part-0002.ts").read_bytes()[1:2] == b"\x22"


async def test_recorder_lines_reach_the_log_redacted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    program = script(tmp_path, "talk.py", """\
        import sys
        print("using proxy", sys.argv[1], flush=True)
        print("fetching https://cdn/x.flv?sign=deadbeef", file=sys.stderr, flush=True)
        sys.exit(2)
    """)
    caplog.set_level(logging.INFO, logger="livevault.capture._process")
    outcome = await engine([*program, "{proxy}"]).run(
        StreamInfo(url="https://example.com/x.m3u8", format=StreamFormat.HLS, proxy="http://me:pa55word@proxy:3128"),
        Spool(tmp_path / "spool"), CaptureControl())
    assert outcome.error_code == "RECORDER_EXIT_NONZERO"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "using proxy" in logged
    assert "fetching https://cdn/x.flv?sign=***" in logged
    assert "pa55word" not in logged
    assert "deadbeef" not in logged
    assert "pa55word" not in (outcome.error_message or "")


# --- stopping ---------------------------------------------------------------------------------

STUBBORN = """\
    import os, signal, subprocess, sys, time
    if "int" in sys.argv:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "term" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "child" in sys.argv:
        subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                          "time.sleep(60)"])
    print("ready", flush=True)
    if "exit" in sys.argv:
        sys.exit(0)
    while True:
        time.sleep(0.05)
"""


async def run_stubborn(tmp_path: Path, *flags: str, stop: bool = True) -> tuple[float, ProcessResult]:
    """Run the stubborn script; with `stop`, ask it to stop as soon as it says it is ready."""
    control = CaptureControl()

    def on_line(line: str) -> None:
        if stop and line == "ready":
            control.stop.set()

    spec = ProcessSpec(argv=(*script(tmp_path, "stubborn.py", STUBBORN), *flags), label="stubborn",
                       env=child_environment(), on_line=on_line)
    started = time.monotonic()
    result = await ManagedProcess(spec, control, stop_timeout=0.3).run()
    return time.monotonic() - started, result


@pytest.mark.parametrize(("flags", "needed"), [((), None), (("int",), "SIGTERM"), (("int", "term"), "SIGKILL")])
async def test_a_stop_escalates_from_sigint_to_sigterm_to_sigkill(
    tmp_path: Path, flags: tuple[str, ...], needed: str | None
) -> None:
    elapsed, result = await run_stubborn(tmp_path, *flags)
    assert result.stop_requested
    assert result.escalated_to == needed
    assert elapsed < 5
    assert_gone(result.pid)


async def test_children_a_recorder_leaves_behind_are_cleared(tmp_path: Path) -> None:
    _, result = await run_stubborn(tmp_path, "child", "exit", stop=False)
    assert result.returncode == 0
    assert not result.stop_requested
    assert_gone(result.pid)


async def test_stopping_the_engine_stops_the_recorder_and_keeps_its_file(tmp_path: Path) -> None:
    program = script(tmp_path, "rec.py", """\
        import signal, sys, time
        from pathlib import Path
        out = Path(sys.argv[1])
        with out.open("wb") as fh:
            try:
                while True:
                    fh.write(b"\\x47" + b"\\x00" * 187)
                    fh.flush()
                    time.sleep(0.02)
            except KeyboardInterrupt:
                print("stopped by user", flush=True)
    """)
    control = CaptureControl()
    run = asyncio.create_task(engine([*program, "{output}"]).run(
        StreamInfo(url="https://example.com/x.m3u8", format=StreamFormat.HLS), Spool(tmp_path / "spool"), control))
    await asyncio.sleep(1.0)
    control.stop.set()
    outcome = await asyncio.wait_for(run, 10)
    assert outcome.reason is EndReason.STOPPED
    (part,) = Spool(tmp_path / "spool").parts()
    assert (tmp_path / "spool" / part.path).stat().st_size > 188


async def test_cancelling_a_capture_kills_and_reaps_the_recorder(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    program = script(tmp_path, "sleepy.py", f"""\
        import os, signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
    """)
    run = asyncio.create_task(engine(program).run(
        StreamInfo(url="https://example.com/x.m3u8", format=StreamFormat.HLS), Spool(tmp_path / "spool"),
        CaptureControl()))
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.05)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert_gone(int(pid_file.read_text()))
