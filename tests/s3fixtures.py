"""Real S3 for tests: moto's server mode, started as a separate process and spoken to over HTTP.

`moto_server` (session scope) is one `moto.server` process on a free local port; `s3_settings` gives a test its
own bucket and key prefix on it. `MotoServer.stop()` / `.start()` take the server away and bring it back on the
same port (outage tests). moto keeps its state in memory, so a restart empties every bucket: tests that restart
the server create their bucket again (`MotoServer.create_bucket`).

`s3rver` (session scope) is a second real S3 API server, from npm (`tests/s3rver/package.json`, installed on first
use): unlike moto it enforces the expiry of presigned URLs, which is what it is used for.

There is no skip: when moto or s3rver cannot start, the tests that asked for them fail.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """An S3 API server as a child process on a local port: `start()` waits until it listens, `stop()` ends it."""

    name = "server"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        argv, env = self.command()
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class MotoServer(ServerProcess):
    """One `python -m moto.server` child process."""

    name = "moto server"

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "AWS_DEFAULT_REGION": REGION}
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], env

    def client(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name=REGION, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    try:
        server.start()
    except Exception as exc:  # never a skip: S3 tests must run
        pytest.fail(f"moto server could not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    bucket = f"lv-{secrets.token_hex(6)}"
    moto_server.create_bucket(bucket)
    return bucket


def s3_overrides(server: MotoServer, bucket: str, **extra: Any) -> dict[str, Any]:
    """Settings for a livevault pointed at this server and bucket."""
    return {
        "s3_endpoint_url": server.url, "s3_bucket": bucket, "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY, "aws_region": REGION, "s3_force_path_style": True, **extra,
    }


S3RVER_DIR = Path(__file__).resolve().parent / "s3rver"
S3RVER_KEY = "S3RVER"  # s3rver's built-in account (access key and secret)


def _s3rver_script() -> Path:
    """s3rver's entry point, installed with npm on first use (one installer at a time: pytest-xdist workers)."""
    script = S3RVER_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    with (S3RVER_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not script.exists():
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("npm is not installed (apt-get install npm): s3rver cannot be installed")
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=S3RVER_DIR, check=True,
                           timeout=300, stdout=subprocess.DEVNULL)
    return script


class S3rver(ServerProcess):
    """One `node s3rver.js` child process with its data in a temporary directory."""

    name = "s3rver"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        node = shutil.which("node") or shutil.which("nodejs")
        if node is None:
            raise RuntimeError("node is not installed (apt-get install nodejs)")
        script = _s3rver_script()
        return [node, str(script), "-d", str(self.directory), "-a", "127.0.0.1", "-p", str(self.port), "--silent"], None

    def client(self) -> Any:
        return boto3.client(
            "s3", endpoint_url=self.url, aws_access_key_id=S3RVER_KEY, aws_secret_access_key=S3RVER_KEY,
            region_name=REGION, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def overrides(self, bucket: str, **extra: Any) -> dict[str, Any]:
        return {
            "s3_endpoint_url": self.url, "s3_bucket": bucket, "aws_access_key_id": S3RVER_KEY,
            "aws_secret_access_key": S3RVER_KEY, "aws_region": REGION, "s3_force_path_style": True, **extra,
        }


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3rver]:
    server = S3rver(tmp_path_factory.mktemp("s3rver"))
    try:
        server.start()
    except Exception as exc:  # never a skip
        pytest.fail(f"s3rver could not start: {exc}")
    try:
        yield server
    finally:
        server.stop()
