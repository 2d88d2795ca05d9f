"""Database fixtures for every test package (listed in `pytest_plugins` of tests/conftest.py).

`database_url` runs a test once on SQLite (a fresh temp file) and once on PostgreSQL. The
PostgreSQL server is DATABASE_URL when that names one (else postgres@127.0.0.1:5432); the fixtures
CREATE a uniquely named database for this test session (`livevault_test_<pid>_<hex>`), migrate it,
empty its tables before each test, and DROP only that database at the end. When the server cannot
be reached the PostgreSQL variants are skipped, unless LIVEVAULT_REQUIRE_POSTGRES=1 (CI) fails them.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from livevault.db.session import create_engine_for, make_session_factory, normalize_url, upgrade
from livevault.db.tables import Base
from livevault.domain.recording import Job, JobStatus, Recording, RecordingStatus

__all__ = [
    "blank_database_url",
    "database_url",
    "db_engine",
    "db_session",
    "db_session_factory",
    "make_job",
    "make_recording",
    "postgres_database_url",
    "postgres_test_database",
    "sqlite_database_url",
    "sqlite_template",
]

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DIALECTS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


# -- PostgreSQL: one database per test session, created and dropped here --------------------


def postgres_server_url() -> URL:
    """The server to create test databases on (DATABASE_URL if it names PostgreSQL)."""
    env = os.environ.get("DATABASE_URL", "")
    return normalize_url(env if env.startswith(("postgres://", "postgresql")) else DEFAULT_POSTGRES)


def _admin_engine(server: URL) -> Engine:
    """A connection to the server's maintenance database, or skip (fail in CI) when unreachable."""
    engine = create_engine(
        server, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        where = server.render_as_string(hide_password=True)
        reason = f"PostgreSQL not reachable at {where} ({str(exc).splitlines()[0]})"
        if os.environ.get("LIVEVAULT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}; LIVEVAULT_REQUIRE_POSTGRES=1 requires it", pytrace=False)
        pytest.skip(f"{reason}; set DATABASE_URL, or LIVEVAULT_REQUIRE_POSTGRES=1 to fail instead")
    return engine


@contextmanager
def scratch_postgres_database(prefix: str = "livevault_test") -> Iterator[str]:
    """CREATE a new, uniquely named database; yield its URL; DROP it (and only it) afterwards."""
    server = postgres_server_url()
    admin = _admin_engine(server)
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            _drop_database(admin, name)
    finally:
        admin.dispose()


def _drop_database(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        try:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except SQLAlchemyError:  # PostgreSQL < 13 has no FORCE: end our own sessions on it first
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(name)s "
                "AND pid <> pg_backend_pid()",
                {"name": name},
            )
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def postgres_test_database() -> Iterator[str]:
    """The migrated PostgreSQL database of this test session (its URL)."""
    with scratch_postgres_database() as url:
        upgrade(url)
        yield url


def _empty_tables(url: str) -> None:
    names = ", ".join(f'"{table.name}"' for table in reversed(Base.metadata.sorted_tables))
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


@pytest.fixture
def postgres_database_url(postgres_test_database: str) -> str:
    """The session's PostgreSQL database, migrated and with every table empty."""
    _empty_tables(postgres_test_database)
    return postgres_test_database


# -- SQLite: a fresh file per test, copied from one migrated template ------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "livevault.db"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def sqlite_database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A new migrated SQLite file for this test."""
    path = tmp_path / "db" / "livevault.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


# -- both dialects ----------------------------------------------------------------------------


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database: SQLite, then PostgreSQL."""
    name = "sqlite_database_url" if request.param == "sqlite" else "postgres_database_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(params=DIALECTS)
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it (not migrated), of its own; dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank' / 'livevault.db'}"
        return
    with scratch_postgres_database("livevault_blank") as url:
        yield url


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session_factory(db_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(db_engine)


@pytest.fixture
def db_session(db_session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for the test; whatever it did not commit is rolled back."""
    session = db_session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


# -- builders -----------------------------------------------------------------------------------


def make_recording(n: int = 0, **overrides: Any) -> Recording:
    """A pending recording with a predictable id and created_at (T0 + n minutes)."""
    values: dict[str, Any] = {
        "id": f"00000000-0000-0000-0000-{n:012d}",
        "source_kind": "direct",
        "source": f"https://example.com/live/{n}.m3u8",
        "url": f"https://example.com/live/{n}.m3u8",
        "status": RecordingStatus.PENDING,
        "created_at": T0 + timedelta(minutes=n),
    }
    values.update(overrides)
    return Recording(**values)


def make_job(job_id: str, recording_id: str | None = None, **overrides: Any) -> Job:
    values: dict[str, Any] = {
        "id": job_id,
        "kind": "record",
        "status": JobStatus.PENDING,
        "created_at": T0,
        "recording_id": recording_id,
    }
    values.update(overrides)
    return Job(**values)
