"""`livevault watch add|list|show|rm|pause|resume`: manage watchers in the database the server reads.

The commands work on the database directly (SQLite under LIVEVAULT_DATA_DIR, or DATABASE_URL), so they
need no running server; a running `livevault serve` picks the changes up at its next scheduler pass, and
`rm` stops a recording it is running through the database stop flag.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from livevault.api.routers.watchers import build_watch_request, watcher_out
from livevault.api.schemas.watchers import WatcherCreate, WatcherOptions
from livevault.bootstrap import Container, build_container, run_async
from livevault.config import Settings
from livevault.domain.targets import is_room_id
from livevault.domain.watcher import Watcher, WatcherStatus
from livevault.errors import LivevaultError

app = typer.Typer(help="Watchers: record a source whenever it goes live.", no_args_is_help=True)
T = TypeVar("T")


def _run(work: Callable[[Container], Awaitable[T]]) -> T:
    settings = Settings()

    async def main() -> T:
        container = build_container(settings)
        try:
            return await work(container)
        finally:
            await container.close(timeout=1.0)

    try:
        return run_async(settings, main())
    except LivevaultError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from exc


def _line(w: Watcher) -> str:
    state = w.live_state or "-"
    error = f"  {w.error_code}" if w.error_code else ""
    return f"{w.key:<40} {w.status.value:<8} every {w.poll_interval:>5.0f}s  {state:<9} checks {w.checks}{error}"


@app.command("add")
def add(
    target: str = typer.Argument(..., help="TikTok room id, @user, or a URL"),
    interval: float = typer.Option(60.0, "--interval", "-i", help="Seconds between checks (>= 10)"),
    quality: str | None = typer.Option(None, "--quality", "-q", help="best, worst, 720p, or max bit/s"),
    proxy: str | None = typer.Option(None, "--proxy", help="http(s):// proxy"),
    cookies: str | None = typer.Option(None, "--cookies", help="cookies file under LIVEVAULT_SECRETS_DIR"),
    max_duration: int | None = typer.Option(None, "--max-duration", help="Stop each recording after N seconds"),
    max_recordings: int | None = typer.Option(
        None, "--max-recordings", min=1, help="Retention: keep this watcher's newest N finished recordings"),
    max_bytes: int | None = typer.Option(
        None, "--max-bytes", min=1, help="Retention: keep at most this many bytes of its recordings"),
    retention_days: float | None = typer.Option(
        None, "--retention-days", min=0, help="Retention: delete its recordings older than this many days"),
) -> None:
    """Watch TARGET: record it whenever it is live."""
    fields: dict[str, str] = {}
    if is_room_id(target):
        fields["room_id"] = target
    elif target.startswith("@"):
        fields["user"] = target
    else:
        fields["url"] = target
    body = WatcherCreate(poll_interval=interval, options=WatcherOptions(
        quality=quality, proxy=proxy, cookies=cookies, max_duration=max_duration), max_recordings=max_recordings,
        max_bytes=max_bytes, retention_days=retention_days, **fields)

    async def work(container: Container) -> tuple[str, str]:
        request = await build_watch_request(container, body)
        watcher, job = container.watchers.create(request)
        return watcher.key, job.id

    key, task_id = _run(work)
    typer.echo(f"watching {key} (task {task_id})")


@app.command("list")
def list_(
    status: WatcherStatus | None = typer.Option(None, "--status", help="active, paused or deleted"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """List watchers, newest first."""

    async def work(container: Container) -> list[Watcher]:
        return container.watchers.search(status=status, page=1, page_size=500).items

    items = _run(work)
    if as_json:
        typer.echo(json.dumps([watcher_out(w).model_dump(mode="json") for w in items], indent=2))
        return
    if not items:
        typer.echo("no watchers")
    for watcher in items:
        typer.echo(_line(watcher))


@app.command("show")
def show(key: str = typer.Argument(..., help="room id, @user or URL")) -> None:
    """Show one watcher as JSON."""

    async def work(container: Container) -> Watcher:
        return container.watchers.get(key)

    typer.echo(json.dumps(watcher_out(_run(work)).model_dump(mode="json"), indent=2))


@app.command("rm")
def remove(key: str = typer.Argument(..., help="room id, @user or URL")) -> None:
    """Stop watching; a recording in progress is stopped and finalized."""

    async def work(container: Container) -> Watcher:
        return container.watchers.delete(key)

    _run(work)
    typer.echo(f"removed {key}")


def _set_status(key: str, status: WatcherStatus) -> None:
    async def work(container: Container) -> Watcher:
        return container.watchers.update(key, status=status)

    watcher = _run(work)
    typer.echo(_line(watcher))


@app.command("pause")
def pause(key: str = typer.Argument(..., help="room id, @user or URL")) -> None:
    """Stop checking (a running recording goes on)."""
    _set_status(key, WatcherStatus.PAUSED)


@app.command("resume")
def resume(key: str = typer.Argument(..., help="room id, @user or URL")) -> None:
    """Check again, starting now."""
    _set_status(key, WatcherStatus.ACTIVE)
