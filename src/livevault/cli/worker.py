"""`livevault worker` and `livevault scheduler`: the Celery processes of the distributed mode.

Both start the module-level Celery app `livevault.worker.celery_app` (the one `celery -A` and Flower use),
so they read their configuration from the environment like every other livevault process.
"""

from __future__ import annotations

import typer

DEFAULT_QUEUES = "default,recording,upload"


def worker(
    queues: str = typer.Option(DEFAULT_QUEUES, "--queues", "-Q", help="Comma-separated queues to consume"),
    concurrency: int = typer.Option(
        100, "--concurrency", "-c", min=1, max=2000,
        help="Jobs at once in this process (task threads; one recording holds one for its whole length)",
    ),
    loglevel: str | None = typer.Option(None, "--loglevel", "-l", help="Log level (default LOG_LEVEL)"),
    hostname: str = typer.Option("celery@%h", "--hostname", "-n", help="Node name (%h: host name)"),
) -> None:
    """Run a Celery worker: recordings, finalizing, downloads and watcher passes (distributed mode)."""
    from livevault.worker.celery_app import app, queue_names, settings

    level = (loglevel or settings.log_level).upper()
    app.worker_main(argv=[
        "worker", "--pool", "threads", "--concurrency", str(concurrency), "--queues", ",".join(queue_names(queues)),
        "--hostname", hostname, "--loglevel", level,
    ])


def scheduler(
    loglevel: str | None = typer.Option(None, "--loglevel", "-l", help="Log level (default LOG_LEVEL)"),
) -> None:
    """Run Celery beat: a watcher pass every second, a lease sweep every two, the cleanup job every
    LIVEVAULT_RETENTION_INTERVAL seconds. Run exactly one."""
    from livevault.worker.celery_app import app, settings

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    level = (loglevel or settings.log_level).upper()
    app.start(argv=["beat", "--loglevel", level, "--schedule", str(settings.data_dir / "celerybeat-schedule")])
