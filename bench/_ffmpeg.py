"""The ffmpeg half: one ``ffmpeg -i URL -c copy`` process per stream (the baseline livevault is compared to),
then, as each capture exits, ``ffmpeg -i out.ts -c copy -movflags +faststart out.mp4`` for a playable MP4
(at most one remux per CPU at a time, like livevault's finalize threads, which are fewer).

Debian's ffmpeg is installed here when it is missing; livevault itself never needs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from _procfs import Sampler, read_stat, rollup

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

def ensure_ffmpeg() -> tuple[str | None, str]:
    """The ffmpeg binary (installing Debian's package if needed) and what happened, or (None, why not)."""
    found = shutil.which("ffmpeg")
    if found:
        return found, "found on PATH"
    apt = shutil.which("apt-get")
    if apt is None:
        return None, "ffmpeg is not on PATH and there is no apt-get to install it"
    if os.geteuid() != 0:
        return None, "ffmpeg is not on PATH and installing it needs root (apt-get install -y ffmpeg)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in ([apt, "update"], [apt, "install", "-y", "ffmpeg"]):
        print(f"  $ {' '.join(step)}", flush=True)
        started = time.monotonic()
        done = subprocess.run(step, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        tail = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()][-3:]
        for line in tail:
            print(f"    {line}")
        print(f"    (exit {done.returncode} after {time.monotonic() - started:.0f} s)", flush=True)
        if done.returncode != 0:
            return None, f"`{' '.join(step)}` failed with exit code {done.returncode}"
    found = shutil.which("ffmpeg")
    if found is None:
        return None, "apt-get install ffmpeg succeeded but ffmpeg is still not on PATH"
    return found, "installed with apt-get install -y ffmpeg"


def ffmpeg_version(binary: str) -> str:
    done = subprocess.run([binary, "-version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


@dataclass(slots=True)
class FfmpegRun:
    name: str
    url: str
    output: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # wall clock at spawn
    ended_at: float | None = None
    returncode: int | None = None
    cpu: float = 0.0  # user + system from wait4
    user: float = 0.0
    max_rss: int = 0  # bytes, ru_maxrss
    reaper: threading.Thread | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # the remux to MP4 that follows the capture
    mp4: Path | None = None
    remux_started_at: float | None = None
    remux_ended_at: float | None = None
    remux_returncode: int | None = None
    remux_cpu: float = 0.0
    remux_max_rss: int = 0


def _reap(run: FfmpegRun, then: Callable[[FfmpegRun], None] | None = None) -> None:
    assert run.proc is not None
    _pid, status, usage = os.wait4(run.proc.pid, 0)
    run.ended_at = time.time()
    run.cpu = usage.ru_utime + usage.ru_stime
    run.user = usage.ru_utime
    run.max_rss = usage.ru_maxrss * 1024
    run.returncode = os.waitstatus_to_exitcode(status)
    run.proc.returncode = run.returncode  # reaped here; Popen must not wait for it again
    if then is not None:
        then(run)  # in this thread: PDEATHSIG follows the spawning thread, which waits for its child


class FfmpegFleet:
    """N ffmpeg processes, their exact CPU (wait4 rusage at exit) and their summed PSS/RSS over time."""

    def __init__(self, binary: str, urls: dict[str, str], seconds: float, workdir: Path, *,
                 remux: bool = True) -> None:
        self.binary = binary
        self.seconds = seconds
        self.runs = [
            FfmpegRun(name, url, workdir / f"{name}.ts", workdir / f"{name}.log") for name, url in urls.items()
        ]
        self.sampler = Sampler(self._probe, interval=1.0)
        self.setpriv = shutil.which("setpriv")
        self.remux = remux
        self._remux_slots = threading.BoundedSemaphore(os.cpu_count() or 1)
        self._stopping = False
        self._remuxing: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def _guard(self) -> list[str]:
        return [self.setpriv, "--pdeathsig", "KILL", "--"] if self.setpriv else []

    def _remux(self, run: FfmpegRun) -> None:
        """``ffmpeg -i out.ts -c copy -movflags +faststart out.mp4`` once a slot is free; CPU from wait4."""
        if not run.output.exists() or run.output.stat().st_size == 0:
            return
        with self._remux_slots:
            if self._stopping:
                return
            run.mp4 = run.output.with_suffix(".mp4")
            command = [*self._guard(), self.binary, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                       "-i", str(run.output), "-c", "copy", "-movflags", "+faststart", str(run.mp4)]
            with run.log.open("ab") as log:
                run.remux_started_at = time.time()
                proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
            with self._lock:
                self._remuxing.add(proc)
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            with self._lock:
                self._remuxing.discard(proc)
            run.remux_ended_at = time.time()
            run.remux_cpu = usage.ru_utime + usage.ru_stime
            run.remux_max_rss = usage.ru_maxrss * 1024
            run.remux_returncode = proc.returncode

    def _probe(self) -> dict[str, float]:
        pss = rss = alive = 0
        cpu = 0.0
        for run in self.runs:
            if run.proc is None:
                continue
            if run.ended_at is not None:
                cpu += run.cpu
                continue
            stat = read_stat(run.proc.pid)
            cpu += stat.own if stat is not None else 0.0
            values = rollup(run.proc.pid)
            if values:
                alive += 1
                pss += values.get("Pss", 0)
                rss += values.get("Rss", 0)
        return {"pss": float(pss), "rss": float(rss), "alive": float(alive), "cpu": cpu}

    def command(self, run: FfmpegRun) -> list[str]:
        # setpriv (util-linux) makes the kernel kill ffmpeg if the benchmark dies, and then execs it in the
        # same process, so its (tiny) cost counts against ffmpeg. No preexec_fn: a fork of this Python
        # process running Python code before exec would be billed to ffmpeg's rusage, and be slow.
        return [
            *self._guard(), self.binary, "-hide_banner", "-loglevel", "error", "-nostdin",
            "-i", run.url, "-c", "copy", "-t", f"{self.seconds:g}", "-f", "mpegts", str(run.output),
        ]

    def start(self) -> None:
        """Spawn every process as fast as possible (from this thread: PDEATHSIG follows the spawning thread)."""
        self.sampler.start()
        for run in self.runs:
            with run.log.open("wb") as log:
                run.started_at = time.time()
                run.proc = subprocess.Popen(
                    self.command(run), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                )
            then = self._remux if self.remux else None
            run.reaper = threading.Thread(target=_reap, args=(run, then), name=f"reap-{run.name}", daemon=True)
            run.reaper.start()

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for run in self.runs:
            if run.reaper is not None:
                run.reaper.join(max(0.0, deadline - time.monotonic()))
        self.sampler.stop()
        late = [run for run in self.runs if run.ended_at is None or (run.reaper and run.reaper.is_alive())]
        if late:
            print(f"  {len(late)} ffmpeg captures or remuxes still running after {timeout:.0f} s; killing them")
            self.kill()

    def kill(self) -> None:
        self._stopping = True
        with self._lock:
            for proc in self._remuxing:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        for run in self.runs:
            if run.proc is not None and run.ended_at is None:
                with contextlib.suppress(ProcessLookupError):
                    run.proc.kill()
        for run in self.runs:
            if run.reaper is not None:
                run.reaper.join(5)
        self.sampler.stop()

    def errors(self) -> dict[str, str]:
        out = {}
        for run in self.runs:
            text = run.log.read_text(errors="replace").strip() if run.log.exists() else ""
            if run.returncode != 0 or text:
                out[run.name] = f"exit {run.returncode}: {text[-300:]}"
        return out
