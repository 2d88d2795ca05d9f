"""API keys managed in the database (hashed, scoped, revocable, with quotas), which key made a recording or
a watcher (for the quotas), and a running recording's health (for the metrics).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

from livevault.db.migrations.columns import CODE, ID, JSON, NAME, STATUS, when

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("scope", STATUS, nullable=False),
        sa.Column("prefix", CODE, nullable=False),
        sa.Column("key_hash", CODE, nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("last_used_at", when(), nullable=True),
        sa.Column("revoked_at", when(), nullable=True),
        sa.Column("max_recordings", sa.Integer(), nullable=True),
        sa.Column("max_watchers", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    for table in ("recordings", "watchers"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("api_key_id", ID, nullable=True))
            batch.create_index(f"ix_{table}_api_key_id", ["api_key_id"])
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("health", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("health")
    for table in ("watchers", "recordings"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_api_key_id")
            batch.drop_column("api_key_id")
    op.drop_table("api_keys")
