"""Real processes for the Celery tests: livevault workers and beat, a private redis-server, a slow HTTP origin."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

import redis
from aiohttp import web

from tests.conftest import API_KEY

LIVEVAULT = str(Path(sys.executable).with_name("livevault"))
CELERY = str(Path(sys.executable).with_name("celery"))
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("REDIS_URL", DEFAULT_REDIS)


def redis_ok(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def delete_prefixed(url: str, prefix: str) -> int:
    """Delete the keys this test session wrote (all start with its unique prefix); nothing else."""
    assert prefix, "never delete without a prefix"
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def livevault_env(*, data_dir: Path, database_url: str, broker: str, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a worker or beat process: the same database, files, broker and queues as the test."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LIVEVAULT_", "CELERY_")) and k not in {"DATABASE_URL", "RECORDINGS_DIR", "API_KEYS"}}
    env.update({
        "LIVEVAULT_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "LIVEVAULT_CELERY_QUEUE_PREFIX": prefix,
        "LIVEVAULT_RUNNER": "celery",
        "LIVEVAULT_SCHEDULER_ENABLED": "false",
        "API_KEYS": f"{API_KEY},other-key",
        "LIVEVAULT_ALLOW_PRIVATE_SOURCES": "true",
        "LIVEVAULT_HTTP_TIMEOUT": "5",
        "LIVEVAULT_PLAYLIST_GRACE": "8",
        "LIVEVAULT_STALL_TIMEOUT": "3",
        "LIVEVAULT_RECONNECT_WINDOW": "15",
        "LIVEVAULT_LOG_JSON": "false",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class Process:
    """A livevault (or `program`) subprocess whose output goes to a log file; `stop()` is SIGTERM, then SIGKILL."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, program: str = LIVEVAULT) -> None:
        self.args = args
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen([program, *args], env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=log_path.parent)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.args} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the log of {self.args} after {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


@contextlib.contextmanager
def processes(tmp: Path) -> Any:
    """Start livevault processes with `start(name, args, env)`; every one is stopped on the way out."""
    started: list[Process] = []

    def start(name: str, args: list[str], env: dict[str, str], program: str = LIVEVAULT) -> Process:
        proc = Process(args, env, tmp / f"{name}.log", program)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in reversed(started):
            proc.stop()


class RedisServer:
    """A private redis-server without persistence, so a restart loses everything it held."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_ok(self.url):
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


class SlowOrigin:
    """A real HTTP server answering 404 ("not live") after `delay` seconds; logs (start, end) per path."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="slow-origin", daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        started = time.time()
        await asyncio.sleep(self.delay)
        self.calls[request.path.lstrip("/")].append((started, time.time()))
        return web.Response(status=404, text="offline")

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> SlowOrigin:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
