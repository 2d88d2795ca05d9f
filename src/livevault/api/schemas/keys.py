"""Managed API keys: create (the key is in the answer once), list, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w .@:/+-]+$", examples=["grafana"],
                      description="Who or what holds the key")
    scope: Literal["read", "record", "admin"] = Field(
        description="read: list and download; record: also start/stop recordings and manage watchers; "
                    "admin: also delete, pin and manage keys")
    max_recordings: int | None = Field(None, ge=0, le=100_000,
                                       description="Active recordings this key may hold at once (none: no limit)")
    max_watchers: int | None = Field(None, ge=0, le=100_000,
                                     description="Watchers this key may hold (none: no limit)")


class KeyOut(BaseModel):
    id: str
    name: str
    scope: str
    prefix: str = Field(description="The public part of the key (`lvk_<prefix>_...`), for telling keys apart")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute (LIVEVAULT_KEY_TOUCH_INTERVAL)")
    revoked_at: datetime | None
    max_recordings: int | None
    max_watchers: int | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself. Shown only in this answer: store it now")


class KeyList(BaseModel):
    items: list[KeyOut]
    total: int
