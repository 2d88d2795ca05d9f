"""Engines, pragmas, readiness and URL handling."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from livevault.db.session import (
    check,
    create_engine_for,
    current_revision,
    head_revision,
    make_session_factory,
    normalize_url,
)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+psycopg"),
        ("postgresql://u:p@db/app", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/app", "postgresql+psycopg"),
        ("sqlite:////tmp/x.db", "sqlite"),
    ],
)
def test_normalize_url_uses_psycopg3(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


def test_postgres_engine_options() -> None:
    engine = create_engine_for("postgres://u@127.0.0.1:1/app", pool_size=3, max_overflow=7)
    try:
        assert engine.dialect.driver == "psycopg"
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 3
        assert pool._pre_ping
        assert check(engine) is False  # nothing listens on port 1
    finally:
        engine.dispose()


def test_sqlite_pragmas_and_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "livevault.db"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        assert pragma == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 5000, "foreign_keys": 1}
        assert path.parent.is_dir()
        assert check(engine)
    finally:
        engine.dispose()


def test_sqlite_connections_can_cross_threads(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'x.db'}")
    factory = make_session_factory(engine)
    session = factory()
    session.execute(text("SELECT 1"))
    errors: list[BaseException] = []

    def use() -> None:
        try:
            session.execute(text("SELECT 1"))
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    worker = threading.Thread(target=use)
    worker.start()
    worker.join()
    session.close()
    engine.dispose()
    assert errors == []


def test_in_memory_sqlite_is_one_shared_database() -> None:
    engine = create_engine_for("sqlite://")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT x FROM t").scalar() == 1
    finally:
        engine.dispose()


def test_check_and_revision(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        assert check(engine)
        assert current_revision(engine) == head_revision() == "0007"
    finally:
        engine.dispose()


def test_current_revision_of_unmigrated_database(blank_database_url: str) -> None:
    engine = create_engine_for(blank_database_url)
    try:
        assert check(engine)
        assert current_revision(engine) is None
    finally:
        engine.dispose()
