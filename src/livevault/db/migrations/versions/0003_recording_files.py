"""Stored files of recordings: where each video and thumbnail is (local, S3, both) and its upload state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

from livevault.db.migrations.columns import CODE, ID, JSON, NAME, STATUS, ZERO, when

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recording_files",
        sa.Column("id", ID, nullable=False),
        sa.Column("recording_id", ID, nullable=False),
        sa.Column("kind", STATUS, nullable=False),
        sa.Column("piece", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("local_path", sa.Text(), nullable=False),
        sa.Column("bucket", NAME, nullable=True),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("checksum", CODE, nullable=True),
        sa.Column("location", STATUS, nullable=False),
        sa.Column("state", STATUS, nullable=False),
        sa.Column("keep_local", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("next_attempt_at", when(), nullable=True),
        sa.Column("claimed_by", NAME, nullable=True),
        sa.Column("claimed_until", when(), nullable=True),
        sa.Column("upload_id", sa.Text(), nullable=True),
        sa.Column("part_size", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("parts", JSON, nullable=False),
        sa.Column("error_code", CODE, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.Column("uploaded_at", when(), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"], ondelete="CASCADE",
                                name="fk_recording_files_recording_id_recordings"),
        sa.PrimaryKeyConstraint("id", name="pk_recording_files"),
        sa.UniqueConstraint("local_path", name="uq_recording_files_local_path"),
        sa.UniqueConstraint("bucket", "key", name="uq_recording_files_bucket_key"),
    )
    op.create_index("ix_recording_files_recording_id", "recording_files", ["recording_id"])
    op.create_index("ix_recording_files_state", "recording_files", ["state"])


def downgrade() -> None:
    op.drop_table("recording_files")
