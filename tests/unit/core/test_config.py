"""Settings read the seed variable names and derive paths; nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

import pytest

from livevault.config import Settings


def test_seed_env_names_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("API_KEYS", "a, b,,c")
    monkeypatch.setenv("RATE_LIMIT_PER_MIN", "7")
    monkeypatch.setenv("RECORDINGS_DIR", str(tmp_path / "rec"))
    monkeypatch.setenv("LIVEVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.api_keys == frozenset({"a", "b", "c"})
    assert settings.rate_limit_per_min == 7
    assert settings.recordings_dir == tmp_path / "rec"
    assert settings.spool_dir == tmp_path / "data" / "spool"
    assert settings.cors_allow_origins == ["https://a.example", "https://b.example"]
    assert settings.log_level == "DEBUG"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("data/livevault.db")


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIVEVAULT_ALLOW_PRIVATE_SOURCES", "LIVEVAULT_HOST", "API_KEYS", "LIVEVAULT_RUNNER"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.allow_private_sources is False
    assert settings.host == "127.0.0.1"
    assert settings.runner == "local"
    assert settings.api_keys == frozenset({"dev-key"})


def test_empty_api_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", " , ")
    with pytest.raises(ValueError, match="API_KEYS"):
        Settings()


def test_database_url_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert Settings().database_url == "postgresql://u@h/db"
