"""Managed API keys (admin scope): create one (shown once), list them, revoke one."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from livevault.api.deps import AdminScopeDep, ContainerDep
from livevault.api.schemas.common import ERROR_RESPONSES, ErrorBody
from livevault.api.schemas.keys import KeyCreate, KeyCreated, KeyList, KeyOut
from livevault.domain.keys import ApiKey

router = APIRouter(tags=["keys"], responses=ERROR_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such key"}}


def key_out(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "scope": key.scope, "prefix": key.prefix, "created_at": key.created_at,
            "last_used_at": key.last_used_at, "revoked_at": key.revoked_at, "max_recordings": key.max_recordings,
            "max_watchers": key.max_watchers}


@router.post("/keys", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyCreate, container: ContainerDep, _key: AdminScopeDep) -> KeyCreated:
    """Make a key with a scope and optional quotas. The key is in this answer only; only its hash is stored."""
    created = await asyncio.to_thread(container.keys.create, body.name, body.scope,
                                      max_recordings=body.max_recordings, max_watchers=body.max_watchers)
    return KeyCreated(**key_out(created.key), key=created.secret)


@router.get("/keys", response_model=KeyList)
async def list_keys(container: ContainerDep, _key: AdminScopeDep) -> KeyList:
    """Every managed key, revoked ones too (never the key itself). API_KEYS are not listed."""
    keys = await asyncio.to_thread(container.keys.list)
    return KeyList(items=[KeyOut(**key_out(k)) for k in keys], total=len(keys))


@router.delete("/keys/{key_id}", response_model=KeyOut, responses=NOT_FOUND)
async def revoke_key(key_id: str, container: ContainerDep, _key: AdminScopeDep) -> KeyOut:
    """Revoke a key (by id or prefix). Every API process refuses it from the next request on."""
    revoked = await asyncio.to_thread(container.keys.revoke, key_id)
    return KeyOut(**key_out(revoked))
