"""The file index of finished recordings."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from livevault.api.deps import ApiKeyDep, ContainerDep
from livevault.api.schemas.common import ERROR_RESPONSES, MAX_PAGE
from livevault.api.schemas.files import FileList, FileOut

router = APIRouter(tags=["files"], responses=ERROR_RESPONSES)


@router.get("/files", response_model=FileList)
async def list_files(
    container: ContainerDep,
    _key: ApiKeyDep,
    room_id: str | None = None,
    url: str | None = None,
    from_: Annotated[datetime | None, Query(alias="from", description="completed at or after (ISO 8601)")] = None,
    to: Annotated[datetime | None, Query(description="completed before (ISO 8601)")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> FileList:
    """Finished recording files, newest first: `{name, size, mtime, path}` plus pagination; cached for 30 s."""
    result = await asyncio.to_thread(
        container.files.search, room_id=room_id, url=url, from_=from_, to=to, page=page, page_size=page_size
    )
    return FileList(
        items=[FileOut(**vars_of(item)) for item in result.items],
        page=page,
        page_size=page_size,
        total=result.total,
        pages=math.ceil(result.total / page_size) if result.total else 0,
    )


def vars_of(item: object) -> dict[str, object]:
    return {name: getattr(item, name) for name in item.__slots__}  # type: ignore[attr-defined]
