"""Shared fixtures: settings in a temp dir, the API in-process, the live test stream server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.config import Settings

pytest_plugins = ["tests.dbfixtures", "tests.s3fixtures", "tests.toolfixtures"]

API_KEY = "test-key"
HEADERS = {"X-API-Key": API_KEY}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "api_keys": f"{API_KEY},other-key",
        "allow_private_sources": True,
        "rate_limit_per_min": 0,
        "http_timeout": 5.0,
        "playlist_grace": 8.0,
        "stall_timeout": 3.0,
        "reconnect_window": 15.0,
        "log_json": False,
        "redis_url": None,  # in-memory rate limits and caches unless a test opts in (REDIS_URL may be set for those)
        "database_url": f"sqlite:///{data_dir / 'livevault.db'}",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        client.headers.update(HEADERS)
        yield client


@pytest.fixture(scope="session")
def stream_server() -> Iterator[Any]:
    from tests.streamserver import StreamServer

    with StreamServer() as server:
        yield server


def pytest_report_header() -> list[str]:
    return [f"DATABASE_URL={os.environ.get('DATABASE_URL', '(default postgres at 127.0.0.1:5432)')}"]
