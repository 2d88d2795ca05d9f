"""`livevault retention [--dry-run] [--json]`: run the cleanup job once, or list what it would delete and why."""

from __future__ import annotations

import asyncio
import json

import typer

from livevault.bootstrap import build_container
from livevault.config import Settings
from livevault.errors import LivevaultError
from livevault.services.retention.service import RetentionReport


def _run(dry_run: bool) -> RetentionReport:
    async def main() -> RetentionReport:
        container = build_container(Settings())
        try:
            return await asyncio.to_thread(container.retention.run, dry_run=dry_run)
        finally:
            await container.close(timeout=1.0)

    return asyncio.run(main())


def retention(
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Only list what would be deleted, and why"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Apply the retention policy (LIVEVAULT_RETENTION_DAYS, watcher limits, disk watermark) once."""
    try:
        report = _run(dry_run)
    except LivevaultError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    disk = report.plan.disk
    if disk is not None:
        state = "LOW: new recordings refused" if disk.low else ("ALERT" if disk.alert else "ok")
        typer.echo(f"disk: {disk.free_bytes} bytes free, {disk.used_percent:g} % used ({state})")
    verb = "would" if dry_run else "will"
    if not report.plan.decisions:
        typer.echo(f"nothing to delete ({report.plan.considered} finished, unpinned recordings looked at)")
    for decision in report.plan.decisions:
        outcome = "" if dry_run else (" [skipped: " + report.skipped[decision.recording_id] + "]"
                                      if decision.recording_id in report.skipped else " [done]")
        typer.echo(f"{decision.recording_id}  {verb} {decision.action.value}  {decision.bytes} bytes{outcome}")
        for reason in decision.reasons:
            typer.echo(f"    - {reason}")
    if not dry_run:
        typer.echo(f"removed {len(report.done)}, freed {report.freed_bytes} bytes")
