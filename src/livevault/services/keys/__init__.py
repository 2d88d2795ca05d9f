"""API keys managed in the database: creating one (the key is shown once, only its SHA-256 is stored), listing,
revoking, checking a presented key (no cache: a revoked key is refused on the very next request, by every API
process), the last-used time (written at most once per interval), and the per-key quotas on active recordings
and watchers, which `RecordingService.create` and `WatcherService.create` check in their own transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from livevault.db.repositories import ApiKeyRepository
from livevault.domain.keys import ApiKey, KeyQuota
from livevault.errors import InvalidInput, NotFound, QuotaExceeded

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from livevault.services.uow import Database

KEY_PREFIX = "lvk_"
SCOPES = ("read", "record", "admin")
_KEY = re.compile(r"^lvk_([0-9a-f]{12})_([0-9a-f]{64})$")
_NAME = re.compile(r"^[\w .@:/+-]{1,100}$")
MAX_QUOTA = 100_000


def hash_key(key: str) -> str:
    """SHA-256 of the whole key: the key has 256 random bits, so a fast hash is enough (no password stretching)."""
    return hashlib.sha256(key.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key and its secret; the secret is never stored or shown again."""

    key: ApiKey
    secret: str


class KeyService:
    def __init__(self, db: Database, *, touch_interval: float = 60.0) -> None:
        self._db = db
        self._touch_interval = touch_interval
        self._touched: dict[str, float] = {}

    def create(self, name: str, scope: str, *, max_recordings: int | None = None,
               max_watchers: int | None = None) -> CreatedKey:
        if scope not in SCOPES:
            raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}", details={"scope": scope})
        if not _NAME.fullmatch(name):
            raise InvalidInput("name must be 1-100 letters, digits, spaces or . @ : / + - _", details={"name": name})
        for field, value in (("max_recordings", max_recordings), ("max_watchers", max_watchers)):
            if value is not None and not 0 <= value <= MAX_QUOTA:
                raise InvalidInput(f"{field} must be between 0 and {MAX_QUOTA}", details={field: value})
        prefix = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{prefix}_{secrets.token_hex(32)}"
        key = ApiKey(id=str(uuid.uuid4()), name=name, scope=scope, prefix=prefix, key_hash=hash_key(secret),
                     created_at=utcnow(), max_recordings=max_recordings, max_watchers=max_watchers)
        saved = self._db.run(lambda s: ApiKeyRepository(s).add(key))
        return CreatedKey(saved, secret)

    def list(self) -> list[ApiKey]:
        return self._db.run(lambda s: ApiKeyRepository(s).list())

    def get(self, key_id: str) -> ApiKey:
        found = self._db.run(lambda s: ApiKeyRepository(s).get(key_id))
        if found is None:
            raise NotFound("API key not found", details={"id": key_id})
        return found

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (by id, or by its prefix); every API process refuses it from the next request on."""
        def work(session: Session) -> ApiKey | None:
            repo = ApiKeyRepository(session)
            found = repo.get(key_id) or repo.by_prefix(key_id)
            return repo.revoke(found.id, utcnow()) if found is not None else None

        revoked = self._db.run(work)
        if revoked is None:
            raise NotFound("API key not found", details={"id": key_id})
        return revoked

    def verify(self, presented: str) -> ApiKey | None:
        """The key row `presented` proves (revoked or not), or None. One indexed lookup, no cache."""
        match = _KEY.fullmatch(presented)
        if match is None:
            return None
        found = self._db.run(lambda s: ApiKeyRepository(s).by_prefix(match.group(1)))
        if found is None or not hmac.compare_digest(found.key_hash, hash_key(presented)):
            return None
        return found

    def touch(self, key: ApiKey) -> None:
        """Record the use of `key`, at most once per `touch_interval` (per process, and in SQL for all of them)."""
        clock = time.monotonic()
        if clock - self._touched.get(key.id, -self._touch_interval) < self._touch_interval:
            return
        self._touched[key.id] = clock
        now = utcnow()
        since = now - timedelta(seconds=self._touch_interval)
        self._db.run(lambda s: ApiKeyRepository(s).touch(key.id, now, not_since=since))


def quota_of(key: ApiKey) -> KeyQuota:
    return KeyQuota(key_id=key.id, max_recordings=key.max_recordings, max_watchers=key.max_watchers)


def claim_recording(session: Session, quota: KeyQuota | None, recording_id: str) -> None:
    """In the creating transaction: refuse when the key holds its quota of active recordings, else own the row."""
    if quota is None:
        return
    repo = ApiKeyRepository(session)
    if quota.max_recordings is not None:
        active = repo.active_recordings(quota.key_id)
        if active >= quota.max_recordings:
            raise QuotaExceeded(
                f"this API key may hold {quota.max_recordings} active recordings at once; stop one first",
                details={"quota": "recordings", "limit": quota.max_recordings, "active": active},
            )
    repo.own_recording(recording_id, quota.key_id)


def claim_watcher(session: Session, quota: KeyQuota | None, watcher_id: str) -> None:
    """In the creating transaction: refuse when the key holds its quota of watchers, else own the row."""
    if quota is None:
        return
    repo = ApiKeyRepository(session)
    if quota.max_watchers is not None:
        count = repo.watchers(quota.key_id)
        if count >= quota.max_watchers:
            raise QuotaExceeded(
                f"this API key may hold {quota.max_watchers} watchers; delete one first",
                details={"quota": "watchers", "limit": quota.max_watchers, "active": count},
            )
    repo.own_watcher(watcher_id, quota.key_id)
