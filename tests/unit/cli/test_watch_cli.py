"""`livevault watch`: the same watcher rows the API manages, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livevault.cli.main import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIVEVAULT_ALLOW_PRIVATE_SOURCES", "true")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def test_add_list_pause_resume_show_and_remove(env: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["watch", "add", "123456789", "--interval", "30", "--max-duration", "600"])
    assert added.exit_code == 0, added.output
    assert "watching 123456789" in added.output
    url = "http://127.0.0.1:9/live/cam.m3u8"
    assert runner.invoke(app, ["watch", "add", url]).exit_code == 0
    assert runner.invoke(app, ["watch", "add", "@some.user"]).exit_code == 0

    listed = runner.invoke(app, ["watch", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["key"]: row for row in json.loads(listed.output)}
    assert set(rows) == {"123456789", url, "@some.user"}
    assert rows["123456789"]["source_kind"] == "tiktok"
    assert rows["123456789"]["poll_interval"] == 30
    assert rows["123456789"]["options"]["max_duration"] == 600
    assert rows[url]["source_kind"] == "url"
    assert rows["@some.user"]["user"] == "@some.user"

    paused = runner.invoke(app, ["watch", "pause", "123456789"])
    assert paused.exit_code == 0
    assert "paused" in paused.output
    assert "paused" in runner.invoke(app, ["watch", "list"]).output
    assert "active" in runner.invoke(app, ["watch", "resume", "123456789"]).output
    shown = runner.invoke(app, ["watch", "show", "@some.user"])
    assert json.loads(shown.output)["status"] == "active"

    assert runner.invoke(app, ["watch", "rm", "123456789"]).exit_code == 0
    missing = runner.invoke(app, ["watch", "rm", "123456789"])
    assert missing.exit_code == 1
    assert "NOT_FOUND" in missing.output
    assert runner.invoke(app, ["watch", "list", "--status", "deleted"]).output.count("123456789") == 1


def test_bad_targets_and_intervals_are_refused(env: Path) -> None:
    runner = CliRunner()
    short = runner.invoke(app, ["watch", "add", "123", "--interval", "2"])
    assert short.exit_code == 1
    assert "VALIDATION_ERROR" in short.output
    bad = runner.invoke(app, ["watch", "add", "ftp://example.com/x"])
    assert bad.exit_code == 1
    assert "INVALID_URL" in bad.output
    assert "no watchers" in runner.invoke(app, ["watch", "list"]).output


def test_add_with_retention_limits(env: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["watch", "add", "@kept", "--max-recordings", "5", "--max-bytes", "1000000",
                                "--retention-days", "7.5"])
    assert added.exit_code == 0, added.output
    shown = json.loads(runner.invoke(app, ["watch", "show", "@kept"]).output)
    assert (shown["max_recordings"], shown["max_bytes"], shown["retention_days"]) == (5, 1000000, 7.5)
    refused = runner.invoke(app, ["watch", "add", "@other", "--max-recordings", "0"])
    assert refused.exit_code != 0
