"""Reading CPU time and memory of processes from /proc (Linux), and a background sampler.

Everything here is read from outside the measured processes, so sampling costs them nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PROC = Path("/proc")
_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now: nothing is loaded between fork and exec


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGKILL when the thread that spawned it dies (no orphans)."""
    with contextlib.suppress(Exception):
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


@dataclass(frozen=True, slots=True)
class Stat:
    pid: int
    ppid: int
    utime: float  # seconds
    stime: float
    cutime: float  # of children that were waited for
    cstime: float

    @property
    def own(self) -> float:
        return self.utime + self.stime

    @property
    def with_reaped(self) -> float:
        return self.utime + self.stime + self.cutime + self.cstime


def read_stat(pid: int) -> Stat | None:
    """Fields of /proc/<pid>/stat (None once the process is gone)."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = raw[raw.rfind(")") + 2 :].split()  # comm may contain spaces and parentheses
    # rest[0] is the state (field 3); utime is field 14 → rest[11]
    return Stat(
        pid=pid,
        ppid=int(rest[1]),
        utime=int(rest[11]) / CLK_TCK,
        stime=int(rest[12]) / CLK_TCK,
        cutime=int(rest[13]) / CLK_TCK,
        cstime=int(rest[14]) / CLK_TCK,
    )


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (not ``pid`` itself), found by scanning /proc."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        if stat is not None:
            parents.setdefault(stat.ppid, []).append(stat.pid)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu(pid: int, children: Iterable[int] = ()) -> float:
    """CPU seconds (user + system) of ``pid``, its reaped children, and the live ``children`` given."""
    stat = read_stat(pid)
    total = stat.with_reaped if stat is not None else 0.0
    for child in children:
        child_stat = read_stat(child)
        if child_stat is not None:
            total += child_stat.own
    return total


def _status_kb(pid: int, key: str) -> int | None:
    try:
        with (PROC / str(pid) / "status").open() as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) in bytes; 0 once the process is gone."""
    kb = _status_kb(pid, "VmRSS:")
    return (kb or 0) * 1024


def hwm_bytes(pid: int) -> int:
    """Peak resident set size over the process's life (VmHWM) in bytes."""
    kb = _status_kb(pid, "VmHWM:")
    return (kb or 0) * 1024


def rollup(pid: int) -> dict[str, int]:
    """/proc/<pid>/smaps_rollup in bytes (Rss, Pss, Private_Dirty, ...); empty once the process is gone."""
    out: dict[str, int] = {}
    try:
        with (PROC / str(pid) / "smaps_rollup").open() as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    return out


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = (float(x) for x in (PROC / "loadavg").read_text().split()[:3])
    return one, five, fifteen


@dataclass(slots=True)
class Sampler:
    """Calls ``probe`` every ``interval`` seconds in a daemon thread; keeps (wall time, values) rows."""

    probe: Callable[[], dict[str, float]]
    interval: float = 1.0
    rows: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def sample_now(self) -> tuple[float, dict[str, float]]:
        row = (time.time(), self.probe())
        self.rows.append(row)
        return row

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_now()
            except Exception as exc:  # a sampling hiccup must not end the run
                print(f"  (sampler: {type(exc).__name__}: {exc})")
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def peak(self, key: str, start: float = 0.0, end: float = float("inf")) -> float:
        values = [row[key] for t, row in self.rows if start <= t <= end and key in row]
        return max(values) if values else 0.0


def warm_page_cache(directory: Path, nbytes: int, chunk: int = 1 << 20) -> tuple[float, float]:
    """Write `nbytes` to a file in `directory` and delete it; returns (seconds, system CPU-s it took).

    On a VM whose memory the host backs lazily (firecracker, some clouds) the first write into a guest page
    that was never used costs about ten times a later one (measured here: 2 GB written to a new file took
    7.4 s of system CPU the first time, 0.7 s afterwards). Whichever side of a benchmark ran first would pay
    that for its page cache. Writing and deleting a file as large as what a side will write leaves freed,
    already-backed pages for it, so both sides write into the same kind of memory.
    """
    started, sys_before = time.monotonic(), os.times().system
    block = b"\0" * chunk
    path = directory / "page-cache-warm-up"
    with path.open("wb", buffering=0) as fh:
        for _ in range(max(1, nbytes // chunk)):
            fh.write(block)
    path.unlink()
    return time.monotonic() - started, os.times().system - sys_before
