"""`livevault record URL`: record without a server, with a live progress line."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import typer

from livevault.bootstrap import Container, build_container, run_async
from livevault.config import Settings
from livevault.domain.recording import ACTIVE_RECORDING_STATUSES, START_POSITIONS, Recording, RecordingRequest
from livevault.errors import LivevaultError
from livevault.observability import configure_logging
from livevault.services.record import RecordingService


def record(
    url: str = typer.Argument(..., help="HLS (.m3u8), FLV or MPEG-TS URL"),
    duration: int | None = typer.Option(
        None, "--duration", "-d", min=1, max=86400, help="Seconds of media to record (± one segment)"
    ),
    start: str = typer.Option(
        "live_edge", "--start",
        help="live_edge: from the newest segment; window: also the whole window the server still offers",
    ),
    reconnect_window: float | None = typer.Option(
        None, "--reconnect-window", min=0, max=3600,
        help="Seconds to keep trying after the stream goes away (default LIVEVAULT_RECONNECT_WINDOW)",
    ),
    quality: str = typer.Option("best", "--quality", "-q", help="best, worst, 720p, or max bit/s"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Where to write the MP4"),
    allow_private: bool = typer.Option(
        False, "--allow-private", help="Allow loopback/LAN sources (LIVEVAULT_ALLOW_PRIVATE_SOURCES)"
    ),
) -> None:
    """Record URL until it ends, --duration passes, or Ctrl-C; then finalize into one MP4."""
    if start not in START_POSITIONS:
        typer.echo(f"error: --start must be one of {', '.join(START_POSITIONS)}", err=True)
        raise typer.Exit(2)
    options: dict[str, object] = {"start": start}
    if reconnect_window is not None:
        options["reconnect_window"] = reconnect_window
    overrides: dict[str, object] = {}
    if allow_private:
        overrides["allow_private_sources"] = True
    template = None
    if output is not None:
        output = output.expanduser().resolve()
        overrides["recordings_dir"] = output.parent
        template = output.name if output.suffix.lower() == ".mp4" else output.name + ".mp4"
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging("WARNING", json_logs=False)
    try:
        recording = run_async(settings, _record(settings, url, duration, quality, template, options))
    except LivevaultError as exc:
        typer.echo(f"\nerror {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    _report(settings, recording)
    raise typer.Exit(0 if recording.status.value == "completed" else 1)


async def _record(settings: Settings, url: str, duration: int | None, quality: str,
                  template: str | None, options: dict[str, object]) -> Recording:
    container = build_container(settings)
    await container.start(scheduler=False)
    try:
        checked = await asyncio.to_thread(container.validate_url, url)
        request = RecordingRequest(
            source_kind=container.sources.match(checked).name, source=checked, url=checked,
            duration=duration, quality=quality, output_template=template, options=options,
        )
        recording, _job = container.recordings.create(request)
        _install_stop(container.recordings, recording.id)
        return await _follow(container, recording.id)
    finally:
        await container.close()


def _install_stop(service: RecordingService, recording_id: str) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        sys.stderr.write("\nstopping: finalizing what was captured…\n")
        service.stop(recording_id)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


async def _follow(container: Container, recording_id: str) -> Recording:
    started = time.monotonic()
    while True:
        recording = container.recordings.get(recording_id)
        if recording.status not in ACTIVE_RECORDING_STATUSES:
            sys.stderr.write("\n")
            return recording
        report = await asyncio.to_thread(container.recordings.report, recording)
        elapsed = time.monotonic() - started
        rate = report.bytes_captured * 8 / elapsed / 1000 if elapsed > 0 else 0.0
        sys.stderr.write(
            f"\r{recording.status.value:<10} elapsed {elapsed:6.0f}s  {report.bytes_captured / 1e6:8.2f} MB  "
            f"{rate:6.0f} kbit/s  segments {report.segments_captured:5d}  gaps {len(report.gaps):3d}  "
        )
        sys.stderr.flush()
        await asyncio.sleep(1.0)


def _report(settings: Settings, recording: Recording) -> None:
    if recording.file_path:
        typer.echo(f"{settings.recordings_dir / recording.file_path}")
        typer.echo(
            f"completed: {recording.duration:.1f} s, {recording.file_size / 1e6:.2f} MB, "
            f"{recording.video_codec}/{recording.audio_codec} {recording.width}x{recording.height}, "
            f"{recording.segments_captured} segments, {recording.segments_missing} missing",
            err=True,
        )
    else:
        typer.echo(f"failed: {recording.error_code}: {recording.error_message}", err=True)
