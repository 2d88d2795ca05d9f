"""Real S3 for tests: moto's server mode, started as a separate process and spoken to over HTTP.

`moto_server` (session scope) is one `moto.server` process on a free local port; `s3_settings` gives a test its
own bucket and key prefix on it. `MotoServer.stop()` / `.start()` take the server away and bring it back on the
same port (outage tests). moto keeps its state in memory, so a restart empties every bucket: tests that restart
the server create their bucket again (`MotoServer.create_bucket`).

There is no skip: when moto cannot start, the tests that asked for it fail.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


class MotoServer:
    """One `python -m moto.server` child process."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "AWS_DEFAULT_REGION": REGION}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto server did not listen on {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

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
