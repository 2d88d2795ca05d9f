"""API keys kept in the database: who holds one, what it may do, and its quotas. Only a hash of the key is kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A managed key: `prefix` finds the row, `key_hash` (SHA-256 of the whole key) proves the key."""

    id: str
    name: str
    scope: str
    prefix: str
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    max_recordings: int | None = None
    max_watchers: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class KeyQuota:
    """What a key may hold at once; None = no limit. Checked where recordings and watchers are created."""

    key_id: str
    max_recordings: int | None = None
    max_watchers: int | None = None
