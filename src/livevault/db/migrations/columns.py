"""Column types the migrations share. Append only: a migration that ran must keep meaning what it meant, so a
type here is never changed; a new shape gets a new name."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

ID = sa.String(64)
NAME = sa.String(255)
CODE = sa.String(64)
STATUS = sa.String(16)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ZERO = sa.text("0")


def when() -> sa.DateTime:
    """A timestamp with its time zone."""
    return sa.DateTime(timezone=True)
