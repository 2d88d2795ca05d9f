"""Alembic environment for SQLite and PostgreSQL.

`livevault.db.session.upgrade` passes an open connection (holding the migration lock) in
`config.attributes["connection"]`. Without one (e.g. `alembic -x` tooling), the URL comes from
the `sqlalchemy.url` option or, failing that, from the settings (DATABASE_URL / data dir).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic import context

from livevault.db.session import create_engine_for, migration_connection, normalize_url
from livevault.db.tables import Base

if TYPE_CHECKING:
    from sqlalchemy import Connection

target_metadata = Base.metadata


def _database_url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from livevault.config import load_settings

    return load_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = normalize_url(_database_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.get_backend_name() == "sqlite",
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine_for(_database_url())
    try:
        with migration_connection(engine) as owned:
            _run(owned)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
