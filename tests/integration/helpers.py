"""Helpers for recording tests: wait for a recording, decode its MP4, compare with what was served."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import av
from fastapi.testclient import TestClient

from livevault.testsrc.media import read_frame_number

ACTIVE = {"pending", "recording", "processing"}


def wait_finished(client: TestClient, recording_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/recordings/{recording_id}").json()
        if body["status"] not in ACTIVE:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"recording still {body['status']} after {timeout}s: {body}")
        time.sleep(0.25)


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def decode_frame_numbers(path: Path) -> list[int]:
    """Decode every video frame and read the frame number the test server drew into it."""
    numbers: list[int] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            number = read_frame_number(frame)
            assert number is not None, f"unreadable frame counter at pts {frame.pts}"
            numbers.append(number)
    return numbers


def assert_contiguous(numbers: list[int]) -> None:
    """Frames strictly increase by one: nothing lost, nothing duplicated."""
    assert numbers, "no frames decoded"
    jumps = [(a, b) for a, b in itertools.pairwise(numbers) if b != a + 1]
    assert not jumps, f"frame numbers jump: {jumps[:10]}"


def recording_file(settings_dir: Path, body: dict[str, Any]) -> Path:
    assert body["status"] == "completed", body
    path = settings_dir / body["file_path"]
    assert path.is_file()
    return path
