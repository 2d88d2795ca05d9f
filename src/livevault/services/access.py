"""Who is calling: an API key becomes a Principal with a scope; routes ask for the scope they need.

Scopes nest: `read` lists and downloads, `record` also starts, stops and manages watchers, `admin` also
deletes, pins and manages keys. Keys from `API_KEYS` are full-access (`admin`); keys made with
`livevault keys create` / `POST /keys` live in the database (`services.keys`) with their own scope and quotas.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from livevault.errors import Forbidden, Unauthorized
from livevault.services.keys import quota_of

if TYPE_CHECKING:
    from collections.abc import Iterable

    from livevault.domain.keys import KeyQuota
    from livevault.services.keys import KeyService


class Scope(StrEnum):
    READ = "read"
    RECORD = "record"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Scope) -> bool:
        return self.rank >= needed.rank


_RANK = {Scope.READ: 0, Scope.RECORD: 1, Scope.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `rate_key` is what rate limits and quotas count under (never the raw key)."""

    name: str
    scope: Scope
    rate_key: str
    key_id: str | None = None  # a database-managed key's id; None for API_KEYS
    quota: KeyQuota | None = None  # a managed key's quotas; None for API_KEYS (no quota)

    def require(self, needed: Scope) -> None:
        if not self.scope.allows(needed):
            raise Forbidden(
                f"this API key has the '{self.scope.value}' scope; this action needs '{needed.value}'",
                details={"scope": self.scope.value, "required": needed.value},
            )


class AccessService:
    """Turns an `X-API-Key` value into a Principal; raises Unauthorized / Forbidden."""

    def __init__(self, api_keys: Iterable[str], keys: KeyService | None = None) -> None:
        self._api_keys = sorted(k.encode() for k in api_keys if k)
        self._keys = keys

    def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise Unauthorized("X-API-Key header is required")
        raw = key.encode()
        for index, known in enumerate(self._api_keys):
            if hmac.compare_digest(raw, known):
                return Principal(name=f"API_KEYS[{index}]", scope=Scope.ADMIN, rate_key=key)
        keys = self._keys
        found = keys.verify(key) if keys is not None else None
        if keys is None or found is None:
            raise Forbidden("X-API-Key is not valid")
        if found.revoked:
            raise Forbidden("this API key was revoked")
        keys.touch(found)
        return Principal(name=found.name, scope=Scope(found.scope), rate_key=f"key:{found.id}", key_id=found.id,
                         quota=quota_of(found))
