"""One source, one recording (`recordings.source_key` + a partial unique index over capturing recordings);
retention (`recordings.pinned`, per-watcher `max_recordings`, `max_bytes`, `retention_days`).

Existing recordings get their source key computed by `domain.source_key.recording_source_key`. Should two
capturing recordings of one source exist already, only the oldest gets the key (a NULL key never conflicts),
so the upgrade cannot fail on old data.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import context, op

from livevault.domain.source_key import recording_source_key

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CAPTURING_WHERE = "status IN ('pending', 'recording')"
INDEX = "uq_recordings_capturing_source"
_BATCH = 1000


def _backfill() -> None:
    recordings = sa.table(
        "recordings", sa.column("id", sa.String), sa.column("source_kind", sa.String), sa.column("source", sa.Text),
        sa.column("status", sa.String), sa.column("created_at", sa.DateTime), sa.column("source_key", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(recordings.c.id, recordings.c.source_kind, recordings.c.source, recordings.c.status)
        .order_by(recordings.c.created_at, recordings.c.id)
    ).all()
    taken: set[str] = set()
    updates: list[dict[str, str]] = []
    for rid, kind, source, status in rows:
        key = recording_source_key(kind, source)
        if status in ("pending", "recording"):
            if key in taken:
                continue
            taken.add(key)
        updates.append({"rid": rid, "key": key})
    statement = recordings.update().where(recordings.c.id == sa.bindparam("rid")).values(
        source_key=sa.bindparam("key"))
    for start in range(0, len(updates), _BATCH):
        connection.execute(statement, updates[start:start + _BATCH])


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite supports them without a table copy, also in offline --sql mode).
    op.add_column("recordings", sa.Column("source_key", sa.String(255), nullable=True))
    op.add_column("recordings", sa.Column("pinned", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("watchers", sa.Column("max_recordings", sa.Integer(), nullable=True))
    op.add_column("watchers", sa.Column("max_bytes", sa.BigInteger(), nullable=True))
    op.add_column("watchers", sa.Column("retention_days", sa.Float(), nullable=True))
    if not context.is_offline_mode():
        _backfill()
    op.create_index(INDEX, "recordings", ["source_key"], unique=True,
                    sqlite_where=sa.text(CAPTURING_WHERE), postgresql_where=sa.text(CAPTURING_WHERE))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="recordings")
    with op.batch_alter_table("watchers") as batch:
        batch.drop_column("retention_days")
        batch.drop_column("max_bytes")
        batch.drop_column("max_recordings")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("pinned")
        batch.drop_column("source_key")
