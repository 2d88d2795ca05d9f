"""`files()` is served by the `ix_recordings_files` index and stays fast with 100k recordings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, Table, event, insert, text
from sqlalchemy.orm import Session, sessionmaker

from livevault.db.repositories import RecordingRepository
from livevault.db.tables import RecordingRow
from livevault.domain.recording import RecordingStatus
from tests.dbfixtures import T0

BASE_ROWS = 1_563
DOUBLINGS = 6  # 1,563 * 2**6 = 100,032 recordings
RECORDINGS: Table = RecordingRow.__table__  # type: ignore[assignment]
STATUSES = [RecordingStatus.COMPLETED, RecordingStatus.FAILED, RecordingStatus.PENDING]
COPIED = "source_kind, source, url, room_id, status, options, file_path, created_at, completed_at, updated_at"


def _base_row(n: int) -> dict[str, Any]:
    status = STATUSES[n % 3]
    done = status is RecordingStatus.COMPLETED
    return {
        "id": f"rec-{n:08d}",
        "source_kind": "direct",
        "source": f"https://example.com/{n % 500}.m3u8",
        "url": f"https://example.com/{n % 500}.m3u8",
        "room_id": f"room-{n % 1000}",
        "status": status.value,
        "options": {},
        "file_path": f"f/{n}.mp4" if done and n % 2 else None,
        "created_at": T0 + timedelta(seconds=n),
        "completed_at": T0 + timedelta(seconds=n + 60) if done else None,
        "updated_at": T0,
    }


def _seed(session: Session) -> int:
    """About 100k recordings (a few in SQL, then doubled in the database); returns how many have a file."""
    rows = [_base_row(n) for n in range(BASE_ROWS)]
    session.execute(insert(RECORDINGS), rows)  # Core executemany: one batch
    for k in range(DOUBLINGS):
        session.execute(text(f"INSERT INTO recordings (id, {COPIED}) SELECT id || '-{k}', {COPIED} FROM recordings"))
    session.commit()
    with_file: int = sum(1 for row in rows if row["file_path"])
    return with_file << DOUBLINGS


@contextmanager
def _captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def _plan(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("ANALYZE recordings")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
        return "\n".join(str(row[0]) for row in rows)


def test_files_uses_the_index_and_is_fast(db_engine: Engine, db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory() as session:
        expected = _seed(session)
    with db_session_factory() as session, _captured(db_engine) as statements:
        repo = RecordingRepository(session)
        started = time.perf_counter()
        items, total = repo.files(limit=50, offset=100)
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0, f"files() took {elapsed:.3f}s"
        repo.files(room_id="room-3", limit=50)
    assert total == expected
    assert len(items) == 50
    completed = [r.completed_at for r in items if r.completed_at is not None]
    assert len(completed) == len(items)
    assert completed == sorted(completed, reverse=True)
    count_sql, page_sql = statements[:2]
    for statement, parameters in (count_sql, page_sql):
        plan = _plan(db_engine, statement, parameters)
        assert "ix_recordings_files" in plan, plan
        assert "TEMP B-TREE" not in plan.upper(), plan  # no sort: the index gives the order
