"""Real Redis for tests: REDIS_URL (else redis://127.0.0.1:6379/0), one unique namespace per test.

Only the namespace's own keys are deleted afterwards (SCAN + DEL), never the database. When Redis cannot be
reached the tests are skipped, unless LIVEVAULT_REQUIRE_REDIS=1 (CI) fails them.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_test_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def require_redis() -> str:
    url = redis_test_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("LIVEVAULT_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis at {url} does not answer: {exc}")
        pytest.skip(f"Redis at {url} does not answer: {exc}")
    finally:
        client.close()
    return url


@contextmanager
def redis_namespace(url: str) -> Iterator[str]:
    """A fresh key namespace; every key under it is deleted when the test ends."""
    namespace = f"livevault-test-{secrets.token_hex(6)}"
    try:
        yield namespace
    finally:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def closed_port_url() -> str:
    """A redis:// URL at a local port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"
