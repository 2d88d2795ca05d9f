"""The real app on a real port (uvicorn in a thread), for tests where another server calls livevault back."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from livevault.api.app import create_app
from livevault.config import Settings
from tests.conftest import HEADERS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(settings: Settings, timeout: float = 30.0) -> Iterator[httpx.Client]:
    """An httpx client (with the test API key) on `create_app(settings)` served at http://127.0.0.1:<port>."""
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout)
