"""SIGKILL of the livevault process mid-recording, then a restart: nothing written before the kill is lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livevault.capture.spool import Spool
from livevault.testsrc import StreamServer
from tests.integration.helpers import decode_frame_numbers, wait_until

pytestmark = pytest.mark.live
KEY = {"X-API-Key": "crash-key"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """`livevault serve` as a real separate process."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "LIVEVAULT_DATA_DIR": str(data_dir),
            "LIVEVAULT_PORT": str(self.port),
            "API_KEYS": "crash-key",
            "LIVEVAULT_ALLOW_PRIVATE_SOURCES": "true",
            "RATE_LIMIT_PER_MIN": "0",
            "LOG_LEVEL": "WARNING",
        }
        self.env.pop("DATABASE_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "service.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "livevault.cli.main", "serve"], env=self.env, stdout=log, stderr=log
            )

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=30, interval=0.2)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def get(self, path: str) -> Any:
        return httpx.get(f"{self.url}{path}", headers=KEY, timeout=10).json()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path / "data")
    yield svc
    svc.stop()


def test_sigkill_then_restart_keeps_everything_written_before_the_kill(
    service: Service, stream_server: StreamServer
) -> None:
    stream = stream_server.stream(f"k-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=8)
    service.start()
    accepted = httpx.post(
        f"{service.url}/recordings", headers=KEY, json={"url": stream.playlist_url("hi"), "duration": 24}, timeout=10
    ).json()
    recording_id = accepted["recording_id"]
    wait_until(lambda: len(service.get(f"/recordings/{recording_id}/ledger")["segments"]) >= 6, timeout=30)

    service.kill()
    spool = Spool(Path(service.env["LIVEVAULT_DATA_DIR"]) / "spool" / recording_id)
    before = spool.segments()
    assert len(before) >= 6
    time.sleep(2.0)

    service.start()
    wait_until(lambda: service.get(f"/recordings/{recording_id}")["status"] in {"completed", "failed"},
               timeout=90, interval=0.5)
    body = service.get(f"/recordings/{recording_id}")
    assert body["status"] == "completed", body
    ledger = service.get(f"/recordings/{recording_id}/ledger")
    reasons = [p["reason"] for p in ledger["parts"]]
    assert reasons[0] == "start"
    assert "resume" in reasons

    produced = {p.sequence: p for p in stream.produced()}
    written_before_kill = {f for seg in before for f in produced[seg.sequence].frames}
    frames = decode_frame_numbers(Path(service.env["LIVEVAULT_DATA_DIR"]) / "recordings" / body["file_path"])
    assert written_before_kill <= set(frames), "media written before the kill must be in the final MP4"
    assert frames == sorted(set(frames))
    sequences = [s["sequence"] for s in ledger["segments"]]
    assert sequences == sorted(set(sequences))
    job = service.get(f"/jobs/{accepted['task_id']}")
    assert job["status"] == "SUCCESS"
