"""An external program run for a capture: its own process group, its output lines in our log (secrets
redacted), a graceful stop that escalates, and never a zombie or a straggler left behind.

The program starts a new session (`start_new_session=True`), so its process group holds it and every child
it spawns; signals go to the whole group. Stopping is: the graceful request (SIGINT to the group, or ``q`` on
ffmpeg's stdin), `stop_timeout` seconds, SIGTERM, `stop_timeout` seconds, SIGKILL. The program is always
waited for (reaped), and whatever is left in its group once it has exited gets SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from livevault.capture.base import CaptureControl

log = logging.getLogger(__name__)

TAIL_LINES = 20
MAX_LINE = 2000
_READ_SIZE = 64 * 1024
_STRAGGLER_GRACE = 1.0
_DRAIN_TIMEOUT = 5.0
_POLL_INTERVAL = 0.05
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
             "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
_SECRET_PARAMS = re.compile(
    r"(?P<key>[?&;](?:token|sign|signature|sig|key|auth|access_token|password|passwd|session(?:id)?\w*|cookie)=)"
    r"[^&\s\"']+",
    re.IGNORECASE,
)


def redact_text(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with credentials in URLs, secret-looking query values and the given secret strings replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _SECRET_PARAMS.sub(lambda m: f"{m.group('key')}***", text)


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A small environment for a child: locale, paths, CA and proxy settings; none of livevault's secrets."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    argv: tuple[str, ...]
    label: str
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    secrets: tuple[str, ...] = ()
    quit_on_stdin: bytes | None = None
    """Sent on stdin as the graceful stop (ffmpeg: ``q``); without it the graceful stop is SIGINT."""
    on_stdout: Callable[[bytes], None] | None = None
    """Receives stdout as raw bytes (media on a pipe); without it stdout is read as log lines."""
    on_line: Callable[[str], None] | None = None
    """Sees every (redacted) output line, for recognising known messages."""
    deadline_grace: float = 0.0
    """Extra seconds past the capture's deadline before the stop begins (the program stops itself first)."""


@dataclass(slots=True)
class ProcessResult:
    returncode: int
    pid: int
    started: float
    ended: float
    stop_requested: bool = False
    """We asked the program to stop (stop event or deadline)."""
    escalated_to: str | None = None
    """The strongest signal it took: SIGTERM or SIGKILL, or None when it stopped at the graceful request."""
    tail: list[str] = field(default_factory=list)

    def last_lines(self, count: int = 5) -> str:
        return " | ".join(self.tail[-count:])


class _Lines:
    """Splits a byte stream into lines (on \\n and \\r), logs them redacted and keeps the last few."""

    def __init__(self, spec: ProcessSpec, tail: deque[str], stream: str) -> None:
        self._spec, self._tail, self._stream = spec, tail, stream
        self._buffer = b""

    def feed(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = re.split(rb"\r\n|\r|\n", self._buffer)
        if len(self._buffer) > MAX_LINE:
            lines.append(self._buffer)
            self._buffer = b""
        for raw in lines:
            self._emit(raw)

    def close(self) -> None:
        if self._buffer:
            self._emit(self._buffer)
            self._buffer = b""

    def _emit(self, raw: bytes) -> None:
        line = redact_text(raw.decode("utf-8", "replace").strip(), self._spec.secrets)[:MAX_LINE]
        if not line:
            return
        self._tail.append(line)
        log.info("%s %s: %s", self._spec.label, self._stream, line)
        if self._spec.on_line is not None:
            self._spec.on_line(line)


async def _pump(reader: asyncio.StreamReader | None, sink: Callable[[bytes], None]) -> None:
    if reader is None:
        return
    while data := await reader.read(_READ_SIZE):
        sink(data)


async def _exit_of(proc: asyncio.subprocess.Process) -> int:
    """The exit code once the program has exited (and was reaped). `Process.wait()` is not used for this: it
    also waits for the output pipes to close, which a child the program left behind can hold open."""
    while proc.returncode is None:  # noqa: ASYNC110 - the exit has no event we can await
        await asyncio.sleep(_POLL_INTERVAL)
    return proc.returncode


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class ManagedProcess:
    """One run of an external program under a CaptureControl."""

    def __init__(self, spec: ProcessSpec, control: CaptureControl, *, stop_timeout: float) -> None:
        self._spec = spec
        self._control = control
        self._stop_timeout = stop_timeout
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._proc: asyncio.subprocess.Process | None = None

    async def run(self) -> ProcessResult:
        """Start the program and wait until it exits or has been stopped; raises OSError if it cannot start."""
        spec = self._spec
        proc = await asyncio.create_subprocess_exec(
            *spec.argv, cwd=spec.cwd, env=dict(spec.env) if spec.env is not None else None,
            stdin=asyncio.subprocess.PIPE if spec.quit_on_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        self._proc = proc
        result = ProcessResult(returncode=-1, pid=proc.pid, started=time.monotonic(), ended=0.0)
        log.info("%s started (pid %d)", spec.label, proc.pid)
        err_lines = _Lines(spec, self._tail, "stderr")
        out_lines = _Lines(spec, self._tail, "stdout")
        readers = [asyncio.create_task(_pump(proc.stdout, spec.on_stdout or out_lines.feed)),
                   asyncio.create_task(_pump(proc.stderr, err_lines.feed))]
        try:
            await self._supervise(proc, result, readers[0])
        finally:
            await self._finish(proc, result, readers)
            err_lines.close()
            out_lines.close()
        result.tail = list(self._tail)
        failed = readers[0].exception() if readers[0].done() and not readers[0].cancelled() else None
        if failed is not None:
            raise failed  # the stdout sink failed (disk full): the caller reports it
        return result

    async def _supervise(self, proc: asyncio.subprocess.Process, result: ProcessResult,
                         stdout_reader: asyncio.Task[None]) -> None:
        exited = asyncio.create_task(_exit_of(proc))
        stop = asyncio.create_task(self._control.stop.wait())
        watched = {exited, stop} | ({stdout_reader} if self._spec.on_stdout else set())
        try:
            while not exited.done():
                remaining = self._control.remaining()
                timeout = None if remaining is None else remaining + self._spec.deadline_grace
                done, _ = await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if exited in done:
                    break
                if stdout_reader in done and stdout_reader.exception() is None:
                    watched.discard(stdout_reader)  # stdout closed: wait for the exit itself
                    continue
                result.stop_requested = True
                result.escalated_to = await self.stop()
                break
        finally:
            for task in (stop, exited):
                task.cancel()
            await asyncio.gather(stop, exited, return_exceptions=True)

    async def stop(self) -> str | None:
        """The graceful request, then SIGTERM, then SIGKILL; returns the strongest signal that was needed."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return None
        await self._graceful(proc)
        if await self._exited_within(proc, self._stop_timeout):
            return None
        log.warning("%s ignored the stop request; sending SIGTERM", self._spec.label)
        _signal_group(proc.pid, signal.SIGTERM)
        if await self._exited_within(proc, self._stop_timeout):
            return "SIGTERM"
        log.warning("%s ignored SIGTERM; sending SIGKILL", self._spec.label)
        _signal_group(proc.pid, signal.SIGKILL)
        await _exit_of(proc)
        return "SIGKILL"

    async def _graceful(self, proc: asyncio.subprocess.Process) -> None:
        quit_bytes = self._spec.quit_on_stdin
        if quit_bytes and proc.stdin is not None:
            try:
                proc.stdin.write(quit_bytes)
                await proc.stdin.drain()
                proc.stdin.close()
                return
            except (BrokenPipeError, ConnectionResetError):
                pass
        _signal_group(proc.pid, signal.SIGINT)

    @staticmethod
    async def _exited_within(proc: asyncio.subprocess.Process, seconds: float) -> bool:
        try:
            await asyncio.wait_for(_exit_of(proc), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def _finish(self, proc: asyncio.subprocess.Process, result: ProcessResult,
                      readers: list[asyncio.Task[None]]) -> None:
        """Reap the program (killing it if we got here by cancellation), clear its group, drain its pipes."""
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGKILL)
        result.returncode = await _exit_of(proc)
        result.ended = time.monotonic()
        if _signal_group(proc.pid, signal.SIGTERM):  # children of the program still in its group
            log.warning("%s left processes behind; terminating its process group", self._spec.label)
            await asyncio.sleep(_STRAGGLER_GRACE)
            _signal_group(proc.pid, signal.SIGKILL)
        try:  # the pipes close when the last process holding them is gone
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=_DRAIN_TIMEOUT)
        except TimeoutError:
            log.warning("%s: a process outside its group still holds its output; closing the pipes",
                        self._spec.label)
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        _, pending = await asyncio.wait(readers, timeout=_DRAIN_TIMEOUT)
        for task in pending:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        log.info("%s exited with code %s", self._spec.label, result.returncode,
                 extra={"returncode": result.returncode, "program": self._spec.label})


class Markers:
    """Remembers which known messages a program printed; the first entry of the table that was seen wins."""

    def __init__(self, table: Sequence[tuple[str, str]]) -> None:
        self._table = [(needle.lower(), code) for needle, code in table]
        self._seen: dict[int, str] = {}

    def see(self, line: str) -> None:
        lowered = line.lower()
        for rank, (needle, _code) in enumerate(self._table):
            if rank not in self._seen and needle in lowered:
                self._seen[rank] = line

    @property
    def code(self) -> str | None:
        return self._table[min(self._seen)][1] if self._seen else None

    @property
    def line(self) -> str | None:
        return self._seen[min(self._seen)] if self._seen else None
