"""Watch a recording while it records: a live HLS playlist over its part files."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from livevault.api.deps import ContainerDep, SessionOrKeyDep
from livevault.api.schemas.common import ERROR_RESPONSES, ErrorBody

router = APIRouter(tags=["recordings"], responses=ERROR_RESPONSES)


@router.get(
    "/recordings/{recording_id}/live.m3u8", response_class=Response,
    responses={200: {"content": {"application/vnd.apple.mpegurl": {}}, "description": "An HLS media playlist"},
               404: {"model": ErrorBody,
                     "description": "No such recording, or nothing playable captured yet (while capturing)"}},
)
async def live_playlist(recording_id: str, container: ContainerDep, _key: SessionOrKeyDep) -> Response:
    """An HLS playlist (type EVENT) over what the recording has captured so far: it starts at the live edge,
    can be sought back to the start and ends with `#EXT-X-ENDLIST` as soon as capture ends. Segments are
    byte ranges of `/recordings/{id}/parts/{index}` (MPEG-TS and fragmented-MP4 parts; not FLV). Once the
    parts are finalized into the MP4, the playlist is ended and empty. Accepts `X-API-Key` or the web session
    cookie."""
    playlist = await asyncio.to_thread(container.live.playlist, recording_id)
    return Response(playlist.text, media_type="application/vnd.apple.mpegurl",
                    headers={"Cache-Control": "no-store"})
