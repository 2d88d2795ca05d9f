"""Alembic migrations on a fresh database, both dialects."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from livevault.db.session import alembic_config, create_engine_for, current_revision, downgrade, head_revision, upgrade
from livevault.db.tables import Base

TABLES = {"recordings", "jobs", "recording_parts", "segments", "gaps"}


def _tables(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_fresh_database_then_downgrade_to_base(blank_database_url: str) -> None:
    upgrade(blank_database_url)
    assert TABLES <= _tables(blank_database_url)
    engine = create_engine_for(blank_database_url)
    try:
        assert current_revision(engine) == head_revision()
        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert not (TABLES & set(inspect(engine).get_table_names()))
        upgrade(engine)
        upgrade(engine)  # already at head: a no-op
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migration_matches_the_models(blank_database_url: str) -> None:
    upgrade(blank_database_url)
    engine = create_engine_for(blank_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_expected_indexes(blank_database_url: str) -> None:
    upgrade(blank_database_url)
    engine = create_engine_for(blank_database_url)
    try:
        inspector = inspect(engine)
        recordings = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("recordings")}
        segments = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("segments")}
        jobs = {ix["name"] for ix in inspector.get_indexes("jobs")}
        fks = {fk["referred_table"]: fk["options"].get("ondelete") for fk in inspector.get_foreign_keys("segments")}
    finally:
        engine.dispose()
    for column in ("status", "created_at", "room_id", "source", "stream_id"):
        assert recordings[f"ix_recordings_{column}"] == [column]
    assert recordings["ix_recordings_files"] == ["status", "completed_at", "id"]
    assert segments["ix_segments_recording_part_sequence"] == ["recording_id", "part", "sequence"]
    assert "ix_jobs_recording_id" in jobs
    assert fks == {"recordings": "CASCADE"}


def test_concurrent_upgrades_do_not_collide(blank_database_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(blank_database_url)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert TABLES <= _tables(blank_database_url)


@pytest.mark.parametrize("url", ["sqlite:////tmp/never-created.db", "postgres://u@db.invalid/app"])
def test_offline_sql(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--sql` mode renders the migration as a script, without connecting."""
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head", sql=True)
    script = capsys.readouterr().out
    assert "CREATE TABLE recordings" in script
    assert (
        "CREATE INDEX ix_recordings_files ON recordings (status, completed_at, id) WHERE file_path IS NOT NULL"
        in script
    )
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in script
