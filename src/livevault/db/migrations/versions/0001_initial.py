"""Initial schema: recordings, jobs, and the capture ledger (parts, segments, gaps).

Revision ID: 0001
Revises:
Create Date: 2024-11-23
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import op

from livevault.db.migrations.columns import BIGINT_PK, CODE, ID, JSON, NAME, STATUS, ZERO, when

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _recording_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", ID, nullable=False),
        sa.Column("source_kind", CODE, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("room_id", NAME, nullable=True),
        sa.Column("stream_id", NAME, nullable=True),
        sa.Column("video_id", NAME, nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("quality", CODE, server_default="best", nullable=False),
        sa.Column("duration_limit", sa.Integer(), nullable=True),
        sa.Column("output_template", sa.Text(), nullable=True),
        sa.Column("options", JSON, nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("file_path", sa.Text(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("duration", sa.Float(), server_default=ZERO, nullable=False),
        sa.Column("video_codec", CODE, nullable=True),
        sa.Column("audio_codec", CODE, nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("thumbnail_path", sa.Text(), nullable=True),
        sa.Column("error_code", CODE, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("correlation_id", NAME, nullable=True),
        sa.Column("spool_dir", sa.Text(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("started_at", when(), nullable=True),
        sa.Column("completed_at", when(), nullable=True),
        sa.Column("updated_at", when(), nullable=False),
        sa.Column("stop_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("segments_captured", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("segments_missing", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("bytes_captured", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("parts_count", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("lease_owner", NAME, nullable=True),
        sa.Column("lease_token", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("lease_expires_at", when(), nullable=True),
    ]


def _create_recordings() -> None:
    op.create_table("recordings", *_recording_columns(), sa.PrimaryKeyConstraint("id", name="pk_recordings"))
    for column in ("status", "created_at", "room_id", "source", "stream_id"):
        op.create_index(f"ix_recordings_{column}", "recordings", [column])
    op.create_index(
        "ix_recordings_files",
        "recordings",
        ["status", "completed_at", "id"],
        sqlite_where=sa.text("file_path IS NOT NULL"),
        postgresql_where=sa.text("file_path IS NOT NULL"),
    )


def _create_jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", CODE, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("recording_id", ID, nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error_code", CODE, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("correlation_id", NAME, nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("started_at", when(), nullable=True),
        sa.Column("ended_at", when(), nullable=True),
        sa.Column("updated_at", when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name="fk_jobs_recording_id_recordings", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_recording_id", "jobs", ["recording_id"])


def _recording_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["recording_id"], ["recordings.id"], name=f"fk_{table}_recording_id_recordings", ondelete="CASCADE"
    )


def _create_ledger() -> None:
    op.create_table(
        "recording_parts",
        sa.Column("recording_id", ID, nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("container", STATUS, nullable=False),
        sa.Column("reason", CODE, nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), server_default=ZERO, nullable=False),
        _recording_fk("recording_parts"),
        sa.PrimaryKeyConstraint("recording_id", "idx", name="pk_recording_parts"),
    )
    op.create_table(
        "segments",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("recording_id", ID, nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("discontinuity_sequence", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("program_date_time", CODE, nullable=True),
        sa.Column("discontinuity", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("fetched_at", sa.Float(), nullable=False),
        _recording_fk("segments"),
        sa.PrimaryKeyConstraint("id", name="pk_segments"),
    )
    op.create_index("ix_segments_recording_part_sequence", "segments", ["recording_id", "part", "sequence"])
    op.create_table(
        "gaps",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("recording_id", ID, nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=False),
        sa.Column("cause", CODE, nullable=False),
        sa.Column("from_sequence", sa.BigInteger(), nullable=True),
        sa.Column("to_sequence", sa.BigInteger(), nullable=True),
        sa.Column("missing_segments", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("duration", sa.Float(), server_default=ZERO, nullable=False),
        _recording_fk("gaps"),
        sa.PrimaryKeyConstraint("id", name="pk_gaps"),
    )
    op.create_index("ix_gaps_recording_id", "gaps", ["recording_id"])


def upgrade() -> None:
    _create_recordings()
    _create_jobs()
    _create_ledger()


def downgrade() -> None:
    for table in ("gaps", "segments", "recording_parts", "jobs", "recordings"):
        op.drop_table(table)
