"""RecordingRepository on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from livevault.db.repositories import JobRepository, RecordingRepository
from livevault.db.tables import RecordingRow
from livevault.domain.recording import Recording, RecordingStatus
from livevault.errors import Conflict, NotFound
from tests.dbfixtures import T0, make_job, make_recording

S = RecordingStatus


def _full_recording() -> Recording:
    return make_recording(
        7,
        room_id="room-7",
        stream_id="stream-7",
        video_id="vid",
        title="Ünïcode title",
        quality="720p",
        duration_limit=3600,
        output_template="{room_id}/{started_at:%Y}.mp4",
        options={"proxy": "http://p:1", "headers": {"a": "b"}, "n": [1, 2]},
        job_id="job-7",
        file_path="room-7/x.mp4",
        file_size=5_000_000_000,
        duration=12.5,
        video_codec="h264",
        audio_codec="aac",
        width=1920,
        height=1080,
        fps=29.97,
        thumbnail_path="room-7/x.jpg",
        error_code=None,
        correlation_id="corr",
        started_at=T0 + timedelta(seconds=1),
        completed_at=T0 + timedelta(seconds=2),
        stop_requested=True,
        segments_captured=10,
        segments_missing=2,
        bytes_captured=3_000_000_000,
        parts_count=2,
    )


def test_domain_fields_are_all_columns() -> None:
    columns = {c.key for c in RecordingRow.__table__.columns}
    assert {f.name for f in fields(Recording)} <= columns


def test_add_and_get_round_trip(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    recording = _full_recording()
    assert repo.add(recording, spool_dir="/spool/7") == recording
    db_session.commit()
    db_session.expire_all()
    assert repo.get(recording.id) == recording
    assert repo.spool_dir(recording.id) == "/spool/7"
    assert repo.get("missing") is None


def test_add_duplicate_is_conflict(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1))
    db_session.commit()
    with pytest.raises(Conflict):
        repo.add(make_recording(1))


def test_datetimes_are_aware_utc(db_session_factory: sessionmaker[Session]) -> None:
    factory = db_session_factory
    plus_two = timezone(timedelta(hours=2))
    started = datetime(2024, 5, 1, 14, 0, tzinfo=plus_two)
    with factory() as session:
        repo = RecordingRepository(session)
        repo.add(make_recording(1, started_at=started, created_at=datetime(2024, 5, 1, 10, 0)))  # noqa: DTZ001
        session.commit()
    with factory() as session:
        got = RecordingRepository(session).get(make_recording(1).id)
    assert got is not None
    assert got.started_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert got.started_at is not None
    assert got.started_at.utcoffset() == timedelta(0)
    assert got.created_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # naive input is taken as UTC
    assert got.created_at.tzinfo is not None


def test_update(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1))
    updated = repo.update(make_recording(1).id, title="t", segments_captured=5, options={"x": 1})
    assert (updated.title, updated.segments_captured, updated.options) == ("t", 5, {"x": 1})
    db_session.commit()
    db_session.expire_all()
    assert repo.get(updated.id) == updated


def test_update_rejects_unknown_fields_status_and_missing_ids(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1))
    with pytest.raises(ValueError, match="nope"):
        repo.update(make_recording(1).id, nope=1)
    with pytest.raises(ValueError, match="set_status"):
        repo.update(make_recording(1).id, status=S.FAILED)
    with pytest.raises(NotFound):
        repo.update("missing", title="x")


def test_updated_at_moves(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1))
    row = db_session.get(RecordingRow, make_recording(1).id)
    assert row is not None
    row.updated_at = T0
    db_session.flush()
    repo.update(row.id, title="x")
    assert row.updated_at > T0


@pytest.mark.parametrize(
    ("start", "target"),
    [(S.PENDING, S.RECORDING), (S.RECORDING, S.PROCESSING), (S.PROCESSING, S.COMPLETED), (S.FAILED, S.PROCESSING)],
)
def test_set_status_allowed(db_session: Session, start: RecordingStatus, target: RecordingStatus) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1, status=start))
    done = T0 + timedelta(hours=1)
    got = repo.set_status(make_recording(1).id, target, completed_at=done, error_code="X")
    assert (got.status, got.completed_at, got.error_code) == (target, done, "X")
    db_session.commit()
    db_session.expire_all()
    assert repo.get(got.id) == got


@pytest.mark.parametrize(
    ("start", "target"),
    [(S.COMPLETED, S.RECORDING), (S.COMPLETED, S.FAILED), (S.FAILED, S.COMPLETED), (S.PENDING, S.COMPLETED)],
)
def test_set_status_conflict(db_session: Session, start: RecordingStatus, target: RecordingStatus) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1, status=start))
    with pytest.raises(Conflict) as info:
        repo.set_status(make_recording(1).id, target, title="ignored")
    assert info.value.details == {"id": make_recording(1).id, "status": start.value, "requested": target.value}
    got = repo.get(make_recording(1).id)
    assert got is not None
    assert (got.status, got.title) == (start, None)


def test_set_status_missing(db_session: Session) -> None:
    with pytest.raises(NotFound):
        RecordingRepository(db_session).set_status("missing", S.RECORDING)


def test_get_for_update(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1))
    db_session.commit()
    got = repo.get_for_update(make_recording(1).id)
    assert got == make_recording(1)
    assert repo.get_for_update("missing") is None


def test_request_stop_and_spool_dir(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1))
    assert repo.request_stop(make_recording(1).id).stop_requested is True
    assert repo.spool_dir(make_recording(1).id) is None
    with pytest.raises(NotFound):
        repo.request_stop("missing")
    with pytest.raises(NotFound):
        repo.spool_dir("missing")


def test_active_oldest_first(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    statuses = [S.COMPLETED, S.PROCESSING, S.FAILED, S.PENDING, S.RECORDING]
    for n, status in enumerate(statuses):
        repo.add(make_recording(n, status=status))
    assert [r.status for r in repo.active()] == [S.PROCESSING, S.PENDING, S.RECORDING]


def test_delete_cascades_and_unlinks_jobs(db_session: Session) -> None:
    recordings, jobs = RecordingRepository(db_session), JobRepository(db_session)
    rid = make_recording(1).id
    recordings.add(make_recording(1))
    recordings.add(make_recording(2))
    jobs.add(make_job("job-1", rid))
    db_session.commit()
    recordings.delete(rid)
    db_session.commit()
    assert recordings.get(rid) is None
    assert recordings.get(make_recording(2).id) is not None
    job = jobs.get("job-1")
    assert job is not None
    assert job.recording_id is None
    with pytest.raises(NotFound):
        recordings.delete(rid)


def _seed_list(repo: RecordingRepository) -> None:
    for n in range(12):
        repo.add(
            make_recording(
                n,
                status=S.COMPLETED if n % 3 == 0 else S.PENDING,
                source_kind="douyin" if n % 2 else "direct",
                room_id=f"room-{n % 4}",
                source=f"src-{n % 5}",
            )
        )
    # Same created_at as n=11: the id breaks the tie, descending.
    repo.add(make_recording(99, created_at=T0 + timedelta(minutes=11), status=S.FAILED))


def test_list_newest_first_with_pagination(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    _seed_list(repo)
    items, total = repo.list(limit=5)
    assert total == 13
    assert [r.id[-2:] for r in items] == ["99", "11", "10", "09", "08"]
    page2, _ = repo.list(limit=5, offset=5)
    page3, _ = repo.list(limit=5, offset=10)
    ids = [r.id for r in items + page2 + page3]
    assert len(set(ids)) == 13
    assert repo.list(limit=5, offset=50) == ([], 13)
    with pytest.raises(ValueError):
        repo.list(limit=-1)


def test_list_filters(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    _seed_list(repo)

    def ids(**kwargs: object) -> list[int]:
        items, total = repo.list(**kwargs)  # type: ignore[arg-type]
        assert total == len(items)
        return [int(r.id[-2:]) for r in items]

    assert ids(status=S.COMPLETED) == [9, 6, 3, 0]
    assert ids(completed_only=True) == [9, 6, 3, 0]
    assert ids(status=S.FAILED) == [99]
    assert ids(source_kind="douyin") == [11, 9, 7, 5, 3, 1]
    assert ids(room_id="room-1") == [9, 5, 1]
    assert ids(source="src-0") == [10, 5, 0]
    assert ids(url=make_recording(4).url) == [4]
    assert ids(created_from=T0 + timedelta(minutes=3), created_to=T0 + timedelta(minutes=5)) == [5, 4, 3]
    assert ids(status=S.PENDING, room_id="room-2", source_kind="direct") == [10, 2]


def test_files_completed_with_a_file_newest_completed_first(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    for n in range(6):
        repo.add(
            make_recording(
                n,
                status=S.COMPLETED,
                file_path=f"f{n}.mp4",
                file_size=n,
                room_id="a" if n % 2 else "b",
                completed_at=T0 + timedelta(hours=10 - n),  # older recordings completed later
            )
        )
    repo.add(make_recording(20, status=S.COMPLETED))  # no file
    repo.add(make_recording(21, status=S.FAILED, file_path="partial.mp4"))
    repo.add(make_recording(22, status=S.RECORDING))
    items, total = repo.files(limit=4)
    assert total == 6
    assert [r.file_path for r in items] == ["f0.mp4", "f1.mp4", "f2.mp4", "f3.mp4"]
    assert [r.file_path for r in repo.files(limit=4, offset=4)[0]] == ["f4.mp4", "f5.mp4"]
    assert [r.file_path for r in repo.files(room_id="a")[0]] == ["f1.mp4", "f3.mp4", "f5.mp4"]
    assert [r.file_path for r in repo.files(url=make_recording(2).url)[0]] == ["f2.mp4"]
    window = repo.files(from_=T0 + timedelta(hours=6), to=T0 + timedelta(hours=8))
    assert ([r.file_path for r in window[0]], window[1]) == (["f2.mp4", "f3.mp4", "f4.mp4"], 3)


def test_list_returns_independent_options(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1, options={"a": 1}))
    got = repo.get(make_recording(1).id)
    assert got is not None
    got.options["a"] = 2
    assert repo.get(got.id) == replace(got, options={"a": 1})


def test_progress_of_many_recordings_is_saved_at_once_and_stops_are_seen(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    first, second = make_recording(1), make_recording(2)
    repo.add(first)
    repo.add(second)
    repo.save_progress([
        {"id": first.id, "segments_captured": 5, "segments_missing": 1, "bytes_captured": 999, "parts_count": 2},
        {"id": second.id, "segments_captured": 7, "segments_missing": 0, "bytes_captured": 10, "parts_count": 1},
    ])
    repo.save_progress([])
    row = repo.get(first.id)
    assert row is not None
    assert (row.segments_captured, row.segments_missing, row.bytes_captured, row.parts_count) == (5, 1, 999, 2)
    assert repo.stop_requested([first.id, second.id]) == set()
    repo.request_stop(second.id)
    assert repo.stop_requested([first.id, second.id, "unknown"]) == {second.id}
    assert repo.stop_requested([]) == set()
