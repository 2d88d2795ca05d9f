"""The `livevault` command: doctor, db upgrade, and a standalone recording with a progress line."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livevault.cli.main import app
from livevault.testsrc import StreamServer
from tests.integration.helpers import assert_contiguous, decode_frame_numbers


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RECORDINGS_DIR", raising=False)
    return tmp_path


def test_db_upgrade_then_doctor_reports_every_check(env: Path) -> None:
    runner = CliRunner()
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "database at revision" in upgraded.output
    doctor = runner.invoke(app, ["doctor"])
    assert doctor.exit_code == 0, doctor.output
    for name in ("database", "disk", "pyav", "ffmpeg"):
        assert name in doctor.output
    assert "[ok  ] pyav" in doctor.output


def test_doctor_fails_on_an_unmigrated_database(env: Path) -> None:
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "livevault db upgrade" in result.output


def test_record_writes_a_playable_mp4_where_asked(env: Path, stream_server: StreamServer) -> None:
    stream = stream_server.stream(f"cli-{uuid.uuid4().hex[:8]}", segment_duration=0.5, window=8)
    output = env / "out" / "demo.mp4"
    result = CliRunner().invoke(
        app, ["record", stream.playlist_url("lo"), "--duration", "4", "--output", str(output), "--allow-private"]
    )
    assert result.exit_code == 0, result.output
    assert output.is_file()
    assert str(output) in result.output
    assert "segments" in result.output
    assert_contiguous(decode_frame_numbers(output))


def test_record_refuses_private_sources_by_default(env: Path) -> None:
    result = CliRunner().invoke(app, ["record", "http://127.0.0.1:9/x.m3u8", "--duration", "2"])
    assert result.exit_code == 1
    assert "ADDRESS_NOT_ALLOWED" in result.output


def test_record_reports_a_failed_recording(env: Path, stream_server: StreamServer) -> None:
    result = CliRunner().invoke(
        app, ["record", f"{stream_server.base_url}/nope.flv", "--duration", "3", "--allow-private"]
    )
    assert result.exit_code == 1
    assert "failed" in result.output


def test_record_start_window_takes_the_window_plus_the_duration(env: Path, stream_server: StreamServer) -> None:
    stream = stream_server.stream(f"cli-{uuid.uuid4().hex[:8]}", segment_duration=0.5, window=8)
    stream.wait_for_segments(9)
    output = env / "out" / "window.mp4"
    result = CliRunner().invoke(app, ["record", stream.playlist_url("lo"), "--duration", "3", "--start", "window",
                                      "--output", str(output), "--allow-private"])
    assert result.exit_code == 0, result.output
    frames = decode_frame_numbers(output)
    assert_contiguous(frames)
    expected = 7 * 0.5 + 3  # the seven segments before the newest are back-fill, then 3 s from the newest on
    assert abs(len(frames) / 24 - expected) <= 0.5 + 1 / 24, len(frames) / 24


def test_record_refuses_an_unknown_start(env: Path) -> None:
    result = CliRunner().invoke(app, ["record", "http://127.0.0.1:9/x.m3u8", "--start", "middle"])
    assert result.exit_code == 2
    assert "--start must be one of live_edge, window" in result.output
