"""Engines for SQLite and PostgreSQL, session factories, readiness, and Alembic run in-process.

SQLite gets WAL, `synchronous=NORMAL`, a 5 s busy timeout and foreign keys on every connection.
PostgreSQL URLs (`postgres://`, `postgresql://`) are pointed at the psycopg 3 driver.
Migrations live in the `migrations` folder of this package; no `alembic.ini` is needed.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection
    from sqlalchemy.engine import URL

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
MIGRATION_BUSY_TIMEOUT_MS = 120_000
# Any constant works; it only has to be the same in every process migrating one database.
_MIGRATION_LOCK_KEY = 0x4C5641554C54  # "LVAULT"
_PG_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


def normalize_url(url: str) -> URL:
    """Parse a database URL; bare `postgres://` / `postgresql://` get the psycopg 3 driver."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in _PG_SCHEMES:
        url = f"{_PG_SCHEMES[scheme]}://{rest}"
    return make_url(url)


def create_engine_for(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_recycle: int = 1800,
    connect_timeout: int = 10,
    echo: bool = False,
) -> Engine:
    """An engine for `url` (SQLite file or memory, or PostgreSQL), tuned for this project.

    The pool and timeout arguments apply to PostgreSQL; SQLite connections are cheap and local.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    return create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=pool_recycle,
        connect_args={"connect_timeout": connect_timeout},
        echo=echo,
    )


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}, "echo": echo}
    if in_memory:
        options["poolclass"] = StaticPool  # one shared connection, or every session sees an empty DB
    else:
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch to WAL (a persistent setting), retrying while another connection locks the file.

    SQLite answers a journal-mode change with "database is locked" at once, without waiting on the
    busy timeout, when several processes open a new database together.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode not in ("wal", "memory"):
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for repositories; rows are expired on commit, so a reused session never reads stale data."""
    return sessionmaker(bind=engine)


def check(engine: Engine) -> bool:
    """Readiness: does the database answer `SELECT 1`?"""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1
    except (SQLAlchemyError, OSError):
        return False


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configured in code: the packaged script folder and, optionally, a live connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema revision stamped in the database, or None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Migrate to `revision` (default: newest). Safe to run from several processes at once."""
    with _engine(target) as engine, migration_connection(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(target: str | Engine, revision: str = "base") -> None:
    with _engine(target) as engine, migration_connection(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


@contextmanager
def _engine(target: str | Engine) -> Iterator[Engine]:
    if not isinstance(target, str):
        yield target
        return
    engine = create_engine_for(target)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection holding the database's migration lock, committed when the block succeeds.

    PostgreSQL: a transaction-scoped advisory lock, and DDL is transactional. SQLite: foreign keys
    off (so a batch table rebuild cannot cascade-delete rows) and `BEGIN IMMEDIATE`, which makes
    the whole migration one transaction and makes other writers wait for it.
    """
    if engine.dialect.name == "sqlite":
        with _sqlite_migration_connection(engine) as connection:
            yield connection
        return
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        yield connection
        connection.commit()


@contextmanager
def _sqlite_migration_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql(f"PRAGMA busy_timeout={MIGRATION_BUSY_TIMEOUT_MS}")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
