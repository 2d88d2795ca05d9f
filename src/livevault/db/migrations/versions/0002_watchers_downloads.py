"""Watchers (auto-record when live), batch downloads (seed 003), and which watcher started a recording.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

from livevault.db.migrations.columns import CODE, ID, JSON, NAME, STATUS, ZERO, when

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create_watchers() -> None:
    op.create_table(
        "watchers",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("source_kind", CODE, nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("room_id", NAME, nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("user", NAME, nullable=True),
        sa.Column("poll_interval", sa.Float(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("recording_id", ID, nullable=True),
        sa.Column("live_state", STATUS, nullable=True),
        sa.Column("error_code", CODE, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("checks", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("recordings_count", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.Column("last_run_at", when(), nullable=True),
        sa.Column("last_live_at", when(), nullable=True),
        sa.Column("next_check_at", when(), nullable=False),
        sa.Column("lease_owner", NAME, nullable=True),
        sa.Column("lease_token", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("lease_expires_at", when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_watchers"),
        sa.UniqueConstraint("key", name="uq_watchers_key"),
    )
    op.create_index("ix_watchers_status", "watchers", ["status"])
    op.create_index("ix_watchers_next_check_at", "watchers", ["next_check_at"])


def _create_downloads() -> None:
    op.create_table(
        "downloads",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("strategy", CODE, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("file_path", sa.Text(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("author", NAME, nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("video_info", JSON, nullable=True),
        sa.Column("keyframes", JSON, nullable=True),
        sa.Column("execution_time", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("error_code", CODE, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("started_at", when(), nullable=True),
        sa.Column("ended_at", when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_downloads"),
    )
    op.create_index("ix_downloads_batch_id", "downloads", ["batch_id"])
    op.create_index("ix_downloads_status", "downloads", ["status"])


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("watcher_key", sa.Text(), nullable=True))
        batch.create_index("ix_recordings_watcher_key", ["watcher_key"])
    _create_watchers()
    _create_downloads()


def downgrade() -> None:
    op.drop_table("downloads")
    op.drop_table("watchers")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_index("ix_recordings_watcher_key")
        batch.drop_column("watcher_key")
