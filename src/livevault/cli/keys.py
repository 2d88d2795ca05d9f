"""`livevault keys create|list|revoke`: API keys kept in the database the server reads (no server needed).

A key is printed once, when it is made; only its SHA-256 is stored. A revoked key is refused by every API
process from its next request on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import typer

from livevault.bootstrap import Container, build_container
from livevault.config import Settings
from livevault.domain.keys import ApiKey
from livevault.errors import LivevaultError

app = typer.Typer(help="API keys with a scope (read, record, admin) and quotas.", no_args_is_help=True)
T = TypeVar("T")


def _run(work: Callable[[Container], T]) -> T:
    async def main() -> T:
        container = build_container(Settings())
        try:
            return await asyncio.to_thread(work, container)
        finally:
            await container.close(timeout=1.0)

    try:
        return asyncio.run(main())
    except LivevaultError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from exc


def _line(k: ApiKey) -> str:
    used = k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "never"
    state = f"revoked {k.revoked_at.isoformat(timespec='seconds')}" if k.revoked_at else "active"
    quota = f"rec<={k.max_recordings if k.max_recordings is not None else '-'} " \
            f"watch<={k.max_watchers if k.max_watchers is not None else '-'}"
    return f"{k.id}  lvk_{k.prefix}_…  {k.scope:<6} {k.name:<24} used {used:<25} {quota}  {state}"


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Who or what holds the key"),
    scope: str = typer.Option(..., "--scope", help="read | record | admin"),
    max_recordings: int | None = typer.Option(None, "--max-recordings", help="Active recordings at once"),
    max_watchers: int | None = typer.Option(None, "--max-watchers", help="Watchers at once"),
) -> None:
    """Make a key and print it (once: only its hash is stored)."""
    created = _run(lambda c: c.keys.create(name, scope, max_recordings=max_recordings, max_watchers=max_watchers))
    typer.echo(_line(created.key), err=True)
    typer.echo(created.secret)


@app.command("list")
def list_keys() -> None:
    """Every managed key (never the key itself)."""
    for key in _run(lambda c: c.keys.list()):
        typer.echo(_line(key))


@app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key's id or prefix")) -> None:
    """Revoke a key; every API process refuses it from the next request on."""
    typer.echo(_line(_run(lambda c: c.keys.revoke(key_id))))
