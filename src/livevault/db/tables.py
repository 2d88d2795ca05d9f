"""The schema, as SQLAlchemy 2 typed declarative tables that work on SQLite and PostgreSQL.

Every datetime column is `UTCDateTime`: values go in and come out as timezone-aware UTC on both
dialects (SQLite keeps no offset, so it stores naive UTC and the offset is restored on read).
Times in the capture ledger (`recording_parts`, `segments`, `gaps`) are float Unix seconds, as in
`livevault.domain.capture`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 64
NAME_LENGTH = 255
CODE_LENGTH = 64
STATUS_LENGTH = 16
CAPTURING_WHERE = "status IN ('pending', 'recording')"  # domain.recording.CAPTURING_RECORDING_STATUSES


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that always yields aware UTC; naive input is taken to be UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only autoincrements an `INTEGER PRIMARY KEY`; elsewhere the ledger ids are 64-bit.
BigIntPk = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JsonType}


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(CODE_LENGTH))
    source: Mapped[str] = mapped_column(Text, index=True)
    url: Mapped[str | None] = mapped_column(Text)
    room_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH), index=True)
    stream_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH), index=True)
    video_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    title: Mapped[str | None] = mapped_column(Text)
    quality: Mapped[str] = mapped_column(String(CODE_LENGTH), default="best", server_default="best")
    duration_limit: Mapped[int | None] = mapped_column(Integer)
    output_template: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), index=True)
    file_path: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    duration: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    video_codec: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    audio_codec: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    thumbnail_path: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    error_message: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    spool_dir: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    segments_captured: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    segments_missing: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    bytes_captured: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    parts_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Leases, for running recordings on several workers (a later issue); unused for now.
    lease_owner: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    watcher_key: Mapped[str | None] = mapped_column(Text, index=True)
    # One source, one recording: `domain.source_key`; unique among capturing recordings (index below).
    source_key: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    api_key_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)  # the managed key that made it
    health: Mapped[dict[str, Any] | None] = mapped_column()  # a running capture's health (services.progress)
    verify_mode: Mapped[str | None] = mapped_column(String(CODE_LENGTH))  # sampled | full | off

    __table_args__ = (
        # `files()`: completed recordings that have a file, newest completed first. Partial on
        # `file_path IS NOT NULL` (no bound parameter, so every plan can use it) and covering, so
        # the page and its count never touch the table.
        Index(
            "ix_recordings_files",
            "status",
            "completed_at",
            "id",
            sqlite_where=text("file_path IS NOT NULL"),
            postgresql_where=text("file_path IS NOT NULL"),
        ),
        # At most one pending or recording recording per source (CAPTURING_RECORDING_STATUSES), across every
        # API process and worker; a NULL key (rows from before the key existed) never conflicts.
        Index(
            "uq_recordings_capturing_source",
            "source_key",
            unique=True,
            sqlite_where=text(CAPTURING_WHERE),
            postgresql_where=text(CAPTURING_WHERE),
        ),
    )


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(CODE_LENGTH))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    recording_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("recordings.id", ondelete="SET NULL"), index=True
    )
    result: Mapped[dict[str, Any] | None] = mapped_column()
    error_code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    error_message: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PartRow(Base):
    __tablename__ = "recording_parts"

    recording_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    path: Mapped[str] = mapped_column(Text)
    container: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    reason: Mapped[str] = mapped_column(String(CODE_LENGTH))
    started_at: Mapped[float] = mapped_column(Float)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class SegmentRow(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("recordings.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(BigInteger)
    discontinuity_sequence: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    duration: Mapped[float] = mapped_column(Float)
    bytes: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger)
    program_date_time: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    discontinuity: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    fetched_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_segments_recording_part_sequence", "recording_id", "part", "sequence"),)


class GapRow(Base):
    __tablename__ = "gaps"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    part: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float] = mapped_column(Float)
    cause: Mapped[str] = mapped_column(String(CODE_LENGTH))
    from_sequence: Mapped[int | None] = mapped_column(BigInteger)
    to_sequence: Mapped[int | None] = mapped_column(BigInteger)
    missing_segments: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    duration: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))


class WatcherRow(Base):
    """A standing order: check `target` every `poll_interval` seconds and record while it is live."""

    __tablename__ = "watchers"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(Text, unique=True)
    source_kind: Mapped[str] = mapped_column(String(CODE_LENGTH))
    target: Mapped[str] = mapped_column(Text)
    room_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    url: Mapped[str | None] = mapped_column(Text)
    user: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    poll_interval: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), index=True)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    recording_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    live_state: Mapped[str | None] = mapped_column(String(STATUS_LENGTH))
    error_code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    error_message: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    checks: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    recordings_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_run_at: Mapped[datetime | None] = mapped_column()
    last_live_at: Mapped[datetime | None] = mapped_column()
    next_check_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    # Retention of this watcher's recordings (None: no limit).
    max_recordings: Mapped[int | None] = mapped_column(Integer)
    max_bytes: Mapped[int | None] = mapped_column(BigInteger)
    retention_days: Mapped[float | None] = mapped_column(Float)
    api_key_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)  # the managed key that made it


class DownloadRow(Base):
    """One video of a `POST /downloads` batch (seed 003); the batch is a job."""

    __tablename__ = "downloads"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    url: Mapped[str] = mapped_column(Text)
    strategy: Mapped[str] = mapped_column(String(CODE_LENGTH))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), index=True)
    file_path: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    duration: Mapped[float | None] = mapped_column(Float)
    video_info: Mapped[dict[str, Any] | None] = mapped_column()
    keyframes: Mapped[dict[str, Any] | None] = mapped_column()
    execution_time: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    error_code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class RecordingFileRow(Base):
    """One finished file of a recording and where it is (local disk, a bucket, or both).

    `local_path` is the name claimed under RECORDINGS_DIR (unique: two recordings never share a file; kept
    after the local copy is removed so the name and its object key stay reserved). `bucket` + `key` are
    unique too. Upload state, attempts and the multipart upload id with its finished parts make an upload
    resumable after a restart or a takeover.
    """

    __tablename__ = "recording_files"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    recording_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    piece: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    local_path: Mapped[str] = mapped_column(Text, unique=True)
    bucket: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    key: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    checksum: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    location: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    state: Mapped[str] = mapped_column(String(STATUS_LENGTH), index=True)
    keep_local: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    claimed_until: Mapped[datetime | None] = mapped_column()
    upload_id: Mapped[str | None] = mapped_column(Text)
    part_size: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    parts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("bucket", "key", name="uq_recording_files_bucket_key"),)


class NotificationRow(Base):
    """One outbound event to one target (a durable queue; see `livevault.services.notify`)."""

    __tablename__ = "notifications"

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    event_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    event_type: Mapped[str] = mapped_column(String(CODE_LENGTH))
    stream: Mapped[str] = mapped_column(String(NAME_LENGTH))
    recording_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    target: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index("ix_notifications_status_next", "status", "next_attempt_at"),
        Index("ix_notifications_stream_target_seq", "stream", "target", "seq"),
        Index("uq_notifications_event_target", "event_id", "target", unique=True),
    )


class ApiKeyRow(Base):
    """An API key managed in the database (`livevault keys create`); only the key's SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    scope: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    prefix: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    key_hash: Mapped[str] = mapped_column(String(CODE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    max_recordings: Mapped[int | None] = mapped_column(Integer)
    max_watchers: Mapped[int | None] = mapped_column(Integer)


RECORDING_COLUMNS = frozenset(c.key for c in RecordingRow.__table__.columns)
JOB_COLUMNS = frozenset(c.key for c in JobRow.__table__.columns)
WATCHER_COLUMNS = frozenset(c.key for c in WatcherRow.__table__.columns)
DOWNLOAD_COLUMNS = frozenset(c.key for c in DownloadRow.__table__.columns)
