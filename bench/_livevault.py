"""The livevault half: the real ``livevault serve`` in a subprocess, N recordings through its REST API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _procfs import (
    Sampler,
    descendants,
    die_with_parent,
    hwm_bytes,
    read_stat,
    rollup,
    rss_bytes,
    tree_cpu,
)

_ACTIVE = ("pending", "recording")
_POST_CONCURRENCY = 16


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def epoch(value: str | None) -> float | None:
    """An ISO 8601 time from the API as a Unix timestamp (naive means UTC)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass(slots=True)
class Recording:
    name: str
    url: str
    id: str = ""
    posted_at: float = 0.0
    post_status: int = 0
    post_error: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    ledger: dict[str, Any] = field(default_factory=dict)


class ServeExited(RuntimeError):
    """`livevault serve` exited before it answered /healthz."""


class LivevaultService:
    """``livevault serve`` with its own data dir, SQLite, API key and port; sampled from /proc."""

    def __init__(self, workdir: Path, max_recordings: int, *, direct: bool = False,
                 launcher: Path | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.key = f"bench-{secrets.token_hex(8)}"
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "livevault-serve.log"
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LIVEVAULT_DATABASE_URL"}}
        env.update(
            LIVEVAULT_DATA_DIR=str(workdir / "data"),
            LIVEVAULT_HOST="127.0.0.1",
            LIVEVAULT_PORT=str(self.port),
            LIVEVAULT_ALLOW_PRIVATE_SOURCES="true",
            LIVEVAULT_RUNNER="local",
            LIVEVAULT_MAX_CONCURRENT_RECORDINGS=str(max(500, max_recordings)),
            API_KEYS=self.key,
            RATE_LIMIT_PER_MIN="0",
            LOG_LEVEL="WARNING",
        )
        script = Path(sys.executable).with_name("livevault")
        if launcher is not None:  # an experiment: a Python file that starts the service its own way
            command = [sys.executable, str(launcher)]
        elif direct:  # the body of `livevault serve` without its CLI wrapper (see _serve.py)
            command = [sys.executable, str(Path(__file__).with_name("_serve.py"))]
        elif script.exists():
            command = [str(script), "serve"]
        else:
            command = [sys.executable, "-m", "livevault.cli.main", "serve"]
        self.command = command
        if direct:
            self.log_path = workdir / "livevault-serve-direct.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the benchmark, which shuts this down itself
                preexec_fn=die_with_parent,  # and a SIGKILLed benchmark leaves no orphan
            )
        self.pid = self.proc.pid
        self.sampler = Sampler(self._probe, interval=0.5)
        self._pss_every = 4
        self._probes = 0
        self._children: list[int] = []

    def _probe(self) -> dict[str, float]:
        if self._probes % 10 == 0:
            self._children = descendants(self.pid)
        children = self._children
        own = read_stat(self.pid)
        row = {
            "cpu": tree_cpu(self.pid, children),
            "user": own.utime + own.cutime if own else 0.0,
            "rss": float(rss_bytes(self.pid) + sum(rss_bytes(c) for c in children)),
        }
        if self._probes % self._pss_every == 0:
            row["pss"] = float(rollup(self.pid).get("Pss", 0))
        self._probes += 1
        return row

    def fast_cpu(self) -> float:
        """CPU seconds of the service (and of the children last seen); cheap enough for 10 readings a second."""
        return tree_cpu(self.pid, self._children)

    def cpu(self) -> float:
        return tree_cpu(self.pid, descendants(self.pid))

    def hwm(self) -> int:
        return hwm_bytes(self.pid)

    def wait_healthy(self, timeout: float = 90.0) -> float:
        return wait_healthz(self.base_url, self.proc, self.log_path, lambda: ServeExited(
            f"livevault serve exited with {self.proc.returncode}: {self.last_error()}"), timeout)

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": self.key}, timeout=timeout)

    def stop(self, grace: float = 20.0) -> None:
        """SIGINT (uvicorn's graceful shutdown), SIGKILL after ``grace`` seconds; then any leftover children."""
        children = descendants(self.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)

    def last_error(self) -> str:
        lines = [line.strip(" │╭╰─") for line in self.warnings()]
        lines = [line for line in lines if line]
        return lines[-1] if lines else "(no output)"

    def warnings(self) -> list[str]:
        if not self.log_path.exists():
            return []
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]


async def _post_all(service: LivevaultService, recordings: list[Recording], seconds: int) -> None:
    limit = asyncio.Semaphore(_POST_CONCURRENCY)
    async with httpx.AsyncClient(base_url=service.base_url, headers={"X-API-Key": service.key},
                                 timeout=30.0) as client:

        async def post(rec: Recording) -> None:
            async with limit:
                rec.posted_at = time.time()
                try:
                    response = await client.post("/recordings", json={"url": rec.url, "duration": seconds})
                except httpx.HTTPError as exc:
                    rec.post_error = f"{type(exc).__name__}: {exc}"
                    return
                rec.post_status = response.status_code
                if response.status_code == 202:
                    rec.id = response.json()["recording_id"]
                else:
                    rec.post_error = response.text[:300]

        await asyncio.gather(*(post(rec) for rec in recordings))


def post_recordings(service: LivevaultService, recordings: list[Recording], seconds: int) -> None:
    asyncio.run(_post_all(service, recordings, seconds))


def count_status(client: httpx.Client, status: str) -> int:
    response = client.get("/recordings", params={"status": status, "page_size": 1})
    response.raise_for_status()
    total: int = response.json()["total"]
    return total


def wait_healthz(base_url: str, proc: subprocess.Popen[bytes], log_path: Path,
                 exited: Callable[[], Exception], timeout: float = 90.0) -> float:
    """Seconds until `base_url/healthz` answered 200; `exited()` is raised if the process ends first."""
    started = time.monotonic()
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() - started < timeout:
            if proc.poll() is not None:
                raise exited()
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{base_url}/healthz").status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.2)
    raise RuntimeError(f"livevault serve did not answer /healthz within {timeout:.0f} s; see {log_path}")
