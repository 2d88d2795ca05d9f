"""`livevault serve | worker | scheduler | record | watch | retention | keys | testsrc | db | doctor`."""

from __future__ import annotations

import typer

from livevault.cli import keys as keys_cmd
from livevault.cli import record as record_cmd
from livevault.cli import retention as retention_cmd
from livevault.cli import watch as watch_cmd
from livevault.cli import worker as worker_cmd
from livevault.config import Settings
from livevault.errors import LivevaultError
from livevault.observability import configure_logging, mark_this_process_dead, setup_multiprocess_metrics

app = typer.Typer(help="livevault: record live streams into playable MP4s.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(watch_cmd.app, name="watch")
app.add_typer(keys_cmd.app, name="keys")
app.command("record")(record_cmd.record)
app.command("worker")(worker_cmd.worker)
app.command("scheduler")(worker_cmd.scheduler)
app.command("retention")(retention_cmd.retention)


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValueError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (LIVEVAULT_HOST, default 127.0.0.1)"),
    port: int | None = typer.Option(None, help="Port (LIVEVAULT_PORT, default 8000)"),
) -> None:
    """Run the API, the recorders and the scheduler in this process (embedded mode)."""
    import uvicorn

    from livevault.api.app import create_app
    from livevault.api.server import server_limits
    from livevault.bootstrap import event_loop_name

    settings = _settings(host=host, port=port)
    configure_logging(settings.log_level, json_logs=settings.log_json)
    setup_multiprocess_metrics(settings.metrics_dir)  # before the app builds its metrics
    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                    timeout_graceful_shutdown=30, loop=event_loop_name(settings), **server_limits(settings))
    finally:
        mark_this_process_dead()


@app.command("testsrc")
def serve_testsrc(
    host: str = typer.Option("127.0.0.1", help="Bind address"),
    port: int = typer.Option(8080, help="Port"),
    stream: list[str] = typer.Option(["demo"], help="Stream names to announce (any name works)"),
    segment_duration: float = typer.Option(1.0, help="Segment length in seconds"),
    window: int = typer.Option(6, help="Segments in the live playlist window"),
) -> None:
    """Serve a synthetic live stream (HLS, fMP4, AES-128, FLV, TS) with a frame counter in the picture."""
    from livevault.testsrc import describe_urls, run_testsrc

    base = f"http://{host}:{port}"
    for name in stream:
        for label, url in describe_urls(base, name).items():
            typer.echo(f"{label:>10}  {url}")
    run_testsrc(host, port, stream, segment_duration=segment_duration, window=window)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema (SQLite by default, DATABASE_URL for PostgreSQL)."""
    from livevault.bootstrap import migrate

    revision = migrate(_settings())
    typer.echo(f"database at revision {revision}")


@app.command()
def doctor() -> None:
    """Check the database, the recordings disk, PyAV and the optional ffmpeg binary."""
    from livevault.services.doctor import run_checks

    failed = False
    for check in run_checks(_settings()):
        mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        typer.echo(f"[{mark}] {check.name:<9} {check.detail}")
        failed |= check.required and not check.ok
    raise typer.Exit(1 if failed else 0)


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except LivevaultError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise SystemExit(1) from exc


if __name__ == "__main__":  # pragma: no cover
    main()
