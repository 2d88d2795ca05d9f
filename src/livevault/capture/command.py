"""The `command` capture engine: an external recorder CLI records, livevault supervises it and keeps its files.

Two ways to run one (seed 001):

* **tiktok-live-recorder** (TLR) when the stream comes from TikTok (`StreamInfo.extra` holds ``room_id`` or
  ``user``, or a live URL as ``url``/``target``) and ``$TLR_ROOT/main.py`` exists:
  ``python main.py -no-update-check -room_id ID | -user NAME | -url URL -output DIR [-duration S]
  [-proxy URL]``, run in ``TLR_ROOT`` with it on ``PYTHONPATH`` (tiktok.md §7).
* **a template** from `LIVEVAULT_RECORDER_COMMAND`: a JSON list of arguments or a shell-like string (split
  with `shlex`, never run by a shell). ``{url} {output_dir} {output} {duration} {proxy}`` are replaced inside
  each argument; unknown ``{...}`` are left alone (recorders have templates of their own). An argument whose
  value is not set (no duration limit, no proxy) is dropped, with the flag right before it if that is a
  literal ``-x``/``--xx``. Values are checked before use: the URL with `validate_source_url`, the proxy
  with `check_proxy_url` (both handed in by the composition root), and no value may start with ``-``.

The recorder runs in its own process group with a minimal environment. Its stdout and stderr lines go to our
log (secrets redacted); the last ones explain a failure. Stop and deadline: SIGINT to the group (TLR then
finishes its file), SIGTERM, SIGKILL, each after `LIVEVAULT_RECORDER_STOP_TIMEOUT`; the recorder is always
reaped and nothing of its group survives. The files it leaves in its output directory (``.mp4 .flv .ts
.mkv``, told apart by their first bytes: TLR's ``*_flv.mp4`` is FLV) become the recording's next spool parts,
in the order they were written, and finalize builds the one MP4 from them as for any capture. A recorder that
leaves no file fails with the code its messages point to (LIVE_OFFLINE, FFMPEG_MISSING, NETWORK_TIMEOUT, ...),
else RECORDER_EXIT_NONZERO.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from livevault.capture._process import ManagedProcess, Markers, ProcessResult, ProcessSpec, child_environment
from livevault.domain.capture import CaptureOutcome, EndReason, PartContainer, PartReason
from livevault.domain.targets import is_room_id, is_user
from livevault.errors import InvalidInput, LivevaultError, RecorderExitNonzero, RecorderUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from livevault.capture.base import CaptureControl
    from livevault.capture.spool import Spool
    from livevault.config import Settings
    from livevault.domain.stream import StreamInfo

log = logging.getLogger(__name__)

OUTPUT_DIR = "recorder-output"
OUTPUT_NAME = "recording.ts"
MEDIA_SUFFIXES = frozenset({".mp4", ".flv", ".ts", ".mkv"})
PLACEHOLDERS = ("url", "output_dir", "output", "duration", "proxy")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_TLR_URL = re.compile(r"^https?://(?:www|vm)\.tiktok\.com/", re.IGNORECASE)
_DEADLINE_GRACE = 2.0  # a recorder told the duration gets this long to stop by itself
RECORDER_MESSAGES: tuple[tuple[str, str], ...] = (
    ("ffmpeg binary is not installed", "FFMPEG_MISSING"),
    ("no such file or directory: 'ffmpeg'", "FFMPEG_MISSING"),
    ("ffmpeg: not found", "FFMPEG_MISSING"),
    ("captcha required or country blocked", "SOURCE_BLOCKED"),
    ("blocked by tiktok waf", "SOURCE_BLOCKED"),
    ("live is private, login required", "LOGIN_REQUIRED"),
    ("account is private", "LOGIN_REQUIRED"),
    ("not hosting a live stream at the moment", "LIVE_OFFLINE"),
    ("has never hosted a live stream", "LIVE_OFFLINE"),
    ("unable to retrieve live streaming url", "LIVE_OFFLINE"),
    ("no longer live", "LIVE_OFFLINE"),
    ("no playable streams found", "LIVE_OFFLINE"),
    ("404 client error", "LIVE_OFFLINE"),
    ("username / roomid not found", "NOT_FOUND"),
    ("connection broken by the server", "NETWORK_TIMEOUT"),
    ("timed out", "NETWORK_TIMEOUT"),
    ("read timeout", "NETWORK_TIMEOUT"),
    ("max retries exceeded", "NETWORK_TIMEOUT"),
    ("failed to establish a new connection", "NETWORK_TIMEOUT"),
    ("connection refused", "NETWORK_TIMEOUT"),
    ("temporary failure in name resolution", "NETWORK_TIMEOUT"),
)


@dataclass(frozen=True, slots=True)
class RecorderPlan:
    """What to run for one recording."""

    argv: tuple[str, ...]
    mode: str
    cwd: Path | None = None
    env_extra: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    told_duration: bool = False


def _refuse(value: str) -> str:
    raise InvalidInput("no URL check is configured for the command engine", details={"value": value[:100]})


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    """The engine's settings; the URL and proxy checks are the sources' own (`validate_source_url`,
    `check_proxy_url`), handed in by the composition root because capture does not import sources."""

    template: str = ""
    tlr_root: Path | None = None
    stop_timeout: float = 10.0
    check_url: Callable[[str], str] = _refuse
    check_proxy: Callable[[str], str] = _refuse
    python: str = sys.executable


def parse_template(template: str) -> list[str]:
    """The argument list of `LIVEVAULT_RECORDER_COMMAND`: a JSON list of strings, or a shlex-split string."""
    text = template.strip()
    if not text:
        raise RecorderUnavailable("no recorder command configured: set LIVEVAULT_RECORDER_COMMAND "
                                  "(or TLR_ROOT for TikTok streams)")
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"LIVEVAULT_RECORDER_COMMAND is not valid JSON: {exc}") from exc
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise InvalidInput("LIVEVAULT_RECORDER_COMMAND as JSON must be a non-empty list of strings")
        return list(argv)
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InvalidInput(f"LIVEVAULT_RECORDER_COMMAND cannot be split into arguments: {exc}") from exc


def fill_template(template: list[str], values: dict[str, str | None]) -> list[str]:
    """Replace placeholders inside each argument; drop arguments whose value is unset (and their flag)."""
    if _PLACEHOLDER.search(template[0]):
        raise InvalidInput("the recorder program (first argument) may not contain a placeholder")
    for name, value in values.items():
        if value is not None and (value.startswith("-") or "\0" in value):
            raise InvalidInput(f"the value for {{{name}}} may not start with '-' or contain NUL")
    argv: list[str] = []
    literal_flag = False
    for arg in template:
        names = _PLACEHOLDER.findall(arg)
        if any(values.get(name) is None for name in names):
            if literal_flag:
                argv.pop()
            literal_flag = False
            continue
        argv.append(_PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), arg))
        literal_flag = not names and arg.startswith("-") and len(argv) > 1
    return argv


def tlr_argv(config: RecorderConfig, stream: StreamInfo, output_dir: Path, duration: int | None) -> list[str]:
    """tiktok-live-recorder's flags (tiktok.md §7) for a TikTok stream; `-no-update-check` always."""
    assert config.tlr_root is not None
    extra = stream.extra
    room_id, user = str(extra.get("room_id") or ""), str(extra.get("user") or "").lstrip("@")
    argv = [config.python, str(config.tlr_root / "main.py"), "-no-update-check"]
    if is_room_id(room_id):
        argv += ["-room_id", room_id]
    elif user and is_user(user):
        argv += ["-user", user]
    elif _TLR_URL.match(url := str(extra.get("url") or extra.get("target") or "")):
        argv += ["-url", config.check_url(url)]
    else:
        raise InvalidInput("the TikTok stream names no valid room id, user or live URL for tiktok-live-recorder")
    argv += ["-output", str(output_dir)]
    if duration is not None:
        argv += ["-duration", str(duration)]
    if stream.proxy:
        argv += ["-proxy", config.check_proxy(stream.proxy)]
    return argv


def plan_for(config: RecorderConfig, stream: StreamInfo, output_dir: Path, duration: int | None) -> RecorderPlan:
    """TLR for TikTok streams when it is installed, else the configured template (blocking: DNS checks)."""
    secrets = (stream.proxy,) if stream.proxy else ()
    tiktok = bool(stream.extra.get("room_id") or stream.extra.get("user"))
    if tiktok and config.tlr_root is not None and (config.tlr_root / "main.py").is_file():
        root = str(config.tlr_root)
        return RecorderPlan(tuple(tlr_argv(config, stream, output_dir, duration)), "tlr", cwd=config.tlr_root,
                            env_extra={"PYTHONPATH": root}, secrets=secrets, told_duration=duration is not None)
    template = parse_template(config.template)
    program = shutil.which(template[0])
    if program is None:
        raise RecorderUnavailable(f"the recorder program {template[0]!r} was not found")
    values: dict[str, str | None] = {
        "url": config.check_url(stream.url),
        "output_dir": str(output_dir),
        "output": str(output_dir / OUTPUT_NAME),
        "duration": str(duration) if duration is not None else None,
        "proxy": config.check_proxy(stream.proxy) if stream.proxy else None,
    }
    argv = fill_template([program, *template[1:]], values)
    told = duration is not None and any("{duration}" in arg for arg in template)
    return RecorderPlan(tuple(argv), "template", secrets=secrets, told_duration=told)


def sniff_container(path: Path) -> tuple[PartContainer, str] | None:
    """(container, file extension) of a recorder's output file, from its first bytes, else its suffix."""
    with path.open("rb") as fh:
        head = fh.read(16)
        fh.seek(188)
        second_sync = fh.read(1)
    if head.startswith(b"FLV"):
        return PartContainer.FLV, "flv"
    if head[4:8] in {b"ftyp", b"moov", b"mdat", b"free", b"styp", b"moof", b"wide"}:
        return PartContainer.FMP4, "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return PartContainer.TS, "mkv"  # Matroska: finalize opens a part by probing when the hint does not fit
    if head[:1] == b"\x47" and second_sync in {b"", b"\x47"}:
        return PartContainer.TS, "ts"
    by_suffix = {".flv": (PartContainer.FLV, "flv"), ".mp4": (PartContainer.FMP4, "mp4"),
                 ".ts": (PartContainer.TS, "ts"), ".mkv": (PartContainer.TS, "mkv")}
    return by_suffix.get(path.suffix.lower())


def produced_files(output_dir: Path) -> list[Path]:
    """Media files a recorder left, oldest first (non-empty, finished names only)."""
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES]
    return sorted((p for p in found if p.stat().st_size > 0), key=lambda p: (p.stat().st_mtime, p.name))


def adopt_outputs(spool: Spool, output_dir: Path, reason: PartReason, since: float) -> list[str]:
    """Move the recorder's files into the spool as parts; returns their part paths."""
    adopted: list[str] = []
    previous = since
    sequence = max((s.sequence for s in spool.segments()), default=-1) + 1
    for path in produced_files(output_dir):
        kind = sniff_container(path)
        if kind is None:
            log.warning("recorder output %s is not a media file livevault knows; left in place", path.name)
            continue
        mtime = path.stat().st_mtime
        info = spool.adopt_part(path, kind[0], reason, sequence=sequence, duration=max(0.0, mtime - previous),
                                started_at=min(previous, mtime), extension=kind[1])
        log.info("recorder output %s kept as %s", path.name, info.path)
        adopted.append(info.path)
        sequence += 1
        previous = mtime
        reason = PartReason.RECONNECT if reason is PartReason.START else reason
    return adopted


class CommandCapture:
    """The CaptureEngine named `command`."""

    def __init__(self, config: RecorderConfig) -> None:
        self._config = config

    @classmethod
    def from_settings(cls, settings: Settings, *, check_url: Callable[[str], str],
                      check_proxy: Callable[[str], str]) -> CommandCapture:
        return cls(RecorderConfig(template=settings.recorder_command, tlr_root=settings.tlr_root,
                                  stop_timeout=settings.recorder_stop_timeout, check_url=check_url,
                                  check_proxy=check_proxy))

    async def run(self, stream: StreamInfo, spool: Spool, control: CaptureControl) -> CaptureOutcome:
        output_dir = spool.directory / OUTPUT_DIR
        output_dir.mkdir(parents=True, exist_ok=True)
        before = len(spool.parts())
        # files a run that did not finish (livevault restarted) left behind come first
        await asyncio.to_thread(adopt_outputs, spool, output_dir, PartReason.RESUME, time.time())
        remaining = control.remaining()
        duration = None if remaining is None else max(1, math.ceil(remaining))
        try:
            plan = await asyncio.to_thread(plan_for, self._config, stream, output_dir, duration)
        except LivevaultError as exc:
            return CaptureOutcome(EndReason.ERROR, exc.code, exc.message)
        markers = Markers(RECORDER_MESSAGES)
        spec = ProcessSpec(
            argv=plan.argv, label=f"recorder[{plan.mode}]", cwd=plan.cwd, env=child_environment(plan.env_extra),
            secrets=plan.secrets, on_line=markers.see, deadline_grace=_DEADLINE_GRACE if plan.told_duration else 0.0,
        )
        started = time.time()
        try:
            result = await ManagedProcess(spec, control, stop_timeout=self._config.stop_timeout).run()
        except OSError as exc:
            return CaptureOutcome(EndReason.ERROR, RecorderUnavailable.code, f"cannot start the recorder: {exc}")
        finally:
            reason = PartReason.RESUME if len(spool.parts()) > 0 else PartReason.START
            adopted = await asyncio.to_thread(adopt_outputs, spool, output_dir, reason, started)
        return _outcome(result, bool(adopted) or len(spool.parts()) > before, markers, control)


def _outcome(result: ProcessResult, produced: bool, markers: Markers, control: CaptureControl) -> CaptureOutcome:
    """Why the capture ended, from how the recorder ended and what it printed."""
    stopped = result.stop_requested or (control.should_stop() and produced)
    if stopped and (produced or markers.code is None):
        return CaptureOutcome(EndReason.STOPPED if control.stop.is_set() else EndReason.DURATION)
    detail = markers.line or result.last_lines() or "no output"
    if produced:
        if result.returncode == 0 or markers.code == "LIVE_OFFLINE":
            return CaptureOutcome(EndReason.END_OF_STREAM)
        message = f"the recorder exited with code {result.returncode}: {detail}"
        return CaptureOutcome(EndReason.ERROR, markers.code or RecorderExitNonzero.code, message[:1000])
    if markers.code:
        return CaptureOutcome(EndReason.ERROR, markers.code, f"the recorder reported: {detail}"[:1000])
    if result.returncode != 0:
        message = f"the recorder exited with code {result.returncode}: {detail}"
        return CaptureOutcome(EndReason.ERROR, "RECORDER_EXIT_NONZERO", message[:1000])
    return CaptureOutcome(EndReason.ERROR, "NOTHING_RECORDED",
                          f"the recorder exited without leaving a recording: {detail}"[:1000])
